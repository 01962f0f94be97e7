/**
 * Several services in a switchyard with proxy workers, end to end through the app: each
 * service's split routes in every worker, auto-revert judges a service on what the workers
 * counted for it alone, and /metrics sums the workers' per-service series.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { admin, startTestApp } from '../helpers/app.js'
import { eventually } from '../helpers/wait.js'
import { colorsOf, configOf, send, servicesRaw, setGreen, splitOf, startUpstreams } from './helpers.js'

const opened: { close(): Promise<void> }[] = []
afterAll(async () => {
  for (const closing of opened.splice(0).reverse()) await closing.close()
})

describe('several services with workers: 2', () => {
  it('routes, reverts and counts each service on its own across the workers', { timeout: 90_000 }, async () => {
    const u = await startUpstreams(['api', 'web'], opened)
    const revertFast = { autoRevert: { enabled: true, window: '10s', maxErrorRate: 0.2 } }
    const raw = await servicesRaw(u, { api: revertFast, web: {} }, { workers: 2 })
    const app = await startTestApp(configOf(raw))
    opened.push(app)

    // Each service's split routes in every worker (fresh connections land on both).
    await setGreen(app, 'web', 100)
    expect(await colorsOf(app, 'other.test', '/web', 20)).toEqual({ 'web-green': 20 })
    expect(await colorsOf(app, 'api.example.test', '/', 20)).toEqual({ 'api-blue': 20 })

    // api's green fails: api alone reverts, on counts the workers reported for api.
    u.api!.green.status = 500
    await setGreen(app, 'api', 100)
    await eventually(async () => {
      for (let i = 0; i < 10; i++) await send(app, 'api.example.test', '/')
      return (await splitOf(app, 'api')).green === 0
    }, 30_000)
    expect((await splitOf(app, 'api')).reverted).not.toBeNull()
    expect(await splitOf(app, 'web')).toMatchObject({ green: 100, reverted: null })
    const webEvents = (await admin(app, 'GET', '/v1/services/web/events')).body as { type: string }[]
    expect(webEvents.some((e) => e.type === 'revert')).toBe(false)

    // /metrics: the workers' series, summed, per service.
    const text = String((await admin(app, 'GET', '/metrics')).body)
    const count = (labels: string) => Number(new RegExp(`^switchyard_requests_total\\{${labels}\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0)
    expect(count('service="web",color="green",code="200"')).toBe(20)
    // However many it took to revert (the evidence decides), each is counted under api alone.
    expect(count('service="api",color="green",code="500"')).toBeGreaterThan(0)
    expect(count('service="web",color="green",code="500"')).toBe(0)
    expect(text).toMatch(/^switchyard_split_percent\{service="api",color="green"\} 0$/m)
    expect(text).toMatch(/^switchyard_reverts_total\{service="api"\} 1$/m)
  })
})
