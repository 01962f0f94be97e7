import type { ServerResponse } from 'node:http'
import { afterEach, describe, expect, it } from 'vitest'
import { admin, startTestApp, testConfig } from '../helpers/app.js'
import { readBody, startUpstream, type Upstream, type UpstreamHandler } from '../helpers/upstream-server.js'
import { eventually } from '../helpers/wait.js'
import { get, metric, pairsAtLeast, SHADOW } from './helpers.js'

const opened: { close(): Promise<void> }[] = []
afterEach(async () => {
  for (const thing of opened.splice(0).reverse()) await thing.close()
})

function sendJson(res: ServerResponse, value: unknown): void {
  const body = JSON.stringify(value)
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body)
}

/** An order as the release answers it: `total` is where green differs, `at` changes every time. */
const order =
  (total: number): UpstreamHandler =>
  (req, res) =>
    sendJson(res, { id: 42, total, at: `${Date.now()}-${Math.random()}`, path: req.url })

/**
 * Latency never counts as a difference unless a test asks for it: on a loaded machine green's
 * answer can take over twice blue's (10 ms floor), which is no difference of what it says.
 */
const NO_LATENCY = { latencyFactor: 1000 }

async function setup(blue: UpstreamHandler[], green: UpstreamHandler, mirror: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) {
  const blues: Upstream[] = []
  for (const [i, handler] of blue.entries()) blues.push(await startUpstream(`blue${i}`, handler))
  const greenUpstream = await startUpstream('green', green)
  opened.push(...blues, greenUpstream)
  const config = await testConfig(
    blues.map((u) => u.url),
    [greenUpstream.url],
    { sticky: { keys: ['header:x-user-id'], cookie: '' }, mirror: { percent: 100, compare: NO_LATENCY, ...mirror }, autoRevert: { enabled: false }, ...extra },
  )
  const app = await startTestApp(config)
  opened.push(app)
  return { app, blues, green: greenUpstream, config }
}

const shadows = (u: Upstream) => u.requests.filter((r) => r.headers[SHADOW] === '1')
const users = (u: Upstream) => u.requests.filter((r) => r.headers[SHADOW] === undefined)

describe('mirroring', () => {
  // Both engines capture blue's answer; the other tests run on the default one (sockets).
  it.each(['sockets', 'node'])('sends shadows marked as such, answers the client from blue, and reports the JSON field where green differs (%s engine)', async (engine) => {
    const proxy = { host: '127.0.0.1', port: 0, engine }
    const { app, green } = await setup([order(10)], order(11), { compare: { ...NO_LATENCY, ignore: ['$.at'] } }, { proxy })
    for (let i = 0; i < 20; i++) {
      const answer = await get(app, `/orders/42?token=s3cret&n=${i}`, `user-${i}`)
      expect(answer.status).toBe(200)
      expect(JSON.parse(answer.body)).toMatchObject({ total: 10 })
    }
    const r = await pairsAtLeast(app, 20)
    expect(shadows(green)).toHaveLength(20)
    expect(users(green)).toHaveLength(0)
    expect(r).toMatchObject({ pairs: 20, differing: 20, share: 1 })
    expect(r.kinds).toEqual([{ kind: 'field', count: 20, share: 1 }])
    const route = r.routes[0]!
    expect(route.paths.map((p) => p.path)).toEqual(['$.total'])
    expect(route.paths[0]).toMatchObject({ count: 20, noisy: false })
    // Examples name the field and never show a query's values.
    expect(r.examples[0]!.paths).toEqual([expect.objectContaining({ path: '$.total' })])
    expect(r.examples[0]!.path).not.toContain('s3cret')
    expect(await metric(app, 'switchyard_mirror_diffs_total', `route="${route.route}",kind="field"`)).toBe(20)
    expect(await metric(app, 'switchyard_mirror_requests_total', 'result="compared"')).toBe(20)
    expect(await metric(app, 'switchyard_requests_total', 'color="green",code="200"')).toBe(0)
  })

  it('compares gzip answers by their JSON, not their compressed bytes', async () => {
    const { gzipSync } = await import('node:zlib')
    const gz =
      (total: number, level: number): UpstreamHandler =>
      (_req, res) => {
        const body = gzipSync(JSON.stringify({ total, items: [1, 2, 3] }), { level })
        res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': body.length }).end(body)
      }
    const same = await setup([gz(10, 1)], gz(10, 9))
    await get(same.app, '/cart', 'g1', { headers: { 'accept-encoding': 'gzip' } })
    expect((await pairsAtLeast(same.app, 1)).differing).toBe(0)
    const other = await setup([gz(10, 1)], gz(11, 9))
    const answer = await get(other.app, '/cart', 'g1', { headers: { 'accept-encoding': 'gzip' } })
    expect(JSON.parse(answer.body)).toMatchObject({ total: 10 })
    const r = await pairsAtLeast(other.app, 1)
    expect(r.routes[0]!.paths.map((p) => p.path)).toEqual(['$.total'])
  })

  it('learns a field that differs between two blue targets as noise and does not hold it against green', async () => {
    const stable: UpstreamHandler = (_req, res) => sendJson(res, { v: 1, items: [{ id: 1 }], generatedAt: `${Date.now()}-${Math.random()}` })
    const { app, blues } = await setup([stable, stable], stable, { noise: { percent: 100, minDiffs: 2 } })
    for (let i = 0; i < 30; i++) await get(app, '/catalog', `user-${i}`)
    const r = await pairsAtLeast(app, 30)
    // Every pair also went to the other blue target.
    expect(shadows(blues[0]!).length + shadows(blues[1]!).length).toBe(30)
    const learned = r.noise.routes[0]!.paths.find((p) => p.path === '$.generatedAt')
    expect(learned).toMatchObject({ noisy: true })
    const path = r.routes[0]!.paths.find((p) => p.path === '$.generatedAt')!
    expect(path.noisy).toBe(true)
    // Only the first pair, before two blue answers had shown the field to be noise, counts against green
    // (a 'latency' difference on a loaded machine is no field of the answer, so fields alone are counted).
    expect(r.kinds.find((k) => k.kind === 'field')?.count ?? 0).toBeLessThanOrEqual(1)
    expect(path.count).toBeLessThanOrEqual(1)
    expect(path.noise).toBeGreaterThanOrEqual(29)
  })

  it('samples by sticky key: a user is mirrored on every request or on none', async () => {
    const { app, green } = await setup([order(1)], order(1), { percent: 50 })
    for (let u = 0; u < 24; u++) for (let i = 0; i < 5; i++) await get(app, '/', `sticky-${u}`)
    await eventually(async () => (await metric(app, 'switchyard_mirror_requests_total', 'result="compared"')) === shadows(green).length)
    const perUser = new Map<string, number>()
    for (const r of shadows(green)) perUser.set(String(r.headers['x-user-id']), (perUser.get(String(r.headers['x-user-id'])) ?? 0) + 1)
    expect([...perUser.values()].every((n) => n === 5)).toBe(true)
    // About half of the 24 users (a binomial draw; far from none and from all).
    expect(perUser.size).toBeGreaterThan(3)
    expect(perUser.size).toBeLessThan(21)
  })

  it('never makes the client wait for a slow green', async () => {
    const slow: UpstreamHandler = (_req, res) => void setTimeout(() => sendJson(res, { ok: true }), 1_000)
    const { app } = await setup([(_req, res) => sendJson(res, { ok: true })], slow, { compare: { latencyFactor: 2 } })
    const times: number[] = []
    for (let i = 0; i < 10; i++) times.push((await get(app, '/slow', `u${i}`)).ms)
    // Blue answers at once; green takes a second on every shadow. A client that waited for it
    // would take that second or more: none did (however slow a loaded machine makes the rest).
    expect(Math.max(...times)).toBeLessThan(1_000)
    const r = await pairsAtLeast(app, 10)
    expect(r.kinds.find((k) => k.kind === 'latency')?.count).toBe(10)
    expect(r.routes[0]!.latencyRatio!.p50).toBeGreaterThanOrEqual(8)
  })

  it('never holds a shutdown: the clients get their answers, the shadows still out are cancelled', async () => {
    const silent: UpstreamHandler = () => undefined
    const { app } = await setup([order(1)], silent, { timeout: '1m' })
    const answers = await Promise.all(Array.from({ length: 4 }, (_, i) => get(app, '/', `s${i}`)))
    expect(answers.every((a) => a.status === 200)).toBe(true)
    expect((await admin(app, 'GET', '/v1/mirror')).body).toMatchObject({ pairs: 0 })
    const started = performance.now()
    await app.close()
    // drain.deadline is 2 s in these tests; four shadows waiting a minute on a silent green do not count.
    expect(performance.now() - started).toBeLessThan(1_500)
  })

  it('drops shadows past mirror.concurrency and ends a silent green at mirror.timeout, the clients served by blue all along', async () => {
    const silent: UpstreamHandler = () => undefined
    const { app } = await setup([order(1)], silent, { concurrency: 2, timeout: '1s' })
    const answers = await Promise.all(Array.from({ length: 6 }, (_, i) => get(app, '/', `c${i}`)))
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200, 200])
    expect(Math.max(...answers.map((a) => a.ms))).toBeLessThan(900)
    expect(await metric(app, 'switchyard_mirror_requests_total', 'result="dropped"')).toBe(4)
    // The two sent ones end at the timeout: green gave no answer, which the report calls a status difference.
    const r = await pairsAtLeast(app, 2)
    expect(r.kinds.map((k) => k.kind)).toContain('status')
    expect(r.examples[0]).toMatchObject({ green: { status: 504 } })
  })

  it('does not mirror a POST unless mirror.methods lists it; then green gets the same body', async () => {
    const echoBody: UpstreamHandler = async (req, res) => sendJson(res, { body: (await readBody(req)).toString() })
    const off = await setup([echoBody], echoBody)
    const posted = await fetch(off.app.proxyUrl + '/orders', { method: 'POST', headers: { 'x-user-id': 'a' }, body: 'x=1' })
    expect(await posted.json()).toEqual({ body: 'x=1' })
    expect(await metric(off.app, 'switchyard_mirror_requests_total', 'result="method"')).toBe(1)
    expect(off.green.requests).toHaveLength(0)

    const on = await setup([echoBody], echoBody, { methods: ['GET', 'POST'] })
    await fetch(on.app.proxyUrl + '/orders', { method: 'POST', headers: { 'x-user-id': 'a', 'content-type': 'text/plain' }, body: 'x=2' })
    const r = await pairsAtLeast(on.app, 1)
    expect(r).toMatchObject({ pairs: 1, differing: 0 })
    expect(shadows(on.green)[0]).toMatchObject({ method: 'POST' })
  })

  it('serves a 10 MB body over mirror.maxBodySize and does not mirror it', async () => {
    const count: UpstreamHandler = async (req, res) => sendJson(res, { bytes: (await readBody(req)).length })
    const { app, green } = await setup([count], count, { methods: ['POST'], maxBodySize: 1024 * 1024 }, { limits: { maxBodySize: 0 } })
    const body = Buffer.alloc(10 * 1024 * 1024, 0x61)
    const res = await fetch(app.proxyUrl + '/upload', { method: 'POST', headers: { 'x-user-id': 'big' }, body })
    expect(await res.json()).toEqual({ bytes: body.length })
    expect(await metric(app, 'switchyard_mirror_requests_total', 'result="too_large"')).toBe(1)
    expect(green.requests).toHaveLength(0)
    // A small one still is.
    await fetch(app.proxyUrl + '/upload', { method: 'POST', headers: { 'x-user-id': 'big' }, body: 'small' })
    expect((await pairsAtLeast(app, 1)).differing).toBe(0)
  })

  it('compares streamed (SSE) answers on their completion and frames', async () => {
    const events = (n: number, cut: boolean): UpstreamHandler => (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      let sent = 0
      const tick = setInterval(() => {
        res.write(`data: token ${sent}\n\n`)
        if (++sent < n) return
        clearInterval(tick)
        if (cut) res.destroy()
        else res.end()
      }, 5)
    }
    const { app } = await setup([events(5, false)], events(3, true))
    const answer = await get(app, '/v1/chat', 'streamer')
    expect(answer.body.match(/data: token/g)).toHaveLength(5)
    const r = await pairsAtLeast(app, 1)
    expect(r.kinds.map((k) => k.kind)).toEqual(['stream'])

    const same = await setup([events(4, false)], events(4, false))
    await get(same.app, '/v1/chat', 'streamer')
    expect((await pairsAtLeast(same.app, 1)).differing).toBe(0)
  })

  it('never lets a client mark its own request as a shadow', async () => {
    const { app, blues, green } = await setup([order(1)], order(1))
    await get(app, '/pay', 'forger', { headers: { [SHADOW]: '1' } })
    await pairsAtLeast(app, 1)
    expect(blues[0]!.requests[0]!.headers[SHADOW]).toBeUndefined()
    expect(green.requests[0]!.rawHeaders.filter((h) => h.toLowerCase() === SHADOW)).toHaveLength(1)
  })

  it('takes live share changes through PUT /v1/mirror, refuses bad ones, and keeps the share across a restart', async () => {
    const { app, green, config } = await setup([order(1)], order(1), { percent: 0 })
    await get(app, '/', 'u1')
    expect(green.requests).toHaveLength(0)
    for (const [body, message] of [
      [{ percent: 101 }, /body\.percent must be <= 100/],
      [{ percent: 12.345 }, /two decimals/],
      [{ percent: 'ten' }, /percent/],
      [{}, /percent/],
    ] as const) {
      const refused = await admin(app, 'PUT', '/v1/mirror', body)
      expect(refused.status).toBe(400)
      expect((refused.body as { message: string }).message).toMatch(message)
    }
    expect((await admin(app, 'GET', '/v1/mirror')).body).toMatchObject({ percent: 0 })
    // A bearer header sent to a switchyard without admin.token proves nothing: the caller is anonymous.
    const set = await admin(app, 'PUT', '/v1/mirror', { percent: 100, reason: 'check 2.0' }, { authorization: 'Bearer a-guess' })
    expect(set.status).toBe(200)
    expect(app.logs.lines().find((l) => l.action === 'mirror')).toMatchObject({ who: 'anonymous@127.0.0.1', why: 'check 2.0', msg: "mirroring changed: 0% -> 100% of blue's requests" })
    expect(set.body).toMatchObject({ percent: 100, settings: { methods: ['GET', 'HEAD', 'OPTIONS'], header: SHADOW } })
    await get(app, '/', 'u1')
    expect(shadows(green)).toHaveLength(1)
    const events = (await admin(app, 'GET', '/v1/events?type=mirror')).body as { from: unknown; to: unknown; reason: string }[]
    expect(events[0]).toMatchObject({ from: { percent: 0 }, to: { percent: 100 }, reason: 'check 2.0' })
    const text = (await admin(app, 'GET', '/metrics')).body as string
    expect(text).toMatch(/^switchyard_mirror_percent 100$/m)

    await app.close()
    const again = await startTestApp(config)
    opened.push(again)
    expect((await admin(again, 'GET', '/v1/mirror')).body).toMatchObject({ percent: 100 })
    const reset = await admin(again, 'DELETE', '/v1/mirror/report')
    expect(reset.status).toBe(204)
  })
})
