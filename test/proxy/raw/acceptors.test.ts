/**
 * The extra fds accepting on the proxy's listening socket (src/proxy/raw/acceptors.ts): copies
 * of the listener's fd, got through a helper process over IPC, each accepting on its own and
 * handing its connections to the main server. Shown on real sockets: the copies exist (the
 * test process's own /proc/self/fd), connections they accept are served by the main server's
 * listeners with its socket options, over TCP and TLS, and closing them closes the port; a
 * proxy of either engine has them and closes them with itself.
 */
import { execFileSync } from 'node:child_process'
import { once } from 'node:events'
import { readdirSync, readFileSync, readlinkSync } from 'node:fs'
import net from 'node:net'
import tls from 'node:tls'
import { afterEach, describe, expect, it } from 'vitest'
import { EXTRA_ACCEPTORS, ExtraAcceptors, LISTEN_BACKLOG } from '../../../src/proxy/raw/acceptors.js'
import { HAVE_OPENSSL, makeTestCa } from '../../helpers/tls-certs.js'
import { Resources, send, startProxy } from '../../helpers/upstream-proxy-harness.js'
import { startUpstream } from '../../helpers/upstream-server.js'
import { until } from '../../helpers/wait.js'

const resources = new Resources()
afterEach(() => resources.closeAll())

/** The backlog of the socket listening on 127.0.0.1:`port`, as `ss` shows it (Send-Q of a listener). */
function listenBacklog(port: number): number {
  const line = execFileSync('ss', ['-ltnH', `sport = :${port}`], { encoding: 'utf8' }).trim()
  const backlog = Number(line.split(/\s+/)[2])
  if (!Number.isInteger(backlog)) throw new Error(`no listener on :${port} in ss's answer: ${JSON.stringify(line)}`)
  return backlog
}

/** This process's fds open on the same socket as `server`'s listening fd. */
function fdsOf(server: net.Server): number {
  const fd = (server as unknown as { _handle: { fd: number } })._handle.fd
  const socket = readlinkSync(`/proc/self/fd/${fd}`)
  return readdirSync('/proc/self/fd').filter((name) => {
    try {
      return readlinkSync(`/proc/self/fd/${name}`) === socket
    } catch {
      return false // an fd closed while we looked (readdir's own among them)
    }
  }).length
}

/** The port each server listened on (address() is null once its own fd is closed). */
const portOf = new WeakMap<net.Server, number>()

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo
      portOf.set(server, port)
      resolve(port)
    }),
  )
}

/** Connects and resolves with the connection's error code, or 'connected'. */
function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1')
    socket.once('connect', () => {
      socket.destroy()
      resolve('connected')
    })
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message))
  })
}

/**
 * Starts `count` acceptors on a listening `main`, waits for them, then closes main's own fd:
 * the socket stays open through the copies, so every connection from here on is one an
 * extra acceptor took.
 */
async function onlyAcceptors(main: net.Server, count: number): Promise<ExtraAcceptors> {
  const port = await listen(main)
  const acceptors = new ExtraAcceptors(main)
  const failures: string[] = []
  acceptors.start(count, (reason) => failures.push(reason))
  await until(() => acceptors.count === count || failures.length > 0, 10_000)
  expect(failures).toEqual([])
  expect(fdsOf(main)).toBe(count + 1)
  main.close()
  expect(await tryConnect(port)).toBe('connected')
  return acceptors
}

/** Everything a connection to `port` reads after writing `text` and ending its side. */
function exchange(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }, () => socket.end(text))
    let read = ''
    socket.setEncoding('utf8').on('data', (chunk: string) => (read += chunk))
    socket.once('end', () => resolve(read))
    socket.once('error', reject)
  })
}

describe('extra acceptors', () => {
  it('accept on copies of the listening fd and hand their connections to the main server, with its socket options', { timeout: 20_000 }, async () => {
    const accepted: net.Socket[] = []
    const main = net.createServer({ allowHalfOpen: true }, (socket) => {
      accepted.push(socket)
      // onlyAcceptors' probe closes at once: its answer may meet a reset.
      socket.on('error', () => undefined)
      let read = ''
      socket.setEncoding('utf8').on('data', (chunk: string) => (read += chunk))
      // Half-open: the client has ended its side; the answer still goes out after it.
      socket.once('end', () => socket.end(`got ${read}`))
    })
    const acceptors = await onlyAcceptors(main, 3)
    const port = portOf.get(main)!
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => exchange(port, `hello ${i}`)))
    expect(answers).toEqual(Array.from({ length: 20 }, (_, i) => `got hello ${i}`))
    // The tryConnect probe of onlyAcceptors and the 20: every one through the main server's listener.
    expect(accepted).toHaveLength(21)
    expect(accepted.every((socket) => socket.allowHalfOpen)).toBe(true)
    await acceptors.close()
    expect(await tryConnect(port)).toBe('ECONNREFUSED')
  })

  it('say once why, and leave the main fd accepting, when no helper process can run', { timeout: 20_000 }, async () => {
    const main = net.createServer((socket) => socket.on('error', () => undefined).end('main'))
    const port = await listen(main)
    const acceptors = new ExtraAcceptors(main)
    const failures: string[] = []
    const execPath = process.execPath
    process.execPath = '/nonexistent/switchyard-test/node'
    try {
      acceptors.start(3, (reason) => failures.push(reason))
    } finally {
      process.execPath = execPath
    }
    await until(() => failures.length > 0, 10_000)
    expect(failures).toHaveLength(1)
    expect(failures[0]).toMatch(/^no more fds accepting on the proxy's socket: .*ENOENT/)
    expect(acceptors.count).toBe(0)
    expect(fdsOf(main)).toBe(1)
    expect(await tryConnect(port)).toBe('connected')
    await acceptors.close()
    await new Promise<void>((resolve) => main.close(() => resolve()))
    expect(failures).toHaveLength(1)
  })

  it.skipIf(!HAVE_OPENSSL)('give a TLS server raw connections it wraps in TLS itself', { timeout: 20_000 }, async () => {
    const ca = makeTestCa()
    const leaf = ca.issue('leaf', ['IP:127.0.0.1'])
    const main = tls.createServer({ key: leaf.keyPem, cert: leaf.certPem }, (socket) => socket.end('over tls'))
    const acceptors = await onlyAcceptors(main, 2)
    const port = portOf.get(main)!
    const client = tls.connect({ port, host: '127.0.0.1', ca: ca.ca })
    let read = ''
    client.setEncoding('utf8').on('data', (chunk: string) => (read += chunk))
    await once(client, 'end')
    expect(client.authorized).toBe(true)
    expect(read).toBe('over tls')
    await acceptors.close()
    expect(await tryConnect(port)).toBe('ECONNREFUSED')
  })
})

describe('extra acceptors over the proxy', () => {
  for (const engine of ['sockets', 'node'] as const) {
    it(`listen on ${EXTRA_ACCEPTORS} more fds of the proxy's socket, serve through them, and close with it (${engine} engine)`, { timeout: 20_000 }, async () => {
      const upstream = resources.add(await startUpstream('blue'))
      const proxy = await startProxy({ blue: [upstream.url], green: [upstream.url], engine })
      await until(() => fdsOf(proxy.proxy.server) === EXTRA_ACCEPTORS + 1, 10_000)
      // Listening on each copy did not set the socket's backlog back to node's 511.
      expect(listenBacklog(proxy.port)).toBe(Math.min(LISTEN_BACKLOG, Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8'))))
      const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => send(proxy.url, { path: `/${i}`, headers: { connection: 'close' } })))
      expect(answers.map((answer) => answer.status)).toEqual(Array.from({ length: 40 }, () => 200))
      await proxy.close()
      expect(await tryConnect(proxy.port)).toBe('ECONNREFUSED')
    })
  }
})
