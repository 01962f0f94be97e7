/**
 * `timeouts.upstreamKeepAlive`: how long an idle upstream connection is kept for the next
 * request, on both engines. An upstream that closes idle connections sooner without saying so
 * (Gunicorn's 2 s) meets requests written as it closes, and one with a body cannot be resent;
 * the operator sets the keep-alive under the upstream's own, or 0 for a connection a request.
 */
import http from 'node:http'
import type { Socket } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { recordingUpstream, type RecordingUpstream } from '../helpers/raw-http.js'
import { send, startProxy, TIMEOUTS, type TestProxy } from '../helpers/upstream-proxy-harness.js'
import { startUpstream, type Upstream } from '../helpers/upstream-server.js'
import { until } from '../helpers/wait.js'

let upstream: Upstream | undefined
let proxy: TestProxy | undefined

afterEach(async () => {
  await proxy?.close()
  await upstream?.close()
  proxy = upstream = undefined
})

describe.each(['sockets', 'node'] as const)('timeouts.upstreamKeepAlive (%s engine)', (engine) => {
  it('closes an idle upstream connection once it has been idle that long, and the next request opens another', async () => {
    upstream = await startUpstream('blue')
    proxy = await startProxy({ blue: [upstream.url], green: [upstream.url], engine, timeouts: { upstreamKeepAlive: 300 } })
    expect((await send(proxy.url)).status).toBe(200)
    const answered = performance.now()
    let closedAt = 0
    upstream.sockets[0]!.once('close', () => (closedAt = performance.now()))
    // The default keeps it 4 s (and node's upstream 5 s): closed well before that, and not before its 300 ms.
    await until(() => closedAt > 0, 2_500)
    expect(closedAt - answered).toBeGreaterThanOrEqual(250)
    expect((await send(proxy.url, { method: 'POST', body: 'a body that could not be resent' })).status).toBe(200)
    expect(upstream.sockets).toHaveLength(2)
  })

  it('0 keeps none: each request has its own upstream connection, closed after its answer', async () => {
    upstream = await startUpstream('blue')
    proxy = await startProxy({ blue: [upstream.url], green: [upstream.url], engine, timeouts: { upstreamKeepAlive: 0 } })
    const agent = new http.Agent({ keepAlive: true })
    try {
      for (let i = 0; i < 3; i++) expect((await send(proxy.url, { method: 'POST', body: `request ${i}`, agent })).status).toBe(200)
      expect(upstream.sockets).toHaveLength(3)
      await until(() => upstream!.sockets.every((socket) => socket.destroyed))
    } finally {
      agent.destroy()
    }
  })

  it('a new value applies to the requests after it: kept, then a connection a request', async () => {
    upstream = await startUpstream('blue')
    proxy = await startProxy({ blue: [upstream.url], green: [upstream.url], engine })
    for (let i = 0; i < 3; i++) expect((await send(proxy.url)).status).toBe(200)
    expect(upstream.sockets).toHaveLength(1)
    proxy.proxy.setTimeouts({ ...TIMEOUTS, upstreamKeepAlive: 0 })
    for (let i = 0; i < 2; i++) expect((await send(proxy.url)).status).toBe(200)
    expect(upstream.sockets).toHaveLength(3)
  })
})

/**
 * An upstream whose idle timer fires as the next request arrives, deterministically: it answers
 * the first request of each connection and closes the connection on the second, unanswered.
 */
function closingOnReuse(how: 'FIN' | 'RST'): Promise<RecordingUpstream> {
  const served = new WeakSet<Socket>()
  return recordingUpstream((_head, socket) => {
    if (served.has(socket)) {
      if (how === 'RST') socket.resetAndDestroy()
      else socket.destroy()
      return
    }
    served.add(socket)
    socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')
  })
}

describe('a kept-alive connection the upstream closes as a request is sent (socket engine)', () => {
  let raw: RecordingUpstream | undefined
  afterEach(async () => {
    await raw?.close()
    raw = undefined
  })

  it.each(['FIN', 'RST'] as const)('closed with a %s: a request without a body goes again on a new connection; one with a body is a 502 that names timeouts.upstreamKeepAlive', async (how) => {
    raw = await closingOnReuse(how)
    proxy = await startProxy({ blue: [raw.url], green: [raw.url] })
    expect((await send(proxy.url)).status).toBe(200)
    // Sent on the kept connection, closed unanswered, sent again on a new one.
    expect((await send(proxy.url)).status).toBe(200)
    expect(raw.heads).toHaveLength(3)
    const post = await send(proxy.url, { method: 'POST', body: 'taken once at most' })
    expect(post.status).toBe(502)
    const answer = JSON.parse(post.body) as { code: string; message: string }
    expect(answer.code).toBe('SY_ERR_UPSTREAM_RESET')
    expect(answer.message).toMatch(/kept-alive connection before answering.*timeouts\.upstreamKeepAlive/)
    expect(raw.heads.filter((head) => head.startsWith('POST'))).toHaveLength(1)
    expect(proxy.proxy.health().blue[0]?.lastError).toMatch(/timeouts\.upstreamKeepAlive/)
  })

  it('a new connection closed unanswered is a plain reset: nothing points at the keep-alive', async () => {
    raw = await recordingUpstream((_head, socket) => socket.destroy())
    proxy = await startProxy({ blue: [raw.url], green: [raw.url] })
    const post = await send(proxy.url, { method: 'POST', body: 'x' })
    expect(post.status).toBe(502)
    expect(JSON.parse(post.body)).toMatchObject({ code: 'SY_ERR_UPSTREAM_RESET', message: 'The upstream closed the connection before the response was complete' })
  })
})
