/**
 * Several services on one proxy port (issue #15): which service a request reaches (host, then
 * the longest path prefix, then the default), each service's own split and stickiness, and
 * their metrics apart. Real upstreams that answer `<service>-<colour>`, a real switchyard.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { admin, startTestApp } from '../helpers/app.js'
import { parseResponses, rawConnect } from '../helpers/raw-http.js'
import { eventually } from '../helpers/wait.js'
import { colorsOf, configOf, send, servicesRaw, setGreen, splitOf, startUpstreams, who } from './helpers.js'

const opened: { close(): Promise<void> }[] = []
afterEach(async () => {
  for (const thing of opened.splice(0).reverse()) await thing.close()
})

async function start(raw: Record<string, unknown>) {
  const app = await startTestApp(configOf(raw))
  opened.push(app)
  return app
}

/** One request written byte for byte (an absolute-form target), its one response parsed. */
async function rawGet(port: number, requestLine: string, host: string): Promise<{ status: number; body: string }> {
  const conn = await rawConnect(port, `${requestLine}\r\nHost: ${host}\r\nx-user-id: u-1\r\nConnection: close\r\n\r\n`)
  opened.push({ close: async () => void conn.socket.destroy() })
  await conn.closed
  const [res] = parseResponses(conn.text())
  if (res === undefined) throw new Error(`no response to ${requestLine}`)
  return { status: res.status, body: res.body }
}

describe('several services behind one switchyard', () => {
  it('routes by exact host, wildcard host, longest path prefix by whole segments, any host, the default, absolute-form targets, else 404', async () => {
    const u = await startUpstreams(['api', 'v2', 'models', 'web'], opened)
    const sections = { api: {}, v2: {}, models: {}, web: {} }
    const app = await start(await servicesRaw(u, sections, { proxy: { defaultService: 'api' } }))

    const cases: [host: string, path: string, expected: string][] = [
      // Exact host; case and port do not matter.
      ['api.example.test', '/', 'api-blue'],
      ['API.Example.Test:8080', '/users/1', 'api-blue'],
      // The longest prefix on that host, by whole segments.
      ['api.example.test', '/v2', 'v2-blue'],
      ['api.example.test', '/v2/', 'v2-blue'],
      ['api.example.test', '/v2/x/y?q=1', 'v2-blue'],
      ['api.example.test', '/v2?q=1', 'v2-blue'],
      ['api.example.test', '/v2x', 'api-blue'],
      ['api.example.test', '/v', 'api-blue'],
      // The exact host's "/" wins over a path prefix on any host.
      ['api.example.test', '/static/app.css', 'api-blue'],
      // Wildcard hosts: one label or several; not the bare suffix.
      ['a.models.test', '/v1/chat', 'models-blue'],
      ['x.y.models.test', '/v1', 'models-blue'],
      ['A.MODELS.TEST', '/v1/x', 'models-blue'],
      ['models.test', '/v1', 'api-blue'],
      // A wildcard host without a matching prefix falls through to the services of any host...
      ['a.models.test', '/static/app.css', 'web-blue'],
      ['a.models.test', '/v1x', 'api-blue'],
      // ...path prefixes on any host...
      ['other.test', '/web', 'web-blue'],
      ['other.test', '/static/img/a.png', 'web-blue'],
      ['other.test', '/staticx', 'api-blue'],
      // ...and the default service for what nothing matches.
      ['other.test', '/', 'api-blue'],
    ]
    const got = []
    for (const [host, path] of cases) got.push([host, path, await who(app, host, path)])
    expect(got).toEqual(cases)

    // Absolute-form targets are matched by their authority, not the Host header.
    const port = Number(new URL(app.proxyUrl).port)
    expect(await rawGet(port, 'GET http://a.models.test/v1/x HTTP/1.1', 'api.example.test')).toEqual({ status: 200, body: 'models-blue' })
    expect(await rawGet(port, 'GET http://api.example.test/v2/x HTTP/1.1', 'other.test')).toEqual({ status: 200, body: 'v2-blue' })
    expect(await rawGet(port, 'GET http://api.example.test:80/v2x HTTP/1.1', 'a.models.test')).toEqual({ status: 200, body: 'api-blue' })
    expect(await rawGet(port, 'GET http://other.test/static/x HTTP/1.1', 'api.example.test')).toEqual({ status: 200, body: 'web-blue' })

    // Without a default service, what matches nothing is switchyard's own 404, forwarded nowhere.
    const bare = await start(await servicesRaw(u, sections))
    const hits = Object.values(u).reduce((n, pair) => n + pair.blue.hits + pair.green.hits, 0)
    const missed = await send(bare, 'other.test', '/')
    expect(missed.status).toBe(404)
    expect(missed.headers['content-type']).toMatch(/^application\/json/)
    expect(JSON.parse(missed.body)).toMatchObject({ statusCode: 404, code: 'SY_ERR_NO_SERVICE' })
    expect((await send(bare, 'models.test', '/v1')).status).toBe(404)
    expect(await rawGet(Number(new URL(bare.proxyUrl).port), 'GET http://nowhere.test/ HTTP/1.1', 'api.example.test')).toMatchObject({ status: 404 })
    // A WebSocket upgrade nothing matches: the same 404, and the connection closed.
    const upgrade = await rawConnect(
      Number(new URL(bare.proxyUrl).port),
      'GET /chat HTTP/1.1\r\nHost: other.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    )
    opened.push({ close: async () => void upgrade.socket.destroy() })
    await upgrade.closed
    const [refused] = parseResponses(upgrade.text())
    expect(refused?.status).toBe(404)
    expect(JSON.parse(refused!.body)).toMatchObject({ code: 'SY_ERR_NO_SERVICE' })
    expect(Object.values(u).reduce((n, pair) => n + pair.blue.hits + pair.green.hits, 0)).toBe(hits)
    // The others still route on it.
    expect(await who(bare, 'x.y.models.test', '/v1/a')).toBe('models-blue')
    expect(await who(bare, 'other.test', '/web/a')).toBe('web-blue')
  })

  it('splits each service on its own and keeps each sticky client on its colour within each service', async () => {
    const u = await startUpstreams(['api', 'web'], opened)
    const app = await start(await servicesRaw(u, { api: { split: { green: 50 } }, web: { split: { green: 50 } } }, { proxy: { defaultService: 'web' } }))

    // 50/50 on both: every user keeps its colour on each service, by header key or assigned cookie.
    const byUser: Record<string, { api: string; web: string }> = {}
    for (let i = 0; i < 30; i++) byUser[`user-${i}`] = { api: await who(app, 'api.example.test', '/', `user-${i}`), web: await who(app, 'other.test', '/web', `user-${i}`) }
    for (let round = 0; round < 2; round++) {
      for (const [user, colors] of Object.entries(byUser)) {
        expect(await who(app, 'api.example.test', '/x', user), user).toBe(colors.api)
        expect(await who(app, 'other.test', '/static/a', user), user).toBe(colors.web)
      }
    }
    const apis = new Set(Object.values(byUser).map((c) => c.api))
    const webs = new Set(Object.values(byUser).map((c) => c.web))
    expect(apis).toEqual(new Set(['api-blue', 'api-green']))
    expect(webs).toEqual(new Set(['web-blue', 'web-green']))

    // A client without a key gets the assigned cookie and keeps its colour with it.
    const first = await send(app, 'api.example.test', '/')
    const cookie = String(first.headers['set-cookie']?.[0] ?? '').split(';')[0]!
    expect(cookie).toMatch(/^sy_sid=/)
    for (let i = 0; i < 10; i++) expect((await send(app, 'api.example.test', '/', { cookie })).body).toBe(first.body)

    // All of api to green: web keeps its own split and users.
    expect(await setGreen(app, 'api', 100)).toMatchObject({ green: 100, blue: 0 })
    expect(await colorsOf(app, 'api.example.test', '/', 30)).toEqual({ 'api-green': 30 })
    for (const [user, colors] of Object.entries(byUser)) expect(await who(app, 'other.test', '/web', user), user).toBe(colors.web)
    expect(await splitOf(app, 'web')).toMatchObject({ green: 50, blue: 50 })
    // And back to blue: api alone.
    await setGreen(app, 'api', 0)
    expect(await colorsOf(app, 'api.example.test', '/', 30)).toEqual({ 'api-blue': 30 })
    expect(await splitOf(app, 'web')).toMatchObject({ green: 50 })

    // No service is named default: the unscoped routes name the services instead of guessing.
    for (const [method, body] of [['GET', undefined], ['PUT', { green: 10 }]] as const) {
      const res = await admin(app, method, '/v1/split', body)
      expect(res.status, method).toBe(409)
      expect(res.body).toMatchObject({ statusCode: 409, code: 'SY_ERR_SERVICE_REQUIRED' })
      expect((res.body as { message: string }).message).toMatch(/api, web/)
    }
    expect(await admin(app, 'GET', '/v1/services/nope/split')).toMatchObject({ status: 404, body: { code: 'SY_ERR_UNKNOWN_SERVICE' } })

    // With a service named default, /v1/split is that one's.
    const withDefault = await start(
      await servicesRaw({ default: u.web!, api: u.api! }, { default: { match: { pathPrefixes: ['/'] } }, api: {} }),
    )
    expect(await admin(withDefault, 'PUT', '/v1/split', { green: 100 })).toMatchObject({ status: 200, body: { green: 100 } })
    expect(await splitOf(withDefault, 'default')).toMatchObject({ green: 100 })
    expect(await splitOf(withDefault, 'api')).toMatchObject({ green: 0 })
    expect(await colorsOf(withDefault, 'other.test', '/', 10)).toEqual({ 'web-green': 10 })
    expect(await colorsOf(withDefault, 'api.example.test', '/', 10)).toEqual({ 'api-blue': 10 })
  })

  it('labels every per-colour series with its service', async () => {
    const u = await startUpstreams(['api', 'models', 'web'], opened)
    const app = await start(await servicesRaw(u, { api: {}, models: {}, web: { split: { green: 25 } } }))
    await setGreen(app, 'api', 100)
    for (let i = 0; i < 3; i++) {
      expect(await who(app, 'api.example.test', '/', `m-${i}`)).toBe('api-green')
      expect(await who(app, 'a.models.test', '/v1', `m-${i}`)).toBe('models-blue')
    }
    u.models!.blue.status = 503
    expect((await send(app, 'a.models.test', '/v1')).status).toBe(503)

    const metrics = async () => (await admin(app, 'GET', '/metrics')).body as string
    const value = (text: string, series: string) => {
      const line = text.split('\n').find((l) => l.startsWith(`${series} `))
      return line === undefined ? undefined : Number(line.slice(series.length + 1))
    }
    // Outcomes are recorded once each response is done: wait for them.
    await eventually(async () => value(await metrics(), 'switchyard_requests_total{service="models",color="blue",code="503"}') === 1, 10_000)
    const text = await metrics()
    expect(value(text, 'switchyard_requests_total{service="api",color="green",code="200"}')).toBe(3)
    expect(value(text, 'switchyard_requests_total{service="models",color="blue",code="200"}')).toBe(3)
    expect(value(text, 'switchyard_requests_total{service="api",color="blue",code="200"}') ?? 0).toBe(0)
    // Web got no traffic: no request series of its own.
    expect(text).not.toMatch(/switchyard_requests_total\{service="web"/)
    // No series without a service label.
    expect(text).not.toMatch(/switchyard_requests_total\{color=/)
    expect(value(text, 'switchyard_split_percent{service="web",color="blue"}')).toBe(75)
    expect(value(text, 'switchyard_split_percent{service="web",color="green"}')).toBe(25)
    expect(value(text, 'switchyard_split_percent{service="api",color="green"}')).toBe(100)
    expect(value(text, 'switchyard_split_percent{service="models",color="blue"}')).toBe(100)
    expect(text).toMatch(/switchyard_request_duration_seconds_count\{service="api",color="green"\} 3\b/)
    expect(text).toMatch(/switchyard_split_changes_total\{service="api",source="[^"]+"\} 1\b/)
  })
})
