import { afterEach, describe, expect, it } from 'vitest'
import { admin, startTestApp, testConfig } from '../helpers/app.js'
import { startColorUpstream } from '../helpers/color-upstream.js'

const opened: { close(): Promise<void> }[] = []
afterEach(async () => {
  for (const thing of opened.splice(0).reverse()) await thing.close()
})

async function setup(autoRevert: Record<string, unknown>) {
  const blue = await startColorUpstream('blue')
  const green = await startColorUpstream('green')
  opened.push(blue, green)
  const app = await startTestApp(
    await testConfig([blue.url], [green.url], {
      split: { green: 50 },
      sticky: { keys: ['header:x-user-id'], cookie: '' },
      autoRevert: { enabled: true, window: '10s', minRequests: 10, maxErrorRate: 0.2, ...autoRevert },
    }),
  )
  opened.push(app)
  return { app, blue, green }
}

async function traffic(app: { proxyUrl: string }, n: number, offset = 0): Promise<Record<string, number>> {
  const seen: Record<string, number> = {}
  for (let i = 0; i < n; i++) {
    const res = await fetch(app.proxyUrl, { headers: { 'x-user-id': `user-${offset + i}` } })
    await res.text()
    const color = res.headers.get('x-switchyard-color') ?? 'none'
    seen[color] = (seen[color] ?? 0) + 1
  }
  return seen
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
    const { app, green } = await setup({})
    green.status = 503
    const seen = await traffic(app, 60)
    expect(seen.green).toBeGreaterThanOrEqual(10)
    const breachAt = Date.now()
    const tookMs = await waitFor(() => app.controller.state().greenBuckets === 0, 1500)
    expect(Date.now() - breachAt).toBeLessThan(1000 + 50)
    expect(tookMs).toBeLessThan(1000)

    const split = (await admin(app, 'GET', '/v1/split')).body as { green: number; reverted: { at: string; reason: string; errorRate: number; requests: number } }
    expect(split.green).toBe(0)
    expect(split.reverted.errorRate).toBeGreaterThan(0.2)
    expect(split.reverted.requests).toBeGreaterThanOrEqual(10)
    expect(split.reverted.reason).toMatch(/green error rate .* above autoRevert\.maxErrorRate 20\.0%/)
    expect(Number.isNaN(Date.parse(split.reverted.at))).toBe(false)

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

  it('decides nothing on fewer than minRequests green requests', async () => {
    const { app, green } = await setup({ minRequests: 1000 })
    green.status = 500
    await traffic(app, 60)
    await new Promise((r) => setTimeout(r, 500))
    expect(app.controller.state().greenBuckets).toBe(5000)
  })

  it('counts transport errors: a green that cannot be reached is reverted', async () => {
    const { app, green } = await setup({})
    await green.close()
    const seen = await traffic(app, 60)
    expect(seen.green).toBeGreaterThanOrEqual(10)
    await waitFor(() => app.controller.state().greenBuckets === 0, 1500)
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
