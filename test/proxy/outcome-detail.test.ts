import http from 'node:http'
import { afterEach, describe, expect, it } from 'vitest'
import { countsAsError } from '../../src/outcomes/window-delta.js'
import { admin, startTestApp, testConfig } from '../helpers/app.js'
import { fetchPartial, Resources, send, startProxy, type Outcome } from '../helpers/upstream-proxy-harness.js'
import { closedPort, startUpstream, type Upstream, type UpstreamHandler } from '../helpers/upstream-server.js'
import { eventually, until } from '../helpers/wait.js'

const resources = new Resources()
afterEach(() => resources.closeAll())

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Answers by path: the behaviours whose outcomes these tests look at. */
const behaviours: UpstreamHandler = async (req, res) => {
  switch (req.url?.split('?')[0]) {
    // An LLM-style stream: the head at once, the first token after ~300 ms, then more.
    case '/sse':
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.flushHeaders()
      await delay(300)
      for (let i = 0; i < 3; i++) {
        res.write(`data: token ${i}\n\n`)
        await delay(50)
      }
      res.end('data: [DONE]\n\n')
      return
    // The head at once, the body (of known length) 300 ms later.
    case '/late-body':
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 4 })
      res.flushHeaders()
      await delay(300)
      res.end('body')
      return
    // No body at all, after a short wait.
    case '/empty':
      await delay(50)
      res.writeHead(204).end()
      return
    // A 200 whose body the upstream cuts.
    case '/cut':
      res.writeHead(200, { 'content-length': 1000 })
      res.write(Buffer.alloc(100, 'a'))
      setTimeout(() => res.socket?.destroy(), 30)
      return
    // One token, then silence: a client may leave mid-stream.
    case '/one-token':
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.write('data: first\n\n')
      return
    // Never answers.
    case '/hang':
      return
    default:
      res.writeHead(200, { 'content-length': 2 }).end('ok')
  }
}

/** Sends a GET and destroys it once the upstream has it and `leaveAfterMs` passed since it was sent. */
async function leave(baseUrl: string, path: string, upstream: Upstream, leaveAfterMs: number, afterFirstChunk = false): Promise<void> {
  const sentAt = Date.now()
  const seen = upstream.requests.length
  let firstChunk = false
  const req = http.get(`${baseUrl}${path}`, { agent: false }, (res) => {
    res.once('data', () => (firstChunk = true))
  })
  req.on('error', () => undefined)
  await until(() => upstream.requests.length > seen && (!afterFirstChunk || firstChunk))
  const left = leaveAfterMs - (Date.now() - sentAt)
  // The client's patience is the behaviour under test, not a wait for a result.
  if (left > 0) await delay(left)
  req.destroy()
}

describe('time to first byte, per request', () => {
  async function setup() {
    const upstream = resources.add(await startUpstream('blue', behaviours))
    const proxy = resources.add(await startProxy({ blue: [upstream.url], green: [upstream.url] }))
    return { upstream, proxy }
  }

  it('a stream: the first token, not the head, is the first byte', async () => {
    const { proxy } = await setup()
    const reply = await send(proxy.url, { path: '/sse?model=x' })
    expect(reply.body).toContain('[DONE]')
    const [outcome] = await proxy.sink.waitFor(1)
    expect(outcome).toMatchObject({ status: 200, errorKind: undefined, url: '/sse?model=x' })
    expect(outcome!.ttfbMs).toBeGreaterThanOrEqual(250)
    expect(outcome!.ttfbMs).toBeLessThan(outcome!.durationMs)
  })

  it('a head at once and a body 300 ms later: the body is the first byte', async () => {
    const { proxy } = await setup()
    expect((await send(proxy.url, { path: '/late-body' })).body).toBe('body')
    const [outcome] = await proxy.sink.waitFor(1)
    expect(outcome!.ttfbMs).toBeGreaterThanOrEqual(250)
    expect(outcome!.ttfbMs).toBeLessThanOrEqual(outcome!.durationMs)
  })

  it('an answer without a body: its head is the first byte', async () => {
    const { proxy } = await setup()
    expect((await send(proxy.url, { path: '/empty' })).status).toBe(204)
    expect((await send(proxy.url, { method: 'HEAD', path: '/' })).status).toBe(200)
    const outcomes = await proxy.sink.waitFor(2)
    for (const outcome of outcomes) {
      expect(outcome.ttfbMs).toBeGreaterThanOrEqual(0)
      expect(outcome.ttfbMs).toBeLessThanOrEqual(outcome.durationMs)
    }
    expect(outcomes[0]!.ttfbMs).toBeGreaterThanOrEqual(40)
  })

  it('our own 502 (upstream down) is no first byte: -1', async () => {
    const down = `http://127.0.0.1:${await closedPort()}`
    const proxy = resources.add(await startProxy({ blue: [down], green: [down] }))
    expect((await send(proxy.url, { path: '/x' })).status).toBe(502)
    const [outcome] = await proxy.sink.waitFor(1)
    expect(outcome).toMatchObject({ status: 502, errorKind: 'connect', ttfbMs: -1, url: '/x' })
  })

  it('a 200 the upstream cuts mid-body keeps its first byte and counts as an error by its kind', async () => {
    const { proxy } = await setup()
    const reply = await fetchPartial(proxy.url, '/cut')
    expect(reply).toMatchObject({ status: 200, complete: false })
    const [outcome] = await proxy.sink.waitFor(1)
    expect(outcome).toMatchObject({ status: 200, errorKind: 'reset' })
    expect(outcome!.ttfbMs).toBeGreaterThanOrEqual(0)
    expect(isError(outcome!, 5_000)).toBe(true)
  })

  it('a client that leaves before any byte: -1, an error once it waited abandonAfter', async () => {
    const { upstream, proxy } = await setup()
    await leave(proxy.url, '/hang', upstream, 400)
    const [outcome] = await proxy.sink.waitFor(1)
    expect(outcome).toMatchObject({ status: 499, errorKind: 'client', ttfbMs: -1, url: '/hang' })
    expect(outcome!.durationMs).toBeGreaterThanOrEqual(300)
    expect(isError(outcome!, 200)).toBe(true)
    expect(isError(outcome!, 0)).toBe(false)
  })

  it('a client that leaves mid-stream after its first token is no error, however long it waited', async () => {
    const { upstream, proxy } = await setup()
    await leave(proxy.url, '/one-token', upstream, 400, true)
    const [outcome] = await proxy.sink.waitFor(1)
    expect(outcome).toMatchObject({ status: 499, errorKind: 'client' })
    expect(outcome!.ttfbMs).toBeGreaterThanOrEqual(0)
    expect(isError(outcome!, 200)).toBe(false)
  })
})

function isError(o: Outcome, abandonAfter: number): boolean {
  return countsAsError(o.status, o.errorKind, o.ttfbMs, o.durationMs, abandonAfter)
}

describe('abandoned requests in a running switchyard', () => {
  type Window = Record<'blue' | 'green', { requests: number; errors: number; ttfbP50Ms: number | null }>

  async function windowOf(app: { adminUrl: string }): Promise<Window> {
    return ((await admin(app, 'GET', '/v1/status')).body as { window: Window }).window
  }

  it('counts a client that gave up after rollout.analysis.abandonAfter as an error, one that left sooner not', async () => {
    const upstream = resources.add(await startUpstream('blue', behaviours))
    const app = resources.add(
      // Wide apart (a loaded machine sees a prompt close late), both sides of the line are clear.
      await startTestApp(await testConfig([upstream.url], [upstream.url], { rollout: { analysis: { abandonAfter: '1500ms' } } })),
    )
    // Leaves as soon as the upstream has the request: well before 1.5 s.
    await leave(app.proxyUrl, '/hang', upstream, 0)
    await eventually(async () => (await windowOf(app)).blue.requests === 1)
    expect((await windowOf(app)).blue.errors).toBe(0)
    // Waits 2 s with nothing: the colour failed this user.
    await leave(app.proxyUrl, '/hang', upstream, 2000)
    await eventually(async () => (await windowOf(app)).blue.requests === 2)
    expect((await windowOf(app)).blue.errors).toBe(1)
    // Had its first token: leaving later is not the colour's fault.
    await leave(app.proxyUrl, '/one-token', upstream, 600, true)
    await eventually(async () => (await windowOf(app)).blue.requests === 3)
    expect((await windowOf(app)).blue.errors).toBe(1)
    // A 200 cut mid-body is.
    await fetchPartial(app.proxyUrl, '/cut')
    await eventually(async () => (await windowOf(app)).blue.requests === 4)
    expect((await windowOf(app)).blue.errors).toBe(2)
  })

  it('exports switchyard_time_to_first_byte_seconds for requests that had a first byte', async () => {
    const upstream = resources.add(await startUpstream('blue', behaviours))
    const down = `http://127.0.0.1:${await closedPort()}`
    const app = resources.add(await startTestApp(await testConfig([upstream.url], [down], {})))
    await send(app.proxyUrl, { path: '/sse' })
    await send(app.proxyUrl, { path: '/', headers: { 'x-switchyard-color': 'green' } })
    const text = (await admin(app, 'GET', '/metrics')).body as string
    expect(text).toContain('# TYPE switchyard_time_to_first_byte_seconds histogram')
    // The stream's first token came after ~300 ms: not in the 0.25 s bucket, in the 0.5 s one.
    expect(text).toMatch(/switchyard_time_to_first_byte_seconds_bucket\{le="0.25",color="blue"\} 0/)
    expect(text).toMatch(/switchyard_time_to_first_byte_seconds_count\{color="blue"\} 1/)
    // Green's 502 had no first byte.
    expect(text).not.toMatch(/switchyard_time_to_first_byte_seconds_count\{color="green"\} [1-9]/)
    expect(text).toMatch(/switchyard_request_duration_seconds_count\{color="green"\} 1/)
    expect((await windowOf(app)).blue.ttfbP50Ms).toBeGreaterThanOrEqual(250)
  })
})
