/**
 * Releases of several services apart (issue #15): a rollout of one runs on while another's
 * failing green is reverted, and a token scoped to some services changes only those.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { admin, startTestApp } from '../helpers/app.js'
import { eventually } from '../helpers/wait.js'
import { colorsOf, configOf, send, servicesRaw, splitOf, startUpstreams, who } from './helpers.js'

const opened: { close(): Promise<void> }[] = []
afterEach(async () => {
  for (const thing of opened.splice(0).reverse()) await thing.close()
})

interface Event {
  type: string
  source: string
  to: { blue: number; green: number } | null
}

interface RolloutView {
  phase: string
  step: number
  green: number
}

describe('releases of several services', () => {
  it("a rollout on web keeps progressing while api's failing green is reverted", async () => {
    const u = await startUpstreams(['api', 'web'], opened)
    const fastAnalysis = { interval: '100ms', minRequests: 20, confidence: 0.99, maxErrorRate: 0.05, maxP99: '500ms' }
    const raw = await servicesRaw(
      u,
      {
        api: { split: { green: 50 }, autoRevert: { enabled: true, window: '10s', maxErrorRate: 0.2 } },
        web: { rollout: { analysis: fastAnalysis } },
      },
      { sticky: { keys: ['header:x-user-id'], cookie: '' } },
    )
    const app = await startTestApp(configOf(raw))
    opened.push(app)

    // A rollout of web whose first step holds far longer than this test.
    const started = await admin(app, 'POST', '/v1/services/web/rollout', { steps: [{ green: 20, hold: '10m' }, { green: 100, hold: '1s' }] })
    expect(started.status).toBe(201)
    expect(started.body).toMatchObject({ phase: 'progressing', step: 1, green: 20 })
    expect(await splitOf(app, 'web')).toMatchObject({ green: 20 })
    expect(await splitOf(app, 'api')).toMatchObject({ green: 50, reverted: null })

    // api's green fails; web's stays healthy, and both get traffic until api reverts.
    u.api!.green.status = 500
    const api = app.service('api')!
    const seen: Record<string, number> = {}
    let user = 0
    const deadline = Date.now() + 30_000
    while (api.state().greenBuckets !== 0) {
      if (Date.now() > deadline) throw new Error(`api was not reverted: ${JSON.stringify(await splitOf(app, 'api'))}, seen ${JSON.stringify(seen)}`)
      for (const [host, path] of [['api.example.test', '/'], ['other.test', '/web']] as const) {
        const res = await send(app, host, path, { 'x-user-id': `user-${user}` })
        const key = `${res.body}:${res.status}`
        seen[key] = (seen[key] ?? 0) + 1
      }
      user++
    }
    expect(seen['api-green:500']).toBeGreaterThanOrEqual(1)
    // Web still splits at its step (20 %): 60 users all on blue by chance is 1 in ~650,000.
    expect(Object.keys(await colorsOf(app, 'other.test', '/web', 60, 1000)).sort()).toEqual(['web-blue', 'web-green'])

    const apiSplit = await splitOf(app, 'api')
    expect(apiSplit).toMatchObject({ green: 0, blue: 100 })
    expect(apiSplit.reverted).not.toBeNull()
    expect(apiSplit.reverted!.reason).toMatch(/green/)
    expect(await colorsOf(app, 'api.example.test', '/', 20, 10_000)).toEqual({ 'api-blue': 20 })

    // Web: untouched, still at its first step, its users still split.
    const web = (await admin(app, 'GET', '/v1/services/web/rollout')).body as RolloutView
    expect(web).toMatchObject({ phase: 'progressing', step: 1, green: 20 })
    expect(await splitOf(app, 'web')).toMatchObject({ green: 20, blue: 80, reverted: null })
    const webColors = await colorsOf(app, 'other.test', '/web', 60, 20_000)
    expect(Object.keys(webColors).sort()).toEqual(['web-blue', 'web-green'])

    // The revert is api's event alone.
    const apiEvents = (await admin(app, 'GET', '/v1/services/api/events')).body as Event[]
    expect(apiEvents.find((e) => e.type === 'revert')).toMatchObject({ source: 'auto-revert', to: { blue: 100, green: 0 } })
    const webEvents = (await admin(app, 'GET', '/v1/services/web/events')).body as Event[]
    expect(webEvents.some((e) => e.type === 'revert')).toBe(false)
    expect(webEvents.some((e) => e.type === 'step' && e.to?.green === 20)).toBe(true)
    expect(apiEvents.some((e) => e.type === 'step')).toBe(false)

    // The listing agrees.
    const listed = (await admin(app, 'GET', '/v1/services')).body as { services: { name: string; phase: string; split: { green: number } }[] }
    expect(listed.services.find((s) => s.name === 'web')).toMatchObject({ phase: 'progressing', split: { green: 20 } })
    expect(listed.services.find((s) => s.name === 'api')).toMatchObject({ phase: 'idle', split: { green: 0 } })
    // Still progressing after more of web's analysis intervals.
    await eventually(async () => ((await admin(app, 'GET', '/v1/services/web/rollout')).body as RolloutView).phase === 'progressing', 2_000)
    expect(app.service('web')!.state().greenBuckets).toBe(2000)
  })

  it('a token scoped to api changes api alone and reads everything; a wrong token is refused', async () => {
    const u = await startUpstreams(['api', 'web'], opened)
    const full = 'the-full-admin-token-0123'
    const scoped = 'api-only-token-123456'
    const raw = await servicesRaw(u, { api: {}, web: {} }, { admin: { host: '127.0.0.1', port: 0, token: full, tokens: [{ token: scoped, services: ['api'] }] } })
    const app = await startTestApp(configOf(raw))
    opened.push(app)
    const as = (token: string) => ({ authorization: `Bearer ${token}` })

    // Changes to api: yes, and routing follows.
    expect(await admin(app, 'PUT', '/v1/services/api/split', { green: 100 }, as(scoped))).toMatchObject({ status: 200, body: { green: 100 } })
    expect(await who(app, 'api.example.test', '/')).toBe('api-green')
    expect(await admin(app, 'POST', '/v1/services/api/rollback', {}, as(scoped))).toMatchObject({ status: 200, body: { green: 0 } })

    // Changes to web, or to everything: 403, and nothing changed.
    const forbidden = [
      ['PUT', '/v1/services/web/split', { green: 100 }],
      ['POST', '/v1/services/web/promote', {}],
      ['POST', '/v1/services/web/rollout', { steps: [{ green: 10, hold: '1m' }] }],
      ['PUT', '/v1/services/web/upstreams/green', { targets: [u.api!.green.url] }],
      ['DELETE', '/v1/services/web', undefined],
      ['POST', '/v1/reload', undefined],
    ] as const
    for (const [method, path, body] of forbidden) {
      const res = await admin(app, method, path, body, as(scoped))
      expect(res.status, `${method} ${path}`).toBe(403)
      expect(res.body, `${method} ${path}`).toMatchObject({ code: 'SY_ERR_FORBIDDEN_SERVICE' })
    }
    const refused = (await admin(app, 'PUT', '/v1/services/web/split', { green: 100 }, as(scoped))).body as { message: string }
    expect(refused.message).toMatch(/"web"/)
    expect(refused.message).toMatch(/api/)
    expect(await splitOf(app, 'web').catch((err: Error) => err.message)).toMatch(/401/)
    expect((await admin(app, 'GET', '/v1/services/web/split', undefined, as(full))).body).toMatchObject({ green: 0, generation: 1 })
    expect(await admin(app, 'GET', '/v1/services/web/rollout', undefined, as(full))).toMatchObject({ status: 404, body: { code: 'SY_ERR_NO_ROLLOUT' } })
    expect(await who(app, 'other.test', '/web')).toBe('web-blue')

    // Reads: the listing, web's split, the status.
    const list = await admin(app, 'GET', '/v1/services', undefined, as(scoped))
    expect(list.status).toBe(200)
    expect((list.body as { services: { name: string }[] }).services.map((s) => s.name).sort()).toEqual(['api', 'web'])
    expect(await admin(app, 'GET', '/v1/services/web/split', undefined, as(scoped))).toMatchObject({ status: 200, body: { green: 0 } })
    expect((await admin(app, 'GET', '/v1/status', undefined, as(scoped))).status).toBe(200)

    // A wrong token, or none: 401 for reads and changes alike.
    for (const headers of [as('api-only-token-123457'), as(`${full}x`), {}]) {
      expect((await admin(app, 'GET', '/v1/services', undefined, headers)).status).toBe(401)
      expect((await admin(app, 'PUT', '/v1/services/api/split', { green: 50 }, headers)).status).toBe(401)
    }
    expect((await admin(app, 'GET', '/v1/services/api/split', undefined, as(full))).body).toMatchObject({ green: 0 })

    // admin.token changes every service.
    expect(await admin(app, 'PUT', '/v1/services/web/split', { green: 100 }, as(full))).toMatchObject({ status: 200, body: { green: 100 } })
    expect(await who(app, 'other.test', '/static/x')).toBe('web-green')
  })
})
