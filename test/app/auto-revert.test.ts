import { afterEach, describe, expect, it } from 'vitest'
import { admin, startTestApp, testConfig } from '../helpers/app.js'
import { startColorUpstream } from '../helpers/color-upstream.js'

const opened: { close(): Promise<void> }[] = []
afterEach(async () => {
  for (const thing of opened.splice(0).reverse()) await thing.close()
})

async function setup(autoRevert: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  const blue = await startColorUpstream('blue')
  const green = await startColorUpstream('green')
  opened.push(blue, green)
  const app = await startTestApp(
    await testConfig([blue.url], [green.url], {
      split: { green: 50 },
      sticky: { keys: ['header:x-user-id'], cookie: '' },
      autoRevert: { enabled: true, window: '10s', maxErrorRate: 0.2, ...autoRevert },
      ...extra,
    }),
  )
  opened.push(app)
  return { app, blue, green }
}

async function traffic(app: { proxyUrl: string }, n: number, offset = 0): Promise<Record<string, number>> {
  return (await trafficUntil(app, () => false, n, offset)).seen
}

/**
 * Requests one after another until `stop()` holds (checked after each answer) or `max` were sent.
 * `onAnswer` sees each answer's colour and status; returns the colours seen and when the first
 * green 5xx came back (0 when none did).
 */
async function trafficUntil(
  app: { proxyUrl: string },
  stop: () => boolean,
  max: number,
  offset = 0,
  onAnswer: (color: string, status: number) => void = () => undefined,
): Promise<{ seen: Record<string, number>; firstGreenFailureAt: number }> {
  const seen: Record<string, number> = {}
  let firstGreenFailureAt = 0
  for (let i = 0; i < max && !stop(); i++) {
    const res = await fetch(app.proxyUrl, { headers: { 'x-user-id': `user-${offset + i}` } })
    await res.text()
    const color = res.headers.get('x-switchyard-color') ?? 'none'
    seen[color] = (seen[color] ?? 0) + 1
    if (color === 'green' && res.status >= 500 && firstGreenFailureAt === 0) firstGreenFailureAt = Date.now()
    onAnswer(color, res.status)
  }
  return { seen, firstGreenFailureAt }
}

async function waitFor(check: () => Promise<boolean> | boolean, ms: number): Promise<number> {
  const start = Date.now()
  while (Date.now() - start < ms) {
    if (await check()) return Date.now() - start
    await new Promise((r) => setTimeout(r, 20))
  }
  throw new Error(`condition not met within ${ms} ms`)
}

describe('auto-revert', () => {
  it('sends green to 0 within a second of a failing green, latches, logs, counts and records it', async () => {
    // Ejection after 3 errors in a row: fewer than any revert needs, so the target is out when it comes.
    const { app, green } = await setup({}, { outlierDetection: { consecutiveErrors: 3 } })
    green.status = 503
    const { seen, firstGreenFailureAt } = await trafficUntil(app, () => app.controller.state().greenBuckets === 0, 2_000)
    expect(app.controller.state().greenBuckets).toBe(0)
    expect(seen.green).toBeGreaterThanOrEqual(3)

    const split = (await admin(app, 'GET', '/v1/split')).body as { green: number; reverted: { at: string; reason: string; errorRate: number; requests: number } }
    expect(split.green).toBe(0)
    expect(Date.parse(split.reverted.at) - firstGreenFailureAt).toBeLessThan(1000)
    expect(split.reverted.errorRate).toBe(1)
    expect(split.reverted.requests).toBeGreaterThanOrEqual(3)
    expect(split.reverted.reason).toMatch(/^green is worse than blue: errors: green \d+ of \d+ \(100\.00%\), blue 0 of \d+|^green error rate 100\.00% .* is above the ceiling 20\.00%/)

    const events = (await admin(app, 'GET', '/v1/events')).body as { type: string; source: string }[]
    expect(events[0]).toMatchObject({ type: 'revert', source: 'auto-revert', to: { blue: 100, green: 0 } })
    expect((await admin(app, 'GET', '/metrics')).body).toMatch(/switchyard_reverts_total 1\b/)
    expect((await admin(app, 'GET', '/metrics')).body).toMatch(/switchyard_split_changes_total\{source="auto-revert"\} 1\b/)
    expect(app.logs.lines().some((l) => l.level === 40 && /auto-revert/.test(String(l.msg)))).toBe(true)

    // Latched: everyone is on blue, and it stays so while green recovers.
    green.status = 200
    expect(await traffic(app, 30, 1000)).toEqual({ blue: 30 })
    await new Promise((r) => setTimeout(r, 400))
    expect(app.controller.state().greenBuckets).toBe(0)

    // Green's target was ejected by its 5xx run: raising green needs force while it is out.
    const refused = await admin(app, 'PUT', '/v1/split', { green: 20 })
    expect(refused).toMatchObject({ status: 409, body: { code: 'SY_ERR_GREEN_UNHEALTHY' } })
    // An operator's split clears the latch.
    const put = await admin(app, 'PUT', '/v1/split', { green: 20, force: true })
    expect(put.body).toMatchObject({ green: 20, reverted: null })
  })

  it('does not count 4xx answers as errors', async () => {
    const { app, green } = await setup({})
    green.status = 404
    await traffic(app, 60)
    await new Promise((r) => setTimeout(r, 500))
    expect(app.controller.state()).toMatchObject({ greenBuckets: 5000, reverted: null })
  })

  it('a healthy green with two errors in its first 20 requests is not reverted', async () => {
    // The old defaults (minRequests 20, maxErrorRate 5 %) reverted this green: 2 of 20 is 10 %.
    const { app, green } = await setup({ maxErrorRate: 0.05 })
    green.status = 500
    // Green's first two answers fail, then it is fine. Keep sending for over a second (several
    // checks, 60 and more green requests): none reverts it.
    const started = Date.now()
    const { seen } = await trafficUntil(
      app,
      () => app.controller.state().greenBuckets !== 5000 || (Date.now() - started > 1_200 && green.hits >= 60),
      5_000,
      0,
      () => {
        if (green.hits === 2) green.status = 200
      },
    )
    expect(seen.green).toBeGreaterThanOrEqual(60)
    expect(app.controller.state()).toMatchObject({ greenBuckets: 5000, reverted: null })
  })

  it('autoRevert.minRequests no longer holds a revert back: evidence decides', async () => {
    const { app, green } = await setup({ minRequests: 1000 })
    green.status = 500
    const { seen } = await trafficUntil(app, () => app.controller.state().greenBuckets === 0, 2_000)
    expect(app.controller.state().greenBuckets).toBe(0)
    expect(seen.green).toBeLessThan(1000)
  })

  it('counts transport errors: a green that cannot be reached is reverted', async () => {
    const { app, green } = await setup({})
    await green.close()
    const { seen } = await trafficUntil(app, () => app.controller.state().greenBuckets === 0, 2_000)
    expect(seen.green).toBeGreaterThanOrEqual(1)
    await waitFor(() => app.controller.state().greenBuckets === 0, 1500)
    expect(app.controller.state().reverted).toMatchObject({ errorRate: 1 })
    expect((await admin(app, 'GET', '/metrics')).body).toMatch(/switchyard_upstream_errors_total\{color="green",kind="connect"\} [1-9]/)
  })

  it('stays off when disabled', async () => {
    const { app, green } = await setup({ enabled: false })
    green.status = 500
    await traffic(app, 60)
    await new Promise((r) => setTimeout(r, 500))
    expect(app.controller.state().greenBuckets).toBe(5000)
  })
})
