import type { IncomingMessage, ServerResponse } from 'node:http'
import { fetch } from 'undici'
import { afterEach, describe, expect, it } from 'vitest'
import { countsAsError } from '../../src/outcomes/window-delta.js'
import { admin, startTestApp, testConfig } from '../helpers/app.js'
import { parseResponses, rawConnect, type RawConnection } from '../helpers/raw-http.js'
import { Resources, startProxy, type TestProxy } from '../helpers/upstream-proxy-harness.js'
import { startUpstream, type UpstreamHandler } from '../helpers/upstream-server.js'
import { until } from '../helpers/wait.js'

/**
 * Honest stream ends: only a body the upstream finished ends cleanly (the last chunk, or all of
 * its Content-Length). A body switchyard cuts — a drain deadline, a revert, a shutdown deadline,
 * an upstream failure — ends so the client can tell: at the byte level the connection closes
 * without the last chunk (or short of the length; an HTTP/1.0 close-delimited body gets a reset),
 * and at the API level a fetch() body read rejects where a clean end resolves.
 */

const resources = new Resources()
afterEach(() => resources.closeAll())

const H = 'Host: switchyard.test\r\n'
const TICK_MS = 20

/**
 * `/sse`: an event every TICK_MS until the client goes; `?n=N`: N events, then a clean end;
 * `?cut=N`: N events, then the upstream's connection breaks.
 * `/file`: Content-Length 1000 in 50-byte pieces every TICK_MS; `?cut=N`: breaks after N bytes.
 */
function streams(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://x')
  const n = Number(url.searchParams.get('n') ?? Infinity)
  const cut = Number(url.searchParams.get('cut') ?? Infinity)
  if (url.pathname === '/file') {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': 1000 })
    every(res, (i) => {
      const sent = i * 50
      if (sent >= cut) return 'break'
      if (sent >= 1000) return 'end'
      res.write('x'.repeat(50))
      return 'more'
    })
    return
  }
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
  every(res, (i) => {
    if (i >= cut) return 'break'
    if (i >= n) return 'end'
    res.write(`data: ${i}\n\n`)
    return 'more'
  })
}

/** Runs `step` now and every TICK_MS: it writes, or says to end the response or break its connection. */
function every(res: ServerResponse, step: (i: number) => 'more' | 'end' | 'break'): void {
  let i = 0
  const run = (): void => {
    const next = step(i++)
    if (next === 'more') return
    clearInterval(timer)
    if (next === 'end') res.end()
    else res.socket?.destroy()
  }
  const timer = setInterval(run, TICK_MS)
  res.on('close', () => clearInterval(timer))
  run()
}

async function setup(): Promise<TestProxy> {
  const upstream = resources.add(await startUpstream('blue', streams))
  return resources.add(await startProxy({ blue: [upstream.url], green: [upstream.url] }))
}

/** A fetch() whose body is being read: what arrived so far, and how the read ended. */
interface FetchRead {
  text(): string
  /** `done`: the read resolved (a clean end); `error`: it rejected. */
  readonly ended: Promise<'done' | 'error'>
}

async function fetchRead(url: string, headers: Record<string, string> = {}): Promise<FetchRead> {
  const res = await fetch(url, { headers })
  expect(res.status).toBe(200)
  const reader = (res.body as ReadableStream<Uint8Array>).getReader()
  const decoder = new TextDecoder()
  let text = ''
  const read = async (): Promise<'done'> => {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) return 'done'
      text += decoder.decode(value, { stream: true })
    }
  }
  return { text: () => text, ended: read().catch(() => 'error' as const) }
}

/** Opens a raw connection with one GET. */
function rawGet(proxy: TestProxy, path: string, version = '1.1'): Promise<RawConnection> {
  return rawConnect(proxy.port, `GET ${path} HTTP/${version}\r\n${H}\r\n`)
}

const events = (text: string): number => text.split('\n\n').length - 1

describe('chunked streams (SSE, tokens)', () => {
  it('an upstream that ends its stream ends it cleanly: the last chunk, the connection kept alive', async () => {
    const proxy = await setup()
    const raw = await rawGet(proxy, '/sse?n=5')
    await until(() => parseResponses(raw.text())[0]?.complete === true)
    const [first] = parseResponses(raw.text())
    expect(first).toMatchObject({ status: 200, body: 'data: 0\n\ndata: 1\n\ndata: 2\n\ndata: 3\n\ndata: 4\n\n' })
    expect(first!.head['transfer-encoding']).toBe('chunked')
    expect(first!.rawBody.endsWith('\r\n0\r\n\r\n')).toBe(true)
    // The same connection serves the next request.
    raw.socket.write(`GET /sse?n=1 HTTP/1.1\r\n${H}\r\n`)
    await until(() => parseResponses(raw.text())[1]?.complete === true)
    raw.socket.destroy()

    const read = await fetchRead(`${proxy.url}/sse?n=5`)
    expect(await read.ended).toBe('done')
    expect(events(read.text())).toBe(5)
    await proxy.sink.waitFor(3)
    expect(proxy.sink.outcomes()).toEqual(Array(3).fill({ color: 'blue', status: 200, errorKind: undefined }))
  })

  it('a drain deadline cuts it: no last chunk, the connection closed, fetch rejects; not counted as an error', async () => {
    const upstream = resources.add(await startUpstream('blue', streams))
    const proxy = resources.add(await startProxy({ blue: [upstream.url], green: [upstream.url] }))
    const raw = await rawGet(proxy, '/sse')
    const read = await fetchRead(`${proxy.url}/sse`)
    await until(() => events(raw.text()) >= 3 && events(read.text()) >= 3)

    proxy.proxy.drainColor('blue', 0)
    expect(await raw.closed).toBe('fin')
    const [cut] = parseResponses(raw.text())
    expect(cut).toMatchObject({ status: 200, complete: false })
    expect(cut!.body).toMatch(/^data: 0\n\ndata: 1\n\ndata: 2\n\n/)
    expect(raw.text()).not.toMatch(/\r\n0\r\n\r\n$/)
    expect(await read.ended).toBe('error')
    expect(events(read.text())).toBeGreaterThanOrEqual(3)

    // Our cut, not the upstream's failure: the status it was sending, no error kind.
    await Promise.all(upstream.requests.map((r) => r.cancelled))
    const outcomes = await proxy.sink.waitFor(2)
    expect(proxy.sink.outcomes()).toEqual(Array(2).fill({ color: 'blue', status: 200, errorKind: undefined }))
    for (const o of outcomes) expect(countsAsError(o.status, o.errorKind, o.ttfbMs, o.durationMs, 5_000)).toBe(false)
  })

  it('an upstream that breaks mid-stream: the client sees the cut, and it counts as the upstream failing', async () => {
    const proxy = await setup()
    const raw = await rawGet(proxy, '/sse?cut=3')
    const read = await fetchRead(`${proxy.url}/sse?cut=3`)
    expect(await raw.closed).toBe('fin')
    const [cut] = parseResponses(raw.text())
    expect(cut).toMatchObject({ status: 200, body: 'data: 0\n\ndata: 1\n\ndata: 2\n\n', complete: false })
    expect(await read.ended).toBe('error')
    expect(read.text()).toBe('data: 0\n\ndata: 1\n\ndata: 2\n\n')
    await proxy.sink.waitFor(2)
    expect(proxy.sink.outcomes()).toEqual(Array(2).fill({ color: 'blue', status: 200, errorKind: 'reset' }))
  })

  it('a shutdown deadline (SIGTERM) cuts it the same way, recorded as our cut', async () => {
    const proxy = await setup()
    const raw = await rawGet(proxy, '/sse')
    const read = await fetchRead(`${proxy.url}/sse`)
    await until(() => events(raw.text()) >= 2 && events(read.text()) >= 2)
    await proxy.proxy.close(50)
    expect(await raw.closed).toBe('fin')
    expect(parseResponses(raw.text())[0]).toMatchObject({ status: 200, complete: false })
    expect(await read.ended).toBe('error')
    expect(proxy.sink.outcomes()).toEqual(Array(2).fill({ color: 'blue', status: 200, errorKind: undefined }))
  })

  it('an HTTP/1.0 client (a close-delimited body) gets a reset when the stream is cut, a plain close when it ends', async () => {
    const proxy = await setup()
    const ended = await rawGet(proxy, '/sse?n=3', '1.0')
    expect(await ended.closed).toBe('fin')
    const [whole] = parseResponses(ended.text())
    expect(whole!.head['transfer-encoding']).toBeUndefined()
    expect(whole!.head['content-length']).toBeUndefined()
    expect(whole!.body).toBe('data: 0\n\ndata: 1\n\ndata: 2\n\n')

    const cut = await rawGet(proxy, '/sse', '1.0')
    await until(() => events(cut.text()) >= 2)
    proxy.proxy.drainColor('blue', 0)
    expect(await cut.closed).toBe('reset')
    await proxy.sink.waitFor(2)
    expect(proxy.sink.outcomes()).toEqual(Array(2).fill({ color: 'blue', status: 200, errorKind: undefined }))
  })
})

describe('Content-Length bodies', () => {
  it('a body the upstream sends whole ends cleanly, the connection kept alive', async () => {
    const proxy = await setup()
    const raw = await rawGet(proxy, '/file')
    await until(() => parseResponses(raw.text())[0]?.complete === true)
    expect(parseResponses(raw.text())[0]!.body).toHaveLength(1000)
    expect(raw.socket.destroyed).toBe(false)
    raw.socket.destroy()
    const read = await fetchRead(`${proxy.url}/file`)
    expect(await read.ended).toBe('done')
    expect(read.text()).toHaveLength(1000)
  })

  it('an upstream that breaks mid-body: the connection closes short of the length, fetch rejects, an upstream error', async () => {
    const proxy = await setup()
    const raw = await rawGet(proxy, '/file?cut=300')
    const read = await fetchRead(`${proxy.url}/file?cut=300`)
    expect(await raw.closed).toBe('fin')
    const [cut] = parseResponses(raw.text())
    expect(cut).toMatchObject({ status: 200, complete: false })
    expect(cut!.body).toHaveLength(300)
    expect(await read.ended).toBe('error')
    await proxy.sink.waitFor(2)
    expect(proxy.sink.outcomes()).toEqual(Array(2).fill({ color: 'blue', status: 200, errorKind: 'reset' }))
  })

  it('a shutdown deadline cuts it short of its length; not counted against the colour', async () => {
    const proxy = await setup()
    const raw = await rawGet(proxy, '/file')
    const read = await fetchRead(`${proxy.url}/file`)
    await until(() => raw.text().includes('xxxxx') && read.text().length > 0)
    await proxy.proxy.close(0)
    expect(await raw.closed).toBe('fin')
    expect(parseResponses(raw.text())[0]).toMatchObject({ status: 200, complete: false })
    expect(await read.ended).toBe('error')
    const outcomes = await proxy.sink.waitFor(2)
    for (const o of outcomes) expect(countsAsError(o.status, o.errorKind, o.ttfbMs, o.durationMs, 5_000)).toBe(false)
  })

  it('a colour drain leaves it to finish: a body of known length ends by itself', async () => {
    const proxy = await setup()
    const read = await fetchRead(`${proxy.url}/file`)
    await until(() => read.text().length > 0)
    proxy.proxy.drainColor('blue', 0)
    expect(await read.ended).toBe('done')
    expect(read.text()).toHaveLength(1000)
  })
})

describe('a revert', () => {
  it('cuts a stream on green when auto-revert sends green to 0 and drain.deadline passes', async () => {
    let failing = false
    const green: UpstreamHandler = (req, res) => {
      if (req.url?.startsWith('/sse') === true) {
        streams(req, res)
        return
      }
      res.writeHead(failing ? 503 : 200, { 'content-type': 'text/plain' }).end('green')
    }
    const blueUpstream = resources.add(await startUpstream('blue'))
    const greenUpstream = resources.add(await startUpstream('green', green))
    const app = resources.add(
      await startTestApp(
        await testConfig([blueUpstream.url], [greenUpstream.url], {
          split: { green: 50 },
          sticky: { keys: ['header:x-user-id'], cookie: '' },
          autoRevert: { enabled: true, window: '10s', maxErrorRate: 0.2 },
          drain: { deadline: '200ms' },
        }),
      ),
    )
    // A user on green.
    let user = ''
    for (let i = 0; user === '' && i < 200; i++) {
      const res = await fetch(app.proxyUrl, { headers: { 'x-user-id': `viewer-${i}` } })
      await res.text()
      if (res.headers.get('x-switchyard-color') === 'green') user = `viewer-${i}`
    }
    expect(user).not.toBe('')
    const read = await fetchRead(`${app.proxyUrl}/sse`, { 'x-user-id': user })
    await until(() => events(read.text()) >= 2)

    failing = true
    for (let i = 0; i < 2_000 && app.controller.state().greenBuckets !== 0; i++) {
      const res = await fetch(app.proxyUrl, { headers: { 'x-user-id': `load-${i}` } })
      await res.text()
    }
    expect(app.controller.state().greenBuckets).toBe(0)
    expect(((await admin(app, 'GET', '/v1/split')).body as { reverted: unknown }).reverted).not.toBeNull()

    expect(await read.ended).toBe('error')
    expect(events(read.text())).toBeGreaterThanOrEqual(2)
  })
})
