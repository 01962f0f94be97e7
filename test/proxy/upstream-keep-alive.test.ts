/**
 * `timeouts.upstreamKeepAlive`: how long an idle upstream connection is kept for the next
 * request, on both engines. An upstream that closes idle connections sooner without saying so
 * (Gunicorn's 2 s) meets requests written as it closes, and one with a body cannot be resent;
 * the operator sets the keep-alive under the upstream's own, or 0 for a connection a request.
 */
import http from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { send, startProxy, TIMEOUTS, type TestProxy } from '../helpers/upstream-proxy-harness.js'
import { until } from '../helpers/wait.js'

/** A node:http upstream that keeps its own connections a minute and notes when each one opened and closed. */
async function countingUpstream(): Promise<{ url: string; opened: Socket[]; closedAt: Map<Socket, number>; close(): Promise<void> }> {
  const opened: Socket[] = []
  const closedAt = new Map<Socket, number>()
  const server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    req.resume()
    req.on('end', () => res.end('ok'))
  })
  server.on('connection', (socket: Socket) => {
    opened.push(socket)
    socket.on('close', () => closedAt.set(socket, performance.now()))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    opened,
    closedAt,
    close: () => {
      server.closeAllConnections()
      return new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

let upstream: Awaited<ReturnType<typeof countingUpstream>> | undefined
let proxy: TestProxy | undefined

afterEach(async () => {
  await proxy?.close()
  await upstream?.close()
  proxy = upstream = undefined
})

describe.each(['sockets', 'node'] as const)('timeouts.upstreamKeepAlive (%s engine)', (engine) => {
  it('closes an idle upstream connection once it has been idle that long, and the next request opens another', async () => {
    upstream = await countingUpstream()
    proxy = await startProxy({ blue: [upstream.url], green: [upstream.url], engine, timeouts: { upstreamKeepAlive: 300 } })
    expect((await send(proxy.url)).status).toBe(200)
    const answered = performance.now()
    const first = upstream.opened[0]!
    // The default keeps it 4 s: closed well before that, and not before its 300 ms.
    await until(() => upstream!.closedAt.has(first), 2_500)
    expect(upstream.closedAt.get(first)! - answered).toBeGreaterThanOrEqual(250)
    expect((await send(proxy.url, { method: 'POST', body: 'a body that could not be resent' })).status).toBe(200)
    expect(upstream.opened).toHaveLength(2)
  })

  it('0 keeps none: each request has its own upstream connection, closed after its answer', async () => {
    upstream = await countingUpstream()
    proxy = await startProxy({ blue: [upstream.url], green: [upstream.url], engine, timeouts: { upstreamKeepAlive: 0 } })
    const agent = new http.Agent({ keepAlive: true })
    try {
      for (let i = 0; i < 3; i++) expect((await send(proxy.url, { method: 'POST', body: `request ${i}`, agent })).status).toBe(200)
      expect(upstream.opened).toHaveLength(3)
      await until(() => upstream!.closedAt.size === 3)
    } finally {
      agent.destroy()
    }
  })

  it('a new value applies to the requests after it: kept, then a connection a request', async () => {
    upstream = await countingUpstream()
    proxy = await startProxy({ blue: [upstream.url], green: [upstream.url], engine })
    for (let i = 0; i < 3; i++) expect((await send(proxy.url)).status).toBe(200)
    expect(upstream.opened).toHaveLength(1)
    proxy.proxy.setTimeouts({ ...TIMEOUTS, upstreamKeepAlive: 0 })
    for (let i = 0; i < 2; i++) expect((await send(proxy.url)).status).toBe(200)
    expect(upstream.opened).toHaveLength(3)
  })
})
