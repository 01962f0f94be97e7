import type { ServerResponse } from 'node:http'
import { afterEach, describe, expect, it } from 'vitest'
import { parseResponses, rawConnect, type RawResponse } from '../helpers/raw-http.js'
import { Resources, startProxy, type TestProxy } from '../helpers/upstream-proxy-harness.js'
import { gate, readBody, startUpstream, type Upstream, type UpstreamHandler } from '../helpers/upstream-server.js'
import { sleep, until } from '../helpers/wait.js'

/**
 * Answers before errors: on a keep-alive connection a client pipelines a valid request and then
 * bytes node's parser refuses. The request was forwarded (it may have run: a POST), so its answer
 * must reach the client first, in order; then our 4xx with Connection: close, then the close.
 */

const resources = new Resources()
afterEach(() => resources.closeAll())

const H = 'Host: switchyard.test\r\n'
const GARBAGE = 'garbage\r\n\r\n'

/** `/slow` answers after 200 ms, `/gated` when the test opens `release`; POSTs are counted. */
function pipelineUpstream(release: Promise<void> = Promise.resolve()): { handler: UpstreamHandler; posts: () => number } {
  let posts = 0
  const handler: UpstreamHandler = async (req, res) => {
    const body = (await readBody(req)).toString('latin1')
    if (req.method === 'POST') posts++
    if (req.url === '/slow') await sleep(200)
    if (req.url === '/gated') await release
    const answer = `${req.method} ${req.url} #${req.method === 'POST' ? posts : 0} body=${body}`
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(answer) })
    res.end(answer)
  }
  return { handler, posts: () => posts }
}

async function setup(handler: UpstreamHandler, header?: number): Promise<{ upstream: Upstream; proxy: TestProxy }> {
  const upstream = resources.add(await startUpstream('blue', handler))
  const timeouts = header === undefined ? {} : { timeouts: { header } }
  const proxy = resources.add(await startProxy({ blue: [upstream.url], green: [upstream.url], ...timeouts }))
  return { upstream, proxy }
}

/** Writes `bytes` on one connection and reads until the proxy closes it. */
async function pipeline(proxy: TestProxy, bytes: string): Promise<{ responses: RawResponse[]; how: 'fin' | 'reset'; text: string }> {
  const connection = await rawConnect(proxy.port, bytes)
  const how = await connection.closed
  const text = connection.text()
  return { responses: parseResponses(text), how, text }
}

/** Resolves at the proxy's next 'clientError' (the parse error has happened). */
function nextClientError(proxy: TestProxy): Promise<string> {
  return new Promise((resolve) => proxy.proxy.server.once('clientError', (err: NodeJS.ErrnoException) => resolve(err.code ?? '')))
}

/** Resolves when `res` drained or closed. */
function writable(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done)
      res.off('close', done)
      resolve()
    }
    res.on('drain', done)
    res.on('close', done)
  })
}

function expectRefusal(response: RawResponse | undefined, status: number, code: string): void {
  expect(response).toBeDefined()
  expect(response!.status).toBe(status)
  expect(response!.head.connection).toBe('close')
  expect(response!.complete).toBe(true)
  expect(JSON.parse(response!.body)).toMatchObject({ statusCode: status, code })
}

describe('pipelining: the answers to forwarded requests come before the error', () => {
  it('Content-Length: 010 is ten bytes: the GET takes two bytes of the next request, is answered, then 400', async () => {
    const { handler } = pipelineUpstream()
    const { upstream, proxy } = await setup(handler)
    // node reads 010 as decimal 10 (RFC 9110: 1*DIGIT), as the upstream does: no framing dispute.
    const { responses, how } = await pipeline(proxy, `GET / HTTP/1.1\r\n${H}Content-Length: 010\r\n\r\n01234567GET /two HTTP/1.1\r\n${H}\r\n`)
    expect(responses).toHaveLength(2)
    expect(responses[0]).toMatchObject({ status: 200, body: 'GET / #0 body=01234567GE', complete: true })
    expect(responses[0]!.head.connection).toBe('keep-alive')
    expectRefusal(responses[1], 400, 'SY_ERR_MALFORMED_REQUEST')
    expect(how).toBe('fin')
    expect(upstream.requests.map((r) => r.url)).toEqual(['/'])
    expect(proxy.sink.outcomes()).toEqual([{ color: 'blue', status: 200, errorKind: undefined }])
  })

  it('Content-Length with spaces around it: the POST is answered, then the garbage after it gets 400', async () => {
    const { handler, posts } = pipelineUpstream()
    const { proxy } = await setup(handler)
    const body = 'p'.repeat(42)
    const { responses, how } = await pipeline(proxy, `POST /x HTTP/1.1\r\n${H}Content-Length:  42 \r\n\r\n${body}${GARBAGE}`)
    expect(responses).toHaveLength(2)
    expect(responses[0]).toMatchObject({ status: 200, body: `POST /x #1 body=${body}`, complete: true })
    expectRefusal(responses[1], 400, 'SY_ERR_MALFORMED_REQUEST')
    expect(how).toBe('fin')
    expect(posts()).toBe(1)
  })

  it('a slow answer (200 ms) pipelined with garbage: the whole 200 first, then 400 with Connection: close, then EOF', async () => {
    const { handler } = pipelineUpstream()
    const { proxy } = await setup(handler)
    const { responses, how, text } = await pipeline(proxy, `GET /slow HTTP/1.1\r\n${H}\r\n${GARBAGE}`)
    expect(text.indexOf('HTTP/1.1 200 ')).toBe(0)
    expect(text.indexOf('HTTP/1.1 400 ')).toBeGreaterThan(0)
    expect(responses).toHaveLength(2)
    expect(responses[0]).toMatchObject({ status: 200, body: 'GET /slow #0 body=', complete: true })
    expectRefusal(responses[1], 400, 'SY_ERR_MALFORMED_REQUEST')
    // Nothing after the 400: the proxy closed the connection.
    expect(text.endsWith(responses[1]!.body)).toBe(true)
    expect(how).toBe('fin')
  })

  it('a POST reaches the upstream exactly once and its answer reaches the client, so it has no reason to retry', async () => {
    const release = gate()
    const { handler, posts } = pipelineUpstream(release.promise)
    const { upstream, proxy } = await setup(handler)
    const error = nextClientError(proxy)
    const connection = await rawConnect(proxy.port, `POST /gated HTTP/1.1\r\n${H}Content-Type: text/plain\r\nContent-Length: 5\r\n\r\norder${GARBAGE}`)
    // The parse error is in, and the upstream holds the POST: the 400 must wait for its answer.
    expect(await error).toBe('HPE_INVALID_METHOD')
    await until(() => upstream.requests.length === 1)
    release.open()
    expect(await connection.closed).toBe('fin')
    const responses = parseResponses(connection.text())
    expect(responses[0]).toMatchObject({ status: 200, body: 'POST /gated #1 body=order', complete: true })
    expectRefusal(responses[1], 400, 'SY_ERR_MALFORMED_REQUEST')
    expect(posts()).toBe(1)
    expect(upstream.requests).toHaveLength(1)
    expect(proxy.sink.outcomes()).toEqual([{ color: 'blue', status: 200, errorKind: undefined }])
  })

  it('answers several pipelined requests in order before the 400', async () => {
    const { handler, posts } = pipelineUpstream()
    const { proxy } = await setup(handler)
    const { responses } = await pipeline(
      proxy,
      `GET /slow HTTP/1.1\r\n${H}\r\nPOST /a HTTP/1.1\r\n${H}Content-Length: 1\r\n\r\naGET /b HTTP/1.1\r\n${H}\r\n${GARBAGE}`,
    )
    expect(responses.map((r) => [r.status, r.body.slice(0, 12)])).toEqual([
      [200, 'GET /slow #0'],
      [200, 'POST /a #1 b'],
      [200, 'GET /b #0 bo'],
      [400, '{"statusCode'],
    ])
    expect(posts()).toBe(1)
  })

  it('a response already on the wire when the error arrives is finished, not cut, then 400', async () => {
    const release = gate()
    const upstream = resources.add(
      await startUpstream('blue', async (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain' })
        res.write('first ')
        await release.promise
        res.end('last')
      }),
    )
    const proxy = resources.add(await startProxy({ blue: [upstream.url], green: [upstream.url] }))
    const connection = await rawConnect(proxy.port, `GET / HTTP/1.1\r\n${H}\r\n`)
    await until(() => connection.text().includes('first '))
    const error = nextClientError(proxy)
    connection.socket.write(GARBAGE)
    await error
    release.open()
    expect(await connection.closed).toBe('fin')
    const responses = parseResponses(connection.text())
    expect(responses[0]).toMatchObject({ status: 200, body: 'first last', complete: true })
    expectRefusal(responses[1], 400, 'SY_ERR_MALFORMED_REQUEST')
    expect(proxy.sink.outcomes()).toEqual([{ color: 'blue', status: 200, errorKind: undefined }])
  })

  it('a request whose body turns out malformed gets the 400 in its turn, after the answers before it', async () => {
    const { handler } = pipelineUpstream()
    const { upstream, proxy } = await setup(handler)
    const { responses, how } = await pipeline(
      proxy,
      `GET /slow HTTP/1.1\r\n${H}\r\nPOST /upload HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\nworld\r\n0\r\n\r\n`,
    )
    expect(responses).toHaveLength(2)
    expect(responses[0]).toMatchObject({ status: 200, body: 'GET /slow #0 body=', complete: true })
    expectRefusal(responses[1], 400, 'SY_ERR_MALFORMED_REQUEST')
    expect(how).toBe('fin')
    // The cut upload was cancelled upstream and recorded as the client's 400, not an upstream error.
    await proxy.sink.waitFor(2)
    expect(proxy.sink.outcomes()).toEqual(
      expect.arrayContaining([
        { color: 'blue', status: 200, errorKind: undefined },
        { color: 'blue', status: 400, errorKind: undefined },
      ]),
    )
    const upload = upstream.requests.find((r) => r.url === '/upload')
    if (upload !== undefined) await upload.cancelled
  })

  it('headers over limits.maxHeaderSize after a pending request: its answer, then 431', async () => {
    const { handler } = pipelineUpstream()
    const { proxy } = await setup(handler)
    const { responses } = await pipeline(proxy, `GET /slow HTTP/1.1\r\n${H}\r\nGET /big HTTP/1.1\r\n${H}X-Big: ${'a'.repeat(20_000)}\r\n\r\n`)
    expect(responses).toHaveLength(2)
    expect(responses[0]).toMatchObject({ status: 200, body: 'GET /slow #0 body=' })
    expectRefusal(responses[1], 431, 'SY_ERR_HEADERS_TOO_LARGE')
  })

  it('headers slower than timeouts.header after a pending request: its answer, then 408', async () => {
    const release = gate()
    const { handler } = pipelineUpstream(release.promise)
    const { proxy } = await setup(handler, 200)
    const error = nextClientError(proxy)
    const connection = await rawConnect(proxy.port, `GET /gated HTTP/1.1\r\n${H}\r\nGET /next HTTP/1.1\r\n${H}`)
    expect(await error).toBe('ERR_HTTP_REQUEST_TIMEOUT')
    release.open()
    expect(await connection.closed).toBe('fin')
    const responses = parseResponses(connection.text())
    expect(responses).toHaveLength(2)
    expect(responses[0]).toMatchObject({ status: 200, body: 'GET /gated #0 body=' })
    expectRefusal(responses[1], 408, 'SY_ERR_REQUEST_TIMEOUT')
  })
})

describe('pipelining: what stays as it was', () => {
  it('garbage as the first request gets 400 at once and is never forwarded', async () => {
    const { handler } = pipelineUpstream()
    const { upstream, proxy } = await setup(handler)
    const { responses, how } = await pipeline(proxy, GARBAGE)
    expect(responses).toHaveLength(1)
    expectRefusal(responses[0], 400, 'SY_ERR_MALFORMED_REQUEST')
    expect(how).toBe('fin')
    expect(upstream.requests).toHaveLength(0)
  })

  it('a client that never reads is still cut: the held 400 does not keep its connection forever', { timeout: 40_000 }, async () => {
    // 32 MiB: far more than the loopback socket buffers hold, so the proxy's writes back up.
    const size = 32 * 1024 * 1024
    const upstream = resources.add(
      await startUpstream('blue', async (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size })
        const chunk = Buffer.alloc(64 * 1024, 120)
        for (let sent = 0; sent < size && !res.destroyed; sent += chunk.length) {
          if (!res.write(chunk)) await writable(res)
        }
        res.end()
      }),
    )
    const proxy = resources.add(await startProxy({ blue: [upstream.url], green: [upstream.url] }))
    const error = nextClientError(proxy)
    const connection = await rawConnect(proxy.port, `GET /big HTTP/1.1\r\n${H}\r\n${GARBAGE}`)
    connection.socket.pause()
    await error
    // Cut after the socket's buffer stayed full for a whole stall period (5 to 10 s): the
    // upstream request is cancelled and the exchange ends as a client close.
    await until(() => upstream.requests.length === 1)
    await upstream.requests[0]!.cancelled
    await proxy.sink.waitFor(1)
    expect(proxy.sink.outcomes()).toEqual([{ color: 'blue', status: 499, errorKind: 'client' }])
    connection.socket.destroy()
  })
})
