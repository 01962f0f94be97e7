import { spawn } from 'node:child_process'
import cluster from 'node:cluster'
import net from 'node:net'

/**
 * More file descriptors accepting on the proxy's one listening socket.
 *
 * libuv (1.46, node 20) accepts one connection each time epoll reports the listening socket
 * ready, and a loop that has more ready sockets than it takes per epoll_wait (1,024) sees the
 * listener again only after a turn through the others. On one saturated core with 1,000
 * clients connecting at once that was one accept every few ms: the last connections were
 * accepted 1–5 s after their handshake, and their first requests were the ones wrk counted
 * as over 2 s (a packet capture: every such request was a connection's first; none after).
 * epoll reports each fd of a socket on its own, so with N fds a turn accepts up to N
 * connections, from the one queue the kernel keeps for the socket.
 *
 * Node 20 has no dup() and no SO_REUSEPORT (net's `reusePort` came in 22.12), but passing a
 * handle to another process over IPC sends a copy of its fd (SCM_RIGHTS). A helper process
 * receives the listener's handle and sends it back EXTRA times, never listening on it
 * itself, and exits; each copy that comes back is listened on by a `net.Server` of our own
 * whose connections go to the main server's 'connection' listeners, exactly as the main
 * server's own (a TLS server wraps them then). Cluster workers are skipped: their primary
 * accepts for them. The one thing used that node does not document is a server's `_handle`
 * (the listening handle, sent as it is so that the helper never listens on it: a net.Server
 * sent whole would listen in the helper, which could accept a client's connection meanwhile).
 */

/**
 * Copies of the listener's fd besides its own: up to 32 accepts a turn. With four, a proxy
 * idle long enough for its upstream pools to close took a burst of 1,000 new connections
 * slowly: each turn accepted four more while serving all accepted so far, and the last waited
 * in the kernel's queue past 2 s (by hand, 4 of 6 such bursts lost 72-359 requests; with 16,
 * 32 or 64 fds none of 6 each). An fd with nothing to accept costs an EAGAIN only when a
 * connection arrives, and a connection per request measured the same req/s with 4 and 32.
 * README → Performance.
 */
export const EXTRA_ACCEPTORS = 31

/**
 * The listen backlog of the proxy's socket, given to its own fd and to every copy: listening
 * on a copy sets the one socket's backlog again, and node's default (511) then undid a larger
 * one. Past the backlog the kernel drops a SYN, and the client sends it again a second later.
 * The kernel caps it at net.core.somaxconn (4,096 on kernels since 5.4).
 */
export const LISTEN_BACKLOG = 4096

/**
 * The helper: gets the handle, sends it back `count` times (node queues a handle until the one
 * before it is acknowledged), closes its own copy once all are out, and exits as its channel
 * closes. `on`, not `once`: a 'message' listener is what keeps its channel, and it, alive.
 */
const HELPER = `let left = 0
process.on('message', (count, handle) => {
  if (left > 0 || handle === undefined) return
  left = count
  const sent = () => { if (--left === 0) { handle.close(); process.disconnect() } }
  for (let i = 0; i < count; i++) process.send('acceptor', handle, undefined, sent)
})`

/**
 * How the main server sets up the sockets it accepts, from the fields node keeps its options in
 * (net.Server's constructor): an extra acceptor sets up its own the same way.
 */
function socketOptionsOf(main: net.Server): net.ServerOpts {
  const kept = main as unknown as { allowHalfOpen?: boolean; noDelay?: boolean; keepAlive?: boolean; keepAliveInitialDelay?: number; pauseOnConnect?: boolean }
  return {
    allowHalfOpen: kept.allowHalfOpen === true,
    noDelay: kept.noDelay === true,
    keepAlive: kept.keepAlive === true,
    // Kept in seconds.
    keepAliveInitialDelay: (kept.keepAliveInitialDelay ?? 0) * 1000,
    pauseOnConnect: kept.pauseOnConnect === true,
  }
}

export class ExtraAcceptors {
  readonly #main: net.Server
  readonly #servers: net.Server[] = []
  #closed = false
  #helper: ReturnType<typeof spawn> | undefined = undefined

  constructor(main: net.Server) {
    this.#main = main
  }

  /** How many extra fds accept now. */
  get count(): number {
    return this.#servers.length
  }

  /**
   * Asks a helper for `count` copies of the main server's listening fd and accepts on each as
   * it comes back; the main server keeps accepting meanwhile. When no copy can be had the
   * proxy accepts on its one fd, as before, and `failed` says why (one log line).
   */
  start(count: number, failed: (reason: string) => void): void {
    const handle = (this.#main as unknown as { _handle?: { fd?: number } | null })._handle
    if (count <= 0 || cluster.isWorker || this.#closed || typeof handle?.fd !== 'number' || handle.fd < 0) return
    let received = 0
    let reported = false
    const fail = (reason: string): void => {
      if (reported || this.#closed) return
      reported = true
      failed(`no more fds accepting on the proxy's socket: ${reason}`)
    }
    // No NODE_OPTIONS: a preload of the proxy's has no business in a five-line helper.
    const env = { ...process.env }
    delete env.NODE_OPTIONS
    try {
      const helper = spawn(process.execPath, ['-e', HELPER], { stdio: ['ignore', 'ignore', 'ignore', 'ipc'], env })
      this.#helper = helper
      helper.on('message', (message: unknown, copy: unknown) => {
        if (message !== 'acceptor' || copy === undefined) return
        received++
        this.#accept(copy)
      })
      helper.once('error', (err) => fail(`its helper process failed: ${err.message}`))
      helper.once('exit', (code) => {
        this.#helper = undefined
        if (received === 0) fail(`its helper process exited with ${code ?? 'a signal'} and sent none`)
      })
      helper.send(count, handle as net.Server)
      // Neither the helper nor its channel keeps the proxy alive.
      helper.unref()
      ;(helper.channel as { unref?: () => void } | null | undefined)?.unref?.()
    } catch (err) {
      // The proxy listens already: it goes on with its one fd.
      fail(`no helper process: ${(err as Error).message}`)
      this.#helper?.kill()
    }
  }

  #accept(copy: unknown): void {
    if (this.#closed) {
      ;(copy as { close(): void }).close()
      return
    }
    const main = this.#main
    const server = net.createServer(socketOptionsOf(main), (socket) => {
      main.emit('connection', socket)
    })
    // An accept that fails (EMFILE) leaves the fd listening, and the main fd meets the same.
    server.on('error', () => undefined)
    // A handle's backlog is read from the arguments only (net.Server.listen), not from an options object.
    server.listen(copy, LISTEN_BACKLOG)
    this.#servers.push(server)
  }

  /** Stops accepting on every extra fd; resolves once the connections each accepted have all closed. */
  close(): Promise<void> {
    this.#closed = true
    this.#helper?.kill()
    return Promise.all(this.#servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve())))).then(() => undefined)
  }
}
