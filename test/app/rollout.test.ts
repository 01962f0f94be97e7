import { afterEach, describe, expect, it } from 'vitest'
import type { App } from '../../src/app.js'
import { admin, startTestApp, testConfig } from '../helpers/app.js'
import { startLoad, startTunableUpstream } from '../helpers/load.js'

const opened: { close(): Promise<void> }[] = []
afterEach(async () => {
  for (const thing of opened.splice(0).reverse()) await thing.close()
})

// maxP99: answers under 500 ms never count as slow, so loopback latency noise (1 ms vs 3 ms on a
// busy machine) stays out of these tests; the latency test sets it to 0 to judge latency itself.
const fastAnalysis = { interval: '100ms', minRequests: 20, confidence: 0.99, maxErrorRate: 0.05, maxP99: '500ms' }

async function setup(rollout: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) {
  const blue = await startTunableUpstream('blue')
  const green = await startTunableUpstream('green')
  opened.push(blue, green)
  const config = await testConfig([blue.url], [green.url], {
    sticky: { keys: ['header:x-user-id'], cookie: '' },
    autoRevert: { enabled: false },
    rollout: { analysis: fastAnalysis, ...rollout },
    ...extra,
  })
  const app = await startTestApp(config)
  opened.push(app)
  return { app, blue, green, config }
}

interface RolloutView {
  phase: string
  step: number
  green: number
  holdLeftMs: number
  reason: string | null
  analysis: {
    checks: number
    failedChecks: number
    greenThisStep: number
    last: { at: string; result: string; action: string; reasons: string[] } | null
    evidence: { since: string; blue: { requests: number; errors: number }; green: { requests: number; errors: number } }
  }
}

async function rollout(app: App): Promise<RolloutView> {
  return (await admin(app, 'GET', '/v1/rollout')).body as RolloutView
}

async function until(app: App, test: (r: RolloutView) => boolean, ms: number): Promise<RolloutView> {
  const start = Date.now()
  while (Date.now() - start < ms) {
    const r = await rollout(app)
    if (test(r)) return r
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error(`rollout did not get there within ${ms} ms: ${JSON.stringify(await rollout(app))}`)
}

function withLoad(app: App): { stop(): Promise<Record<number, number>> } {
  const load = startLoad(app.proxyUrl, 6)
  opened.push({ close: async () => void (await load.stop()) })
  return load
}

describe('rollouts', () => {
  it('a healthy green walks 5 -> 25 -> 50 -> 100 with one event per step, then succeeds', async () => {
    const { app } = await setup()
    withLoad(app)
    const started = await admin(app, 'POST', '/v1/rollout', {
      steps: [{ green: 5, hold: '200ms' }, { green: 25, hold: 200 }, { green: 50, hold: '200ms' }, { green: 100, hold: '200ms' }],
    })
    expect(started.status).toBe(201)
    expect(started.body).toMatchObject({ phase: 'progressing', step: 1, green: 5 })
    const done = await until(app, (r) => r.phase === 'succeeded', 15_000)
    expect(done.green).toBe(100)
    const events = ((await admin(app, 'GET', '/v1/events')).body as { type: string; to: { green: number } | null; source: string }[]).reverse()
    const steps = events.filter((e) => e.type === 'step').map((e) => e.to!.green)
    expect(steps).toEqual([5, 25, 50, 100])
    expect(events.filter((e) => e.type === 'promote')).toHaveLength(1)
    expect(events.at(-1)).toMatchObject({ type: 'succeeded', source: 'rollout' })
    expect(done.analysis.last?.result).toBe('pass')
  })

  it('aborts a green with 3% errors against blue 0.1% at its first failing verdict', async () => {
    // The ceiling is out of the way: the comparison with blue decides.
    const { app, blue, green } = await setup({ analysis: { ...fastAnalysis, maxErrorRate: 0.5 } })
    blue.failEvery = 1000
    green.failEvery = 33
    withLoad(app)
    await admin(app, 'POST', '/v1/rollout', { steps: [{ green: 50, hold: '30s' }, { green: 100, hold: '1s' }] })
    const aborted = await until(app, (r) => r.phase === 'aborted', 20_000)
    expect(aborted.step).toBe(1)
    expect(aborted.green).toBe(0)
    // One failing verdict is enough: the evidence is anytime-valid, no run of failures is needed.
    expect(aborted.analysis.failedChecks).toBe(1)
    expect(aborted.analysis.last).toMatchObject({ result: 'fail', action: 'fail' })
    expect(aborted.analysis.last?.reasons.join(' ')).toMatch(/^errors: green \d+ of \d+ \([2-4]\.\d\d%\), blue \d+ of \d+ \(0\.\d\d%\)/)
    expect(aborted.reason).toMatch(/^green is worse than blue at step 1: errors: /)
    const events = (await admin(app, 'GET', '/v1/events')).body as { type: string; source: string; reason: string }[]
    expect(events[0]).toMatchObject({ type: 'abort', source: 'rollout' })
    expect(events[0]!.reason).toMatch(/^rollout aborted: green is worse than blue at step 1: errors: /)
    expect((await admin(app, 'GET', '/v1/split')).body).toMatchObject({ green: 0 })
  })

  it('holds as inconclusive when green gets too little traffic, and does not pass', async () => {
    const { app } = await setup({ analysis: { ...fastAnalysis, minRequests: 1000 } })
    await admin(app, 'POST', '/v1/rollout', { steps: [{ green: 10, hold: '100ms' }, { green: 100, hold: '100ms' }] })
    // The start draws a new random group of users for green (sticky.reshuffle: perRelease): with
    // 50 users none landed on green 0.9^50 ≈ 0.5 % of the time; with 150, 1 in 7 million.
    for (let i = 0; i < 150; i++) await (await fetch(app.proxyUrl, { headers: { 'x-user-id': `few-${i}` } })).text()
    const first = await until(app, (r) => r.analysis.last !== null, 2_000)
    // Several verdicts later (100 ms apart), long past the 100 ms hold, it still waits.
    const r = await until(app, (v) => Date.parse(v.analysis.last?.at ?? '') >= Date.parse(first.analysis.last!.at) + 500, 5_000)
    expect(r).toMatchObject({ phase: 'progressing', step: 1, green: 10 })
    expect(r.analysis.last).toMatchObject({ result: 'inconclusive', action: 'wait' })
    expect(r.analysis.last?.reasons.join(' ')).toMatch(/green served \d+ of the 1000 requests a step needs before it can pass \(rollout\.analysis\.minRequests\)/)
    expect(r.analysis.greenThisStep).toBeGreaterThan(0)
    expect(r.analysis.greenThisStep).toBeLessThan(150)
  })

  // Regression (src/control/rollout.ts): a verdict that does not change is not stored, and the
  // stored count is what the next check adds one to, so `checks` froze at the last change.
  it('analysis.checks counts every check, also while the verdict stays the same', async () => {
    const { app } = await setup({ analysis: { ...fastAnalysis, minRequests: 1000 } })
    await admin(app, 'POST', '/v1/rollout', { steps: [{ green: 10, hold: '100ms' }, { green: 100, hold: '100ms' }] })
    const first = await until(app, (r) => r.analysis.last !== null, 2_000)
    await until(app, (v) => Date.parse(v.analysis.last?.at ?? '') >= Date.parse(first.analysis.last!.at) + 500, 5_000)
    const r = await rollout(app)
    expect(r.analysis.last).toMatchObject({ action: 'wait' })
    // Checks run every 100 ms: at least five in the 500 ms since the first.
    expect(r.analysis.checks).toBeGreaterThanOrEqual(first.analysis.checks + 4)
  })

  it('aborts a green whose latency is 3x blue', async () => {
    const { app, blue, green } = await setup({ analysis: { ...fastAnalysis, maxP99: 0 } })
    blue.delayMs = 10
    green.delayMs = 30
    withLoad(app)
    await admin(app, 'POST', '/v1/rollout', { steps: [{ green: 50, hold: '30s' }] })
    const aborted = await until(app, (r) => r.phase === 'aborted', 15_000)
    expect(aborted.analysis.last?.reasons.join(' ')).toMatch(/^slow answers \(slow: blue over [\d.]+ ms, green over [\d.]+ ms\): green \d+ of \d+/)
  })

  it('a healthy rollout judged every 100 ms with both colours at 2 % errors succeeds', async () => {
    const { app, blue, green } = await setup()
    // The same error rate on both: however often it looks, the judgement does not blame green.
    blue.failEvery = 50
    green.failEvery = 50
    withLoad(app)
    await admin(app, 'POST', '/v1/rollout', { steps: [{ green: 50, hold: '1s' }, { green: 100, hold: '200ms' }] })
    const done = await until(app, (r) => r.phase !== 'progressing', 15_000)
    expect(done.phase).toBe('succeeded')
    expect(green.failures).toBeGreaterThanOrEqual(5)
    expect(done.analysis.failedChecks).toBe(0)
  })

  it('a manual split change pauses the rollout and says so; resume and abort work', async () => {
    const { app } = await setup()
    await admin(app, 'POST', '/v1/rollout', { steps: [{ green: 10, hold: '1m' }, { green: 100, hold: '1m' }] })
    expect((await admin(app, 'POST', '/v1/rollout', { stepWeight: 10 })).status).toBe(409)
    await admin(app, 'PUT', '/v1/split', { green: 20 })
    const paused = await until(app, (r) => r.phase === 'paused', 2000)
    expect(paused.green).toBe(20)
    const events = (await admin(app, 'GET', '/v1/events')).body as { type: string; reason: string }[]
    expect(events[0]).toMatchObject({ type: 'pause', reason: 'a manual split change paused the rollout' })
    expect((await admin(app, 'POST', '/v1/rollout/pause')).status).toBe(409)
    expect((await admin(app, 'POST', '/v1/rollout/resume')).body).toMatchObject({ phase: 'progressing' })
    const aborted = await admin(app, 'POST', '/v1/rollout/abort', { reason: 'changed my mind' })
    expect(aborted.body).toMatchObject({ phase: 'aborted', green: 0 })
    expect((await admin(app, 'POST', '/v1/rollout/abort')).status).toBe(409)
  })

  it('a stepWeight plan uses the defaults and validates', async () => {
    const { app } = await setup({ stepWeight: 20, interval: '1m' })
    const bad: [unknown, RegExp][] = [
      [{ steps: [] }, /at least one step/],
      [{ steps: [{ green: 50, hold: '1s' }, { green: 40, hold: '1s' }] }, /steps\[1\]\.green must be above the step before it/],
      [{ steps: [{ green: 0, hold: '1s' }] }, /steps\[0\]\.green must be above 0/],
      [{ steps: [{ green: 10, hold: 'soon' }] }, /steps\[0\]\.hold must be a duration/],
      [{ steps: [{ green: 10, hold: '1s' }], stepWeight: 5 }, /either "steps" or/],
      [{ stepWeight: 60, maxWeight: 50 }, /stepWeight must not exceed maxWeight/],
      [{ stepwight: 5 }, /unknown field "stepwight"/],
    ]
    for (const [body, message] of bad) {
      const res = await admin(app, 'POST', '/v1/rollout', body)
      expect(res.status, JSON.stringify(body)).toBe(400)
      expect((res.body as { message: string }).message).toMatch(message)
    }
    expect((await admin(app, 'GET', '/v1/rollout')).status).toBe(404)
    const res = await admin(app, 'POST', '/v1/rollout')
    expect(res.status).toBe(201)
    expect(res.body).toMatchObject({ green: 20, steps: [20, 40, 60, 80, 100].map((green) => ({ green, holdMs: 60_000 })) })
  })

  it('continues at the same step after a restart, with the hold restarted', async () => {
    const { app, config } = await setup()
    await admin(app, 'POST', '/v1/rollout', { steps: [{ green: 10, hold: '200ms' }, { green: 30, hold: '1m' }, { green: 100, hold: '1m' }] })
    const load = withLoad(app)
    await until(app, (r) => r.step === 2, 10_000)
    await load.stop()
    await app.close()
    const again = await startTestApp(config)
    opened.push(again)
    const r = await rollout(again)
    expect(r).toMatchObject({ phase: 'progressing', step: 2, green: 30 })
    expect(r.holdLeftMs).toBeGreaterThan(55_000)
    expect(again.logs.text()).toContain('rollout continues after restart')
  })
})

describe('rollout gates and notifications', () => {
  it('a green failing its health checks blocks a rollout with 409 unless forced', async () => {
    const { startColorUpstream } = await import('../helpers/color-upstream.js')
    const blue = await startColorUpstream('blue')
    const green = await startColorUpstream('green')
    opened.push(blue, green)
    green.status = 503
    const app = await startTestApp(
      await testConfig([blue.url], [green.url], {
        healthCheck: { path: '/health', interval: '100ms', timeout: '500ms', healthyThreshold: 1, unhealthyThreshold: 1 },
      }),
    )
    opened.push(app)
    const health = async () => ((await admin(app, 'GET', '/v1/upstreams')).body as { green: { targets: { healthy: boolean }[] } }).green.targets[0]!.healthy
    const start = Date.now()
    while ((await health()) && Date.now() - start < 3000) await new Promise((r) => setTimeout(r, 50))
    const refused = await admin(app, 'POST', '/v1/rollout', { stepWeight: 10 })
    expect(refused.status).toBe(409)
    expect((refused.body as { message: string }).message).toMatch(/green has no healthy target/)
    expect((await admin(app, 'PUT', '/v1/split', { green: 10 })).status).toBe(409)
    expect((await admin(app, 'GET', '/v1/split')).body).toMatchObject({ green: 0 })
    // Rolling back is always allowed.
    expect((await admin(app, 'POST', '/v1/rollback')).status).toBe(200)
    green.status = 200
    while (!(await health()) && Date.now() - start < 6000) await new Promise((r) => setTimeout(r, 50))
    expect((await admin(app, 'POST', '/v1/rollout', { stepWeight: 10 })).status).toBe(201)
  })

  it("a rollout's next step passes the release's health gate: it waits while green has no healthy target, then moves", async () => {
    const { startColorUpstream } = await import('../helpers/color-upstream.js')
    const blue = await startColorUpstream('blue')
    const green = await startColorUpstream('green')
    opened.push(blue, green)
    const app = await startTestApp(
      await testConfig([blue.url], [green.url], {
        autoRevert: { enabled: false },
        rollout: { analysis: fastAnalysis },
        healthCheck: { path: '/health', interval: '100ms', timeout: '500ms', healthyThreshold: 1, unhealthyThreshold: 1 },
      }),
    )
    opened.push(app)
    const healthy = async () => ((await admin(app, 'GET', '/v1/upstreams')).body as { green: { targets: { healthy: boolean }[] } }).green.targets[0]!.healthy
    const waitHealth = async (want: boolean) => {
      const start = Date.now()
      while ((await healthy()) !== want) {
        if (Date.now() - start > 5_000) throw new Error(`green never became ${want ? 'healthy' : 'unhealthy'}`)
        await new Promise((r) => setTimeout(r, 50))
      }
    }
    await waitHealth(true)
    expect((await admin(app, 'POST', '/v1/rollout', { steps: [{ green: 10, hold: '100ms' }, { green: 50, hold: '1m' }] })).status).toBe(201)
    green.status = 503
    await waitHealth(false)
    // No traffic: the operator lets the step pass on its hold alone, so only the gate holds it.
    expect((await admin(app, 'POST', '/v1/rollout/skip-analysis')).status).toBe(200)
    const held = await until(app, (r) => (r.analysis.last?.reasons ?? []).some((x) => /the next step waits: green has no healthy target/.test(x)), 5_000)
    expect(held).toMatchObject({ phase: 'progressing', step: 1, green: 10 })
    expect((await admin(app, 'GET', '/v1/split')).body).toMatchObject({ green: 10 })
    green.status = 200
    const moved = await until(app, (r) => r.step === 2, 5_000)
    expect(moved).toMatchObject({ phase: 'progressing', green: 50 })
  })

  it('a webhook receiver gets signed events for each step and the abort', async () => {
    const { startWebhookReceiver } = await import('../helpers/webhook-receiver.js')
    const { sign } = await import('../../src/control/webhooks.js')
    const receiver = await startWebhookReceiver()
    opened.push(receiver)
    const { app } = await setup({}, { webhooks: [{ url: `${receiver.url}/hook`, secret: 'hook-secret', events: ['step', 'abort'] }] })
    await admin(app, 'POST', '/v1/rollout', { steps: [{ green: 10, hold: '1m' }] })
    await admin(app, 'POST', '/v1/rollout/abort', { reason: 'test over' })
    const start = Date.now()
    while (receiver.requests.length < 2 && Date.now() - start < 5000) await new Promise((r) => setTimeout(r, 20))
    expect(receiver.requests.map((r) => r.json.event)).toEqual(['step', 'abort'])
    for (const req of receiver.requests) {
      const timestamp = String(req.headers['x-switchyard-timestamp'])
      expect(req.headers['x-switchyard-signature']).toBe(`sha256=${sign('hook-secret', timestamp, req.body)}`)
    }
    expect(receiver.requests[0]!.json).toMatchObject({ type: 'step', source: 'api', split: { green: 10 }, rollout: { phase: 'progressing' } })
    expect(receiver.requests[1]!.json).toMatchObject({ type: 'abort', split: { green: 0 }, reason: 'rollout aborted: test over' })
    expect(await (await fetch(`${app.adminUrl}/metrics`)).text()).toMatch(/switchyard_webhook_deliveries_total\{result="delivered",event="abort"\} 1/)
  })
})

describe('promotion and new targets', () => {
  it('swapOnPromote: after 100 % blue takes the new release and green goes idle', async () => {
    const { app, blue, green } = await setup({ swapOnPromote: true })
    withLoad(app)
    await admin(app, 'POST', '/v1/rollout', { steps: [{ green: 50, hold: '200ms' }] })
    await until(app, (r) => r.phase === 'succeeded', 10_000)
    const start = Date.now()
    while ((app.targets().blue[0] !== green.url || app.targets().green[0] !== blue.url) && Date.now() - start < 3000) await new Promise((r) => setTimeout(r, 20))
    expect(app.targets()).toEqual({ blue: [green.url], green: [blue.url] })
    expect((await admin(app, 'GET', '/v1/split')).body).toMatchObject({ green: 0 })
    // Everyone now gets the new release, through blue.
    const answers = new Set<string>()
    for (let i = 0; i < 20; i++) answers.add(await (await fetch(app.proxyUrl, { headers: { 'x-user-id': `after-${i}` } })).text())
    expect(answers).toEqual(new Set(['green']))
  })

  it('new green targets during a rollout restart its analysis and hold', async () => {
    const { app } = await setup()
    const spare = await startTunableUpstream('spare')
    opened.push(spare)
    withLoad(app)
    await admin(app, 'POST', '/v1/rollout', { steps: [{ green: 20, hold: '3s' }, { green: 100, hold: '3s' }] })
    const before = await until(app, (r) => r.step === 1 && r.analysis.evidence.green.requests >= 20 && r.holdLeftMs < 1500, 5000)
    const putAt = Date.now()
    await admin(app, 'PUT', '/v1/upstreams/green', { targets: [spare.url] })
    const r = await rollout(app)
    expect(r.step).toBe(1)
    expect(r.holdLeftMs).toBeGreaterThan(2000)
    // A new body of evidence: the old green's requests no longer count for the new one.
    expect(Date.parse(r.analysis.evidence.since)).toBeGreaterThanOrEqual(putAt)
    expect(r.analysis.evidence.green.requests).toBeLessThan(before.analysis.evidence.green.requests)
  })
})
