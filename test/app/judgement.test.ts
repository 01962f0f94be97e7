import { afterEach, describe, expect, it } from 'vitest'
import type { App } from '../../src/app.js'
import { admin, startTestApp, testConfig } from '../helpers/app.js'
import { startLoad, startPacedLoad, startTunableUpstream, type Load } from '../helpers/load.js'
import { eventually } from '../helpers/wait.js'
import { startWebhookReceiver } from '../helpers/webhook-receiver.js'

/*
 * The release judgement end to end (issue #10): real upstreams whose failures follow fixed
 * patterns, a real switchyard, real load. One test per row of the table. The numbers
 * asserted are the ones the judgement promises (how many green requests a revert costs, how
 * long it takes, that a healthy green is left alone); deadlines are generous for a loaded machine.
 */

const opened: { close(): Promise<void> }[] = []
afterEach(async () => {
  for (const thing of opened.splice(0).reverse()) await thing.close()
})

type Split = { green: number; reverted: { reason: string; errorRate: number; requests: number } | null }
type AuditEvent = { type: string; source: string; reason: string | null; to: { green: number } | null }
interface Reading {
  test: string
  route?: string
  state: string
  green: { requests: number; events: number; rate: number }
  blue: { requests: number; events: number; rate: number }
}
interface RolloutView {
  phase: string
  step: number
  green: number
  reason: string | null
  progressDeadlineMs: number
  analysis: {
    settings: Record<string, unknown> & { overrides?: Record<string, unknown> }
    greenThisStep: number
    last: { result: string; action: string; reasons: string[]; tests: Reading[] } | null
    evidence: { since: string; blue: { requests: number; errors: number }; green: { requests: number; errors: number } }
  }
}

async function setup(patch: Record<string, unknown> = {}) {
  const blue = await startTunableUpstream('blue')
  const green = await startTunableUpstream('green')
  opened.push(blue, green)
  const app = await startTestApp(await testConfig([blue.url], [green.url], { sticky: { keys: ['header:x-user-id'], cookie: '' }, ...patch }))
  opened.push(app)
  return { app, blue, green }
}

function track(load: Load): Load {
  opened.push({ close: async () => void (await load.stop()) })
  return load
}

const split = async (app: App) => (await admin(app, 'GET', '/v1/split')).body as Split
const events = async (app: App) => (await admin(app, 'GET', '/v1/events?limit=100')).body as AuditEvent[]
const rollout = async (app: App) => (await admin(app, 'GET', '/v1/rollout')).body as RolloutView

async function rolloutWhen(app: App, test: (r: RolloutView) => boolean, ms: number): Promise<RolloutView> {
  let last: RolloutView | undefined
  try {
    await eventually(async () => test((last = await rollout(app))), ms, 50)
  } catch {
    throw new Error(`the rollout did not get there within ${ms} ms: ${JSON.stringify(last)}`)
  }
  return last!
}

describe('auto-revert judges green against blue', () => {
  it('a healthy green with 1 % errors, like blue, is not reverted (split 10, ~200 req/s)', async () => {
    const { app, blue, green } = await setup({ split: { green: 10 } })
    blue.failEvery = 100
    green.failEvery = 100
    // Green's very first answer fails too: an early error must not look like a broken release.
    green.failNext = 1
    const load = track(startPacedLoad(app.proxyUrl, 200))
    await eventually(async () => green.hits >= 80 && blue.failures >= 5, 20_000)
    await load.stop()
    expect(green.failures).toBeGreaterThanOrEqual(1)
    expect(await split(app)).toMatchObject({ green: 10, reverted: null })
    expect((await events(app)).filter((e) => e.type === 'revert' || e.type === 'degradation')).toEqual([])
  })

  it('a green failing everything at 5 req/s (split 10) is reverted after at most 10 green requests', async () => {
    const { app, green } = await setup({ split: { green: 10 } })
    green.failEvery = 1
    // One request every 200 ms: green gets about one every two seconds.
    const load = track(startPacedLoad(app.proxyUrl, 5, 60_000, { users: 'paced' }))
    await eventually(async () => (await split(app)).green === 0, 30_000, 50)
    const greenRequests = green.hits
    await load.stop()
    expect(greenRequests).toBeGreaterThanOrEqual(1)
    expect(greenRequests).toBeLessThanOrEqual(10)
    expect(green.hits).toBe(greenRequests)
    const reverted = (await split(app)).reverted!
    expect(reverted.errorRate).toBe(1)
    expect(reverted.reason).toMatch(/^green is worse than blue: errors: green \d+ of \d+|^green error rate 100\.00% .* is above the ceiling 5\.00%/)
  })

  it('a green failing everything at ~100 req/s is reverted within about a second of its first failure', async () => {
    const { app, green } = await setup({ split: { green: 10 } })
    green.failEvery = 1
    track(startPacedLoad(app.proxyUrl, 100))
    await eventually(async () => green.firstFailureAt > 0, 10_000, 5)
    await eventually(async () => (await split(app)).green === 0, 10_000, 10)
    const tookMs = Date.now() - green.firstFailureAt
    // About 0.5 s on an idle machine (three green failures, then the next 200 ms check). The
    // bound that holds under load is in requests: green served fewer than 50 (5 s of its share)
    // before it was sent back. Wall time is only a sanity bound here: with the browser tests
    // beside it on two cores this took 5 s once; the timing figures come from npm run judge:sim.
    expect(green.hits).toBeLessThan(50)
    expect(tookMs).toBeLessThan(10_000)
    expect((await events(app))[0]).toMatchObject({ type: 'revert', source: 'auto-revert', to: { green: 0 } })
  })

  it('both colours at 10 % errors: green is not blamed; one degradation event (and webhook), the rollout pauses', async () => {
    const hooks = await startWebhookReceiver()
    opened.push(hooks)
    const { app, blue, green } = await setup({
      autoRevert: { window: '10s' },
      webhooks: [{ url: hooks.url, events: ['degradation', 'pause', 'revert'], retries: 0 }],
    })
    blue.failEvery = 10
    green.failEvery = 10
    expect((await admin(app, 'POST', '/v1/rollout', { steps: [{ green: 50, hold: '1m' }] })).status).toBe(201)
    track(startLoad(app.proxyUrl, 6))
    const paused = await rolloutWhen(app, (r) => r.phase === 'paused', 20_000)
    expect(paused.green).toBe(50)
    await eventually(async () => (await events(app)).some((e) => e.type === 'degradation'), 10_000)
    const pause = (await events(app)).find((e) => e.type === 'pause')!
    expect(pause.reason).toMatch(/^shared degradation: /)
    expect(pause.reason).toMatch(/and so is blue's/)
    await eventually(async () => hooks.requests.some((r) => r.json.event === 'degradation'), 5_000)
    // Green keeps serving while both fail: more of the same never turns into a revert.
    const served = green.hits
    await eventually(async () => green.hits >= served + 500, 20_000)
    expect(await split(app)).toMatchObject({ green: 50, reverted: null })
    const all = await events(app)
    expect(all.filter((e) => e.type === 'degradation')).toHaveLength(1)
    expect(all.find((e) => e.type === 'degradation')).toMatchObject({ source: 'auto-revert' })
    expect(all.filter((e) => e.type === 'revert')).toEqual([])
    expect(hooks.requests.filter((r) => r.json.event === 'degradation')).toHaveLength(1)
    expect(hooks.requests.filter((r) => r.json.event === 'revert')).toHaveLength(0)
  })

  it('one route failing on green only is reverted, and the reason names the route group', async () => {
    const { app, blue, green } = await setup({ split: { green: 10 }, rollout: { analysis: { routes: { depth: 2 } } } })
    // 3 % of requests go to /v1/broken, which fails on green only. Blue fails 3 % of everything,
    // so over all routes both colours err alike: only the route group can tell them apart.
    green.failPath = '/v1/broken'
    blue.failEvery = 33
    track(startLoad(app.proxyUrl, 6, 30_000, { path: (n) => (n % 33 === 0 ? '/v1/broken' : `/v1/ok?n=${n}`) }))
    await eventually(async () => (await split(app)).green === 0, 25_000, 50)
    const reverted = (await split(app)).reverted!
    expect(reverted.reason).toMatch(/^green is worse than blue: errors on \/v1\/broken: green \d+ of \d+ \(100\.00%\)/)
    expect(reverted.errorRate).toBe(1)
  })

  it('green requests that hang until clients give up (abandonAfter 200ms) are failures: reverted', async () => {
    const { app, green } = await setup({ split: { green: 10 }, rollout: { analysis: { abandonAfter: '200ms' } } })
    green.hang = true
    // Clients wait 300 ms for an answer, then leave.
    const load = track(startPacedLoad(app.proxyUrl, 50, 30_000, { timeoutMs: 300 }))
    await eventually(async () => (await split(app)).green === 0, 15_000, 20)
    const counts = await load.stop()
    expect(green.hits).toBeGreaterThanOrEqual(3)
    expect(green.hits).toBeLessThanOrEqual(20)
    // Every green request was given up on by its client; blue answered.
    expect(counts[0]).toBeGreaterThanOrEqual(3)
    expect(counts[200]).toBeGreaterThan(0)
    const reverted = (await split(app)).reverted!
    expect(reverted.errorRate).toBe(1)
    expect(reverted.reason).toMatch(/^green is worse than blue: errors: green \d+ of \d+ \(100\.00%\)|^green error rate 100\.00%/)
  })

  it('clients that leave sooner than abandonAfter (default 5s) are not counted against green', async () => {
    const { app, green } = await setup({ split: { green: 10 } })
    green.hang = true
    track(startPacedLoad(app.proxyUrl, 100, 30_000, { timeoutMs: 300 }))
    // Green hangs on every request, but its clients leave after 300 ms: no answer, no failure.
    await eventually(async () => green.hits >= 30, 15_000)
    await eventually(async () => ((await admin(app, 'GET', '/v1/status')).body as { window: { green: { requests: number } } }).window.green.requests >= 20, 5_000)
    const status = (await admin(app, 'GET', '/v1/status')).body as { window: { green: { requests: number; errors: number } } }
    expect(status.window.green.errors).toBe(0)
    expect(await split(app)).toMatchObject({ green: 10, reverted: null })
  })
  it('a reloaded abandonAfter applies at once: clients that give up on green then count as failures', async () => {
    const { app, blue, green } = await setup({ split: { green: 10 }, autoRevert: { enabled: false } })
    await app.reload(
      await testConfig([blue.url], [green.url], {
        sticky: { keys: ['header:x-user-id'], cookie: '' },
        split: { green: 10 },
        autoRevert: { enabled: false },
        rollout: { analysis: { abandonAfter: '200ms' } },
      }),
    )
    green.hang = true
    track(startPacedLoad(app.proxyUrl, 50, 30_000, { timeoutMs: 300 }))
    const errors = async () => ((await admin(app, 'GET', '/v1/status')).body as { window: { green: { errors: number } } }).window.green.errors
    await eventually(async () => (await errors()) >= 3, 10_000)
  })
})

describe('rollouts judge green against blue', () => {
  it('green with 3 % errors against blue 1 % is never promoted: the rollout ends aborted', async () => {
    const { app, blue, green } = await setup({ rollout: { analysis: { interval: '200ms' } } })
    blue.failEvery = 100
    green.failEvery = 33
    track(startLoad(app.proxyUrl, 6, 60_000))
    // Short holds; a step passes only after 4000 green requests, plenty to tell 3 % from 1 %.
    const started = await admin(app, 'POST', '/v1/rollout', {
      steps: [{ green: 50, hold: '1s' }, { green: 100, hold: '1s' }],
      analysis: { minRequests: 4000 },
    })
    expect(started.status).toBe(201)
    const done = await rolloutWhen(app, (r) => r.phase !== 'progressing', 45_000)
    expect(done).toMatchObject({ phase: 'aborted', step: 1, green: 0 })
    const all = await events(app)
    expect(all.filter((e) => e.type === 'promote' || e.type === 'succeeded')).toEqual([])
    expect(all.filter((e) => e.type === 'step').map((e) => e.to!.green)).toEqual([50])
    // Aborted by the rollout's check, or reverted by auto-revert on the same evidence.
    const end = all.find((e) => e.type === 'abort' || e.type === 'revert')!
    expect(end.reason).toMatch(/green is worse than blue.*errors: green \d+ of \d+ \([2-4]\.\d\d%\), blue \d+ of \d+ \([01]\.\d\d%\)/)
  })

  it('green 3x slower than blue (30 ms vs 10 ms) is aborted for slow answers', async () => {
    const { app, blue, green } = await setup({ autoRevert: { enabled: false }, rollout: { analysis: { interval: '200ms' } } })
    blue.delayMs = 10
    green.delayMs = 30
    track(startLoad(app.proxyUrl, 6))
    await admin(app, 'POST', '/v1/rollout', { steps: [{ green: 50, hold: '1m' }] })
    const aborted = await rolloutWhen(app, (r) => r.phase === 'aborted', 20_000)
    // Green's delay comes before its head, so both its answers and its first bytes are slow:
    // whichever test reaches its threshold first aborts (on a loaded machine either may).
    expect(aborted.reason).toMatch(/^green is worse than blue at step 1: .*slow (answers|first bytes) \(slow: blue over [\d.]+ ms, green over [\d.]+ ms\): green \d+ of \d+/)
    const slow = aborted.analysis.last!.tests.find((t) => (t.test === 'latency' || t.test === 'ttfb') && t.state === 'fail')!
    expect(slow).toBeDefined()
    // On a quiet machine nearly every green answer is over blue's line and few of blue's are; on
    // a loaded one blue's own answers stretch too and move the line up (half of blue's over it
    // was seen, against all of green's; and a clean-clone CI run saw only 21 % of green's over
    // it). What holds either way, and what the verdict rests on: green's share is above blue's.
    expect(slow.green.rate).toBeGreaterThan(slow.blue.rate)
  })

  it('both colours at the same latency (15 ms): a healthy rollout succeeds, no latency false alarm', async () => {
    const { app, blue, green } = await setup({ autoRevert: { enabled: false }, rollout: { analysis: { interval: '200ms' } } })
    blue.delayMs = 15
    green.delayMs = 15
    track(startLoad(app.proxyUrl, 8, 60_000))
    await admin(app, 'POST', '/v1/rollout', { steps: [{ green: 20, hold: '1500ms' }, { green: 50, hold: '1500ms' }] })
    // The latency test did judge: green's answers were weighed against blue's line.
    const judged = await rolloutWhen(app, (r) => r.phase !== 'progressing' || (r.step === 2 && (r.analysis.last?.tests.find((t) => t.test === 'latency')?.green.requests ?? 0) >= 100), 20_000)
    expect(judged.analysis.last?.tests.find((t) => t.test === 'latency')?.state).not.toBe('fail')
    const done = await rolloutWhen(app, (r) => r.phase !== 'progressing', 30_000)
    expect(done.phase).toBe('succeeded')
    expect(done.green).toBe(100)
    expect((await events(app)).filter((e) => e.type === 'abort' || e.type === 'pause')).toEqual([])
  })

  it('a step that cannot pass pauses at its progress deadline; promote-step and skip-analysis move it on', async () => {
    const { app } = await setup({ autoRevert: { enabled: false } })
    for (const [body, message] of [
      [{ analysis: { confidence: 2 } }, /analysis\.confidence must be between 0\.5 and 0\.9999/],
      [{ analysis: { minRequests: 0 } }, /analysis\.minRequests must be an integer between 1 and/],
      [{ analysis: { maxLatencyIncrease: { percent: -5 } } }, /analysis\.maxLatencyIncrease\.percent must be between 0 and 1000/],
      [{ analysis: { interval: 'often' } }, /analysis\.interval must be a duration/],
      // The deprecated keys belong to the config only: a new plan has no use for them.
      [{ analysis: { failureThreshold: 3 } }, /^body\.analysis has an unknown field "failureThreshold"$/],
      [{ progressDeadline: 'later' }, /^progressDeadline must be a duration/],
    ] as const) {
      const res = await admin(app, 'POST', '/v1/rollout', { steps: [{ green: 10, hold: '1s' }], ...body })
      expect(res.status, JSON.stringify(body)).toBe(400)
      expect((res.body as { message: string }).message, JSON.stringify(body)).toMatch(message)
    }
    expect((await admin(app, 'GET', '/v1/rollout')).status).toBe(404)

    // No traffic and a step that needs a million green requests: it can only wait.
    const started = await admin(app, 'POST', '/v1/rollout', {
      steps: [{ green: 10, hold: '200ms' }, { green: 20, hold: '1500ms' }],
      analysis: { interval: '100ms', minRequests: 1_000_000 },
      progressDeadline: '500ms',
    })
    expect(started.status).toBe(201)
    const view = await rollout(app)
    expect(view.progressDeadlineMs).toBe(500)
    expect(view.analysis.settings).toMatchObject({ interval: 100, minRequests: 1_000_000, confidence: 0.99, overrides: { interval: 100, minRequests: 1_000_000 } })
    const waiting = await rolloutWhen(app, (r) => r.analysis.last !== null, 5_000)
    expect(waiting.analysis.last).toMatchObject({ result: 'inconclusive', action: 'wait' })
    expect(waiting.analysis.last!.reasons.join(' ')).toMatch(/rollout\.analysis\.minRequests/)

    const paused = await rolloutWhen(app, (r) => r.phase === 'paused', 10_000)
    expect(paused).toMatchObject({ step: 1, green: 10 })
    const pause = (await events(app))[0]!
    expect(pause).toMatchObject({ type: 'pause', source: 'rollout' })
    expect(pause.reason).toMatch(/^step 1 stayed undecided .* past its hold \(rollout\.progressDeadline\)/)

    // An operator moves it on by hand: step 2, progressing again, in the audit log.
    const promoted = await admin(app, 'POST', '/v1/rollout/promote-step', { reason: 'checked by hand' })
    expect(promoted.status).toBe(200)
    expect(promoted.body).toMatchObject({ phase: 'progressing', step: 2, green: 20 })
    const step = (await events(app))[0]!
    expect(step).toMatchObject({ type: 'step', source: 'api', to: { green: 20 } })
    expect(step.reason).toMatch(/promote-step.*checked by hand/)

    // Step 2 would wait too; with its analysis skipped it passes on its hold, and green is promoted.
    const skipped = await admin(app, 'POST', '/v1/rollout/skip-analysis', { reason: 'too little traffic to judge' })
    expect(skipped.status).toBe(200)
    const done = await rolloutWhen(app, (r) => r.phase !== 'progressing', 5_000)
    expect(done).toMatchObject({ phase: 'succeeded', green: 100 })
    const all = await events(app)
    expect(all.find((e) => e.type === 'skip-analysis')).toMatchObject({ source: 'api', reason: 'too little traffic to judge' })
    expect(all.map((e) => e.type).slice(0, 4)).toEqual(['succeeded', 'promote', 'skip-analysis', 'step'])
    expect((await admin(app, 'POST', '/v1/rollout/promote-step')).status).toBe(409)
    expect((await admin(app, 'POST', '/v1/rollout/skip-analysis')).status).toBe(409)
  })
})
