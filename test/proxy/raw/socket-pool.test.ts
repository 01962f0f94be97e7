/**
 * The socket engine's upstream pool against a real server: an idle connection that is already
 * closing (its idle timeout destroyed it, or the upstream sent FIN) is never handed to a request,
 * which would fail a request with a body that cannot be resent (a 502 in the soak, 1 in ~200k).
 */
import net, { type AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { ProxyError } from '../../../src/proxy/errors.js'
import { idleAtMost, MAX_CONNECTING, SocketPool } from '../../../src/proxy/raw/socket-pool.js'
import { recordingUpstream } from '../../helpers/raw-http.js'
import { send, startProxy } from '../../helpers/upstream-proxy-harness.js'
import { until } from '../../helpers/wait.js'

let server: net.Server | undefined
let pool: SocketPool | undefined
const accepted: net.Socket[] = []

afterEach(async () => {
  pool?.close()
  for (const socket of accepted.splice(0)) socket.destroy()
  await new Promise<void>((resolve) => (server === undefined ? resolve() : server.close(() => resolve())))
  server = pool = undefined
})

async function listen(): Promise<number> {
  server = net.createServer((socket) => {
    accepted.push(socket)
    socket.on('error', () => undefined)
  })
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve))
  return (server.address() as AddressInfo).port
}

function acquire(p: SocketPool): Promise<{ socket: net.Socket; reused: boolean }> {
  return new Promise((resolve, reject) =>
    p.acquire((error: ProxyError | undefined, socket, reused) => (error === undefined ? resolve({ socket: socket!, reused }) : reject(error))),
  )
}

describe('SocketPool', () => {
  it('reuses an idle connection, last in first out', async () => {
    pool = new SocketPool({ hostname: '127.0.0.1', port: await listen(), tls: undefined }, 1000, 0)
    const first = await acquire(pool)
    expect(first.reused).toBe(false)
    pool.release(first.socket, true)
    const again = await acquire(pool)
    expect(again).toEqual({ socket: first.socket, reused: true })
  })

  it('closes each idle connection once it has been idle for idleMs, oldest first, and none before', async () => {
    pool = new SocketPool({ hostname: '127.0.0.1', port: await listen(), tls: undefined }, 1000, 0, 300)
    const [older, newer] = [await acquire(pool), await acquire(pool)]
    const closedAt = new Map<net.Socket, number>()
    for (const { socket } of [older, newer]) socket.on('close', () => closedAt.set(socket, performance.now()))
    const order = () => [...closedAt.keys()]
    const releasedOlder = performance.now()
    pool.release(older.socket, true)
    await until(() => performance.now() - releasedOlder >= 150)
    const releasedNewer = performance.now()
    pool.release(newer.socket, true)
    await until(() => closedAt.size === 2)
    expect(closedAt.get(older.socket)! - releasedOlder).toBeGreaterThanOrEqual(300)
    expect(closedAt.get(newer.socket)! - releasedNewer).toBeGreaterThanOrEqual(300)
    expect(order()).toEqual([older.socket, newer.socket])
    // The check stops with the last idle connection gone: a new one is kept its full time again.
    const fresh = await acquire(pool)
    expect(fresh.reused).toBe(false)
    const releasedFresh = performance.now()
    pool.release(fresh.socket, true)
    await new Promise<void>((resolve) => fresh.socket.once('close', () => resolve()))
    expect(performance.now() - releasedFresh).toBeGreaterThanOrEqual(300)
  })

  it('keeps an idle connection that is reused before idleMs', async () => {
    pool = new SocketPool({ hostname: '127.0.0.1', port: await listen(), tls: undefined }, 1000, 0, 1000)
    const first = await acquire(pool)
    const started = performance.now()
    for (let round = 0; performance.now() - started < 700; round++) {
      pool.release(first.socket, true)
      await until(() => performance.now() - started >= (round + 1) * 100)
      const again = await acquire(pool)
      expect(again).toEqual({ socket: first.socket, reused: true })
    }
    expect(first.socket.destroyed).toBe(false)
  })

  it('opens at most MAX_CONNECTING connections at once on a cold pool; the requests past them get one soon after', async () => {
    pool = new SocketPool({ hostname: '127.0.0.1', port: await listen(), tls: undefined }, 1000, 0)
    const burst = MAX_CONNECTING + 8
    const got = Array.from({ length: burst }, () => acquire(pool!))
    expect(pool.pending).toBe(8)
    const sockets = await Promise.all(got)
    expect(new Set(sockets.map((s) => s.socket)).size).toBe(burst)
    expect(sockets.every((s) => !s.reused)).toBe(true)
    expect(pool.pending).toBe(0)
    await until(() => accepted.length === burst)
  })

  it('when every connect is refused, the requests waiting behind them fail too instead of waiting', async () => {
    const port = await listen()
    await new Promise<void>((resolve) => server!.close(() => resolve()))
    server = undefined
    pool = new SocketPool({ hostname: '127.0.0.1', port, tls: undefined }, 1000, 0)
    const outcomes = await Promise.allSettled(Array.from({ length: MAX_CONNECTING + 8 }, () => acquire(pool!)))
    expect(outcomes.every((o) => o.status === 'rejected' && (o.reason as ProxyError).code === 'SY_ERR_UPSTREAM_CONNECT')).toBe(true)
    expect(pool.pending).toBe(0)
  })

  it('never hands out an idle connection that was destroyed but has not closed yet', async () => {
    pool = new SocketPool({ hostname: '127.0.0.1', port: await listen(), tls: undefined }, 1000, 0)
    const first = await acquire(pool)
    pool.release(first.socket, true)
    // As the idle timeout does; 'close' comes later, so the socket is still in the idle list here.
    first.socket.destroy()
    const next = await acquire(pool)
    expect(next.socket).not.toBe(first.socket)
    expect(next.reused).toBe(false)
  })

  it('never hands out an idle connection the upstream ended', async () => {
    pool = new SocketPool({ hostname: '127.0.0.1', port: await listen(), tls: undefined }, 1000, 0)
    const first = await acquire(pool)
    pool.release(first.socket, true)
    await until(() => accepted.length === 1)
    accepted[0]!.end()
    await until(() => first.socket.readableEnded || first.socket.destroyed)
    const next = await acquire(pool)
    expect(next.socket).not.toBe(first.socket)
    expect(next.socket.destroyed).toBe(false)
  })

  it('keeps a connection idle a second less than its upstream said (Keep-Alive timeout), and never one whose upstream keeps it a second or less', async () => {
    pool = new SocketPool({ hostname: '127.0.0.1', port: await listen(), tls: undefined }, 1000, 0, 4000)
    const [brief, short, plain] = [await acquire(pool), await acquire(pool), await acquire(pool)]
    const closedAt = new Map<net.Socket, number>()
    for (const { socket } of [brief, short, plain]) socket.on('close', () => closedAt.set(socket, performance.now()))
    idleAtMost(brief.socket, 1000)
    idleAtMost(short.socket, 1600)
    const released = performance.now()
    for (const { socket } of [brief, short, plain]) pool.release(socket, true)
    // A second or less: closed at once, not kept.
    expect(brief.socket.destroyed).toBe(true)
    await until(() => closedAt.has(short.socket), 5000)
    // 600 ms to keep, then the next check (every 500 ms): closed before the upstream's own 1.6 s.
    expect(closedAt.get(short.socket)! - released).toBeGreaterThanOrEqual(600)
    expect(closedAt.get(short.socket)! - released).toBeLessThan(1600)
    // The one whose upstream said nothing keeps its idleMs, and is the one handed out.
    expect(plain.socket.destroyed).toBe(false)
    expect(await acquire(pool)).toEqual({ socket: plain.socket, reused: true })
  })
})

describe('an upstream that announces its keep-alive time (socket engine)', () => {
  it('a connection its upstream keeps a second or less carries one request; one kept longer carries the next', async () => {
    let answer = 'Keep-Alive: timeout=1'
    const connections = new Set<net.Socket>()
    const upstream = await recordingUpstream((_head, socket) => {
      connections.add(socket)
      socket.write(`HTTP/1.1 200 OK\r\n${answer}\r\nContent-Length: 2\r\n\r\nok`)
    })
    const proxy = await startProxy({ blue: [upstream.url], green: [upstream.url] })
    try {
      const get = async () => (await send(proxy.url)).status
      expect([await get(), await get()]).toEqual([200, 200])
      expect(connections.size).toBe(2)
      answer = 'Keep-Alive: timeout=5, max=100'
      expect([await get(), await get(), await get()]).toEqual([200, 200, 200])
      // The first of these opened one more; the next two reused it.
      expect(connections.size).toBe(3)
    } finally {
      await proxy.close()
      await upstream.close()
    }
  })
})
