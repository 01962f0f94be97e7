import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { admin, startTestApp, testConfig } from '../helpers/app.js'
import { startColorUpstream, type ColorUpstream } from '../helpers/color-upstream.js'

let blue: ColorUpstream
let green: ColorUpstream
let spare: ColorUpstream
let app: Awaited<ReturnType<typeof startTestApp>>

beforeAll(async () => {
  ;[blue, green, spare] = await Promise.all([startColorUpstream('blue'), startColorUpstream('green'), startColorUpstream('spare')])
  app = await startTestApp(await testConfig([blue.url], [green.url], { split: { green: 10 } }))
})
afterAll(async () => {
  await app.close()
  await Promise.all([blue.close(), green.close(), spare.close()])
})

describe('GET/PUT /v1/split', () => {
  it('shows the split with generation and no revert', async () => {
    const res = await admin(app, 'GET', '/v1/split')
    expect(res.status).toBe(200)
    expect(res.body).toEqual({ blue: 90, green: 10, generation: 1, reverted: null })
  })

  it('takes green, blue, or both summing to 100, and answers the new split', async () => {
    let res = await admin(app, 'PUT', '/v1/split', { green: 25 })
    expect(res).toMatchObject({ status: 200, body: { blue: 75, green: 25, generation: 2, reverted: null } })
    res = await admin(app, 'PUT', '/v1/split', { blue: 60 })
    expect(res.body).toEqual({ blue: 60, green: 40, generation: 3, reverted: null })
    res = await admin(app, 'PUT', '/v1/split', { blue: 12.34, green: 87.66 })
    expect(res.body).toEqual({ blue: 12.34, green: 87.66, generation: 4, reverted: null })
    expect((await admin(app, 'GET', '/v1/split')).body).toEqual(res.body)
  })

  it('honours ifGeneration and answers 409 when stale', async () => {
    const { generation } = (await admin(app, 'GET', '/v1/split')).body as { generation: number }
    const stale = await admin(app, 'PUT', '/v1/split', { green: 5, ifGeneration: generation - 1 })
    expect(stale.status).toBe(409)
    expect(stale.body).toMatchObject({ statusCode: 409, error: 'Conflict' })
    expect((stale.body as { message: string }).message).toMatch(/ifGeneration/)
    const fresh = await admin(app, 'PUT', '/v1/split', { green: 5, ifGeneration: generation })
    expect(fresh).toMatchObject({ status: 200, body: { green: 5, generation: generation + 1 } })
  })

  const badBodies: [string, string, RegExp][] = [
    ['null', 'null', /body must be object/],
    ['a string', '"25"', /body must be object/],
    ['a number', '25', /body must be object/],
    ['an array', '[25]', /body must be object/],
    ['green as a string', '{"green":"25"}', /body\.green must be number/],
    ['green null', '{"green":null}', /body\.green must be number/],
    ['green above 100', '{"green":101}', /body\.green must be <= 100/],
    ['green below 0', '{"green":-1}', /body\.green must be >= 0/],
    ['green infinite', '{"green":1e400}', /body\.green must be number/],
    ['blue above 100', '{"blue":100.5}', /body\.blue must be <= 100/],
    ['green finer than 0.01', '{"green":10.001}', /"green" must have at most two decimals/],
    ['green and blue not summing to 100', '{"green":50,"blue":40}', /"green" \(50\) and "blue" \(40\) must sum to 100/],
    ['neither green nor blue', '{}', /must set "green" or "blue"/],
    ['only ifGeneration', '{"ifGeneration":3}', /must set "green" or "blue"/],
    ['an unknown field', '{"green":10,"gren":5}', /unknown field "gren"/],
    ['ifGeneration as a string', '{"green":10,"ifGeneration":"3"}', /body\.ifGeneration must be integer/],
    ['ifGeneration fractional', '{"green":10,"ifGeneration":1.5}', /body\.ifGeneration must be integer/],
    ['broken JSON', '{"green":', /not valid JSON/],
    ['empty body', '', /must be object/],
  ]
  for (const [name, body, message] of badBodies) {
    it(`refuses ${name} with 400 naming the problem and changes nothing`, async () => {
      const before = await admin(app, 'GET', '/v1/split')
      const eventsBefore = (await admin(app, 'GET', '/v1/events')).body as unknown[]
      const res = await admin(app, 'PUT', '/v1/split', body)
      expect(res.status).toBe(400)
      expect(res.body).toMatchObject({ statusCode: 400, error: 'Bad Request' })
      expect((res.body as { message: string }).message).toMatch(message)
      expect((await admin(app, 'GET', '/v1/split')).body).toEqual(before.body)
      expect(((await admin(app, 'GET', '/v1/events')).body as unknown[]).length).toBe(eventsBefore.length)
    })
  }

  it('refuses a body that is not JSON with 415', async () => {
    const res = await admin(app, 'PUT', '/v1/split', 'green=25', { 'content-type': 'application/x-www-form-urlencoded' })
    expect(res.status).toBe(415)
  })
})

describe('promote and rollback', () => {
  it('promote sends green to 100 and rollback to 0, each an event', async () => {
    const promoted = await admin(app, 'POST', '/v1/promote')
    expect(promoted).toMatchObject({ status: 200, body: { blue: 0, green: 100, reverted: null } })
    const rolled = await admin(app, 'POST', '/v1/rollback', { reason: 'bad release' })
    expect(rolled).toMatchObject({ status: 200, body: { blue: 100, green: 0 } })
    const events = (await admin(app, 'GET', '/v1/events')).body as { type: string; source: string; reason: string | null }[]
    expect(events[0]).toMatchObject({ type: 'rollback', source: 'api', reason: 'bad release', to: { blue: 100, green: 0 } })
    expect(events[1]).toMatchObject({ type: 'promote', source: 'api', to: { blue: 0, green: 100 } })
  })

  it('refuses an unknown field in the optional body', async () => {
    const res = await admin(app, 'POST', '/v1/promote', { green: 50 })
    expect(res.status).toBe(400)
    expect((res.body as { message: string }).message).toMatch(/unknown field "green"/)
  })
})

describe('upstreams', () => {
  it('lists each colour with its targets and health', async () => {
    const res = await admin(app, 'GET', '/v1/upstreams')
    expect(res.status).toBe(200)
    const body = res.body as Record<string, { targets: { url: string; healthy: boolean }[] }>
    expect(body.blue!.targets[0]).toMatchObject({ url: blue.url, healthy: true })
    expect(body.green!.targets[0]).toMatchObject({ url: green.url, healthy: true })
  })

  it('points a colour at new targets live and records a targets event', async () => {
    const res = await admin(app, 'PUT', '/v1/upstreams/green', { targets: [spare.url] })
    expect(res.status).toBe(200)
    const answer = await fetch(app.proxyUrl, { headers: { 'x-switchyard-color': 'green' } })
    expect(await answer.text()).toBe('spare')
    const events = (await admin(app, 'GET', '/v1/events')).body as { type: string; from: unknown; to: unknown; source: string }[]
    expect(events[0]).toMatchObject({ type: 'targets', source: 'api', from: { color: 'green', targets: [green.url] }, to: { color: 'green', targets: [spare.url] } })
    await admin(app, 'PUT', '/v1/upstreams/green', { targets: [green.url] })
  })

  const bad: [string, string, unknown, RegExp][] = [
    ['an empty list', 'green', { targets: [] }, /body\.targets must NOT have fewer than 1 items/],
    ['a bad URL', 'green', { targets: ['not a url'] }, /targets\[0\] must be an http/],
    ['a URL with a path', 'blue', { targets: ['http://127.0.0.1:1/x'] }, /targets\[0\] must be an origin/],
    ['a duplicate', 'blue', { targets: [`http://127.0.0.1:1`, `http://127.0.0.1:1`] }, /twice/],
    ['no targets key', 'blue', {}, /must have required property 'targets'/],
    ['an unknown colour', 'purple', { targets: ['http://127.0.0.1:1'] }, /color must be "blue" or "green"/],
  ]
  for (const [name, color, body, message] of bad) {
    it(`refuses ${name} with 400 and changes nothing`, async () => {
      const res = await admin(app, 'PUT', `/v1/upstreams/${color}`, body)
      expect(res.status).toBe(400)
      expect((res.body as { message: string }).message).toMatch(message)
      expect(app.targets()).toEqual({ blue: [blue.url], green: [green.url] })
    })
  }
})

describe('status, events, metrics, healthz', () => {
  it('status shows the split, per-colour window stats and target health', async () => {
    await admin(app, 'PUT', '/v1/split', { green: 50 })
    for (let i = 0; i < 40; i++) await (await fetch(app.proxyUrl, { headers: { 'x-user-id': `u${i}` } })).text()
    const res = await admin(app, 'GET', '/v1/status')
    expect(res.status).toBe(200)
    const body = res.body as {
      split: { green: number }
      window: Record<'blue' | 'green', { requests: number; errors: number; errorRate: number; p50Ms: number; p99Ms: number }>
      upstreams: Record<string, unknown[]>
    }
    expect(body.split.green).toBe(50)
    expect(body.window.blue.requests + body.window.green.requests).toBeGreaterThanOrEqual(40)
    expect(body.window.green.requests).toBeGreaterThan(5)
    expect(body.window.green).toMatchObject({ errors: 0, errorRate: 0 })
    expect(body.window.green.p50Ms).toBeGreaterThan(0)
    expect(body.window.green.p99Ms).toBeGreaterThanOrEqual(body.window.green.p50Ms)
    expect(body.upstreams.blue).toHaveLength(1)
    // One node: the state is the file, and all is well.
    expect(res.body).toMatchObject({ status: 'ok', state: { store: 'file', file: expect.stringMatching(/state\.json$/) as unknown } })
  })

  it('events are newest first and take a limit', async () => {
    const all = (await admin(app, 'GET', '/v1/events')).body as { at: string }[]
    expect(all.length).toBeGreaterThan(3)
    const times = all.map((e) => Date.parse(e.at))
    expect([...times].sort((a, b) => b - a)).toEqual(times)
    expect(((await admin(app, 'GET', '/v1/events?limit=2')).body as unknown[]).length).toBe(2)
    expect((await admin(app, 'GET', '/v1/events?limit=abc')).status).toBe(400)
  })

  it('exposes every SPEC metric name on /metrics', async () => {
    const res = await admin(app, 'GET', '/metrics')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/text\/plain/)
    const text = res.body as string
    expect(text).toMatch(/switchyard_requests_total\{color="(blue|green)",code="200"\} \d+/)
    expect(text).toMatch(/switchyard_request_duration_seconds_bucket\{le="[^"]+",color="green"\}/)
    expect(text).toContain('switchyard_upstream_errors_total{color="green",kind="connect"} 0')
    expect(text).toContain('switchyard_split_percent{color="green"} 50')
    expect(text).toContain('switchyard_split_percent{color="blue"} 50')
    expect(text).toContain('switchyard_reverts_total 0')
    expect(text).toMatch(/switchyard_split_changes_total\{source="api"\} \d+/)
    expect(text).toContain('process_cpu_user_seconds_total')
    expect(text).toContain(`switchyard_target_healthy{color="green",target="${green.url}"} 1`)
  })

  it('healthz answers 200', async () => {
    expect(await admin(app, 'GET', '/healthz')).toMatchObject({ status: 200, body: { status: 'ok' } })
  })

  it('unknown routes answer 404 in the fastify error shape', async () => {
    expect(await admin(app, 'GET', '/v1/nope')).toMatchObject({ status: 404, body: { statusCode: 404, error: 'Not Found' } })
  })
})

describe('with a token', () => {
  it('needs a bearer token on /v1 routes but not on /metrics and /healthz', async () => {
    const secured = await startTestApp(await testConfig([blue.url], [green.url], { admin: { host: '127.0.0.1', port: 0, token: 's3cret-token' } }))
    try {
      const none = await admin(secured, 'GET', '/v1/split')
      expect(none.status).toBe(401)
      expect(none.body).toMatchObject({ statusCode: 401, error: 'Unauthorized' })
      expect(none.headers.get('www-authenticate')).toBe('Bearer')
      expect((await admin(secured, 'GET', '/v1/split', undefined, { authorization: 'Bearer wrong' })).status).toBe(401)
      expect((await admin(secured, 'GET', '/v1/split', undefined, { authorization: 's3cret-token' })).status).toBe(401)
      const put = await admin(secured, 'PUT', '/v1/split', { green: 50 }, { authorization: 'Bearer wrong' })
      expect(put.status).toBe(401)
      expect(secured.controller.state().greenBuckets).toBe(0)
      expect((await admin(secured, 'GET', '/v1/split', undefined, { authorization: 'Bearer s3cret-token' })).status).toBe(200)
      expect((await admin(secured, 'GET', '/metrics')).status).toBe(200)
      expect((await admin(secured, 'GET', '/healthz')).status).toBe(200)
      // A refused attempt is logged, without the token.
      expect(secured.logs.text()).toContain('bad or missing bearer token')
      expect(secured.logs.text()).not.toContain('wrong')
      expect(secured.logs.text()).not.toContain('s3cret-token')
    } finally {
      await secured.close()
    }
  })
})
