/**
 * The socket engine's upstream pool against a real server: an idle connection that is already
 * closing (its idle timeout destroyed it, or the upstream sent FIN) is never handed to a request,
 * which would fail a request with a body that cannot be resent (a 502 in the soak, 1 in ~200k).
 */
import net, { type AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { ProxyError } from '../../../src/proxy/errors.js'
import { SocketPool } from '../../../src/proxy/raw/socket-pool.js'
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
})
