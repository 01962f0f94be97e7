import net from 'node:net'
import tls from 'node:tls'
import { ProxyError, toProxyError } from '../errors.js'
import { UPSTREAM_KEEP_ALIVE_MS } from '../types.js'
import { readBuffer } from './read-buffer.js'

/** Where a pool connects: one upstream origin (see UpstreamTarget). */
export interface SocketTarget {
  readonly hostname: string
  readonly port: number
  /** TLS options of an https:// target; undefined for http://. */
  readonly tls: { readonly ca?: string; readonly rejectUnauthorized: boolean; readonly servername?: string } | undefined
}

/** Gets a socket: `reused` tells that it already carried a request (it may have gone stale). */
export type SocketCallback = (error: ProxyError | undefined, socket: net.Socket | undefined, reused: boolean) => void

/**
 * How many connections to one target may be opening at once; more requests wait for one of
 * them or for a connection to come free. Without it a burst on a cold pool (a proxy just
 * started, a pool idle for 4 s, a colour just switched to) opens one connection per request at
 * once, and past the upstream's listen backlog (nginx's 511) SYNs are dropped and retried a
 * second later: at c1000 on a cold pool, p99 over 1.1 s and requests over 2 s in most runs.
 */
export const MAX_CONNECTING = 32

/** How often (at most) a pool with idle connections looks for ones idle too long: by default they close within 4.0–4.5 s. */
const IDLE_CHECK_MS = 500
/** ... and at least this seldom, however short the keep-alive. */
const IDLE_CHECK_MIN_MS = 25

/**
 * Who uses a pooled socket now: the pool's listeners stay on the socket for its whole life and
 * pass its events to the exchange that owns it, so that a request adds no listeners of its own.
 */
export interface SocketOwner {
  /** Bytes from the upstream, valid only during the call (plain sockets read into a shared buffer: read-buffer.ts). */
  upstreamData(chunk: Buffer): void
  /** The connection ended (FIN), failed (`error`) or closed. */
  upstreamEnd(error: Error | undefined): void
  upstreamDrain(): void
}

const OWNER = Symbol('switchyard.owner')
/** Until when an idle socket may stay in its pool (performance.now() ms). */
const IDLE_UNTIL = Symbol('switchyard.idleUntil')
/** How long the upstream said it keeps the connection idle (Keep-Alive `timeout=N`), in ms. */
const UPSTREAM_IDLE = Symbol('switchyard.upstreamIdle')
type PooledSocket = net.Socket & { [OWNER]?: SocketOwner | undefined; [IDLE_UNTIL]?: number; [UPSTREAM_IDLE]?: number }

/** Hands a pooled socket's events to `owner` (undefined: nobody; the socket is idle or leaving). */
export function setOwner(socket: net.Socket, owner: SocketOwner | undefined): void {
  ;(socket as PooledSocket)[OWNER] = owner
}

/**
 * How much sooner than its upstream we close an idle connection it said it keeps `timeout=N`
 * (undici keeps 2 s; our check runs every 0.5 s): writing a request as the upstream closes loses it.
 */
const UPSTREAM_IDLE_MARGIN_MS = 1_000

/** Notes the idle time an upstream's answer announced on its connection: the pool keeps it idle for less. */
export function idleAtMost(socket: net.Socket, upstreamMs: number): void {
  ;(socket as PooledSocket)[UPSTREAM_IDLE] = upstreamMs
}

function onData(this: PooledSocket, chunk: Buffer): void {
  const owner = this[OWNER]
  // Bytes from an idle upstream: it broke HTTP (or closes); the connection is not reused.
  if (owner === undefined) this.destroy()
  else owner.upstreamData(chunk)
}

/** A plain socket's read into the shared buffer (see read-buffer.ts): valid only during this call. */
function onRead(this: PooledSocket, bytes: number, buf: Uint8Array): boolean {
  onData.call(this, (buf as Buffer).subarray(0, bytes))
  return true
}

function onEnd(this: PooledSocket): void {
  this[OWNER]?.upstreamEnd(undefined)
}

function onError(this: PooledSocket, err: Error): void {
  this[OWNER]?.upstreamEnd(err)
}

function onDrain(this: PooledSocket): void {
  this[OWNER]?.upstreamDrain()
}

/** A failure before the connection was up: nothing was sent, so it is a connect failure, named as node's engine names it. */
function connectError(err: Error): ProxyError {
  const error = toProxyError(err)
  return error.kind === 'connect' ? error : new ProxyError('SY_ERR_UPSTREAM_CONNECT', err)
}

/**
 * The keep-alive connections to one upstream origin for the socket engine: an idle stack reused
 * last-in first-out (the warmest socket), new connections under the connect timeout, and when
 * `maxConnections` caps the pool, a queue of waiting requests served as sockets come free.
 * Idle connections are closed after `idleMs` by one check per pool, not a node timer per
 * socket set and cleared at every request: the stack is in the order sockets went idle, so the
 * ones idle too long are at its bottom.
 */
export class SocketPool {
  readonly #target: SocketTarget
  readonly #connectTimeoutMs: number
  readonly #maxConnections: number
  readonly #idleMs: number
  #idle: PooledSocket[] = []
  readonly #waiting: SocketCallback[] = []
  #open = 0
  /** Connections being opened (counted in #open too). */
  #connecting = 0
  #closed = false
  #idleCheck: NodeJS.Timeout | undefined = undefined

  /** `idleMs`: how long an idle connection is kept (`timeouts.upstreamKeepAlive`); 0 keeps none, a connection per request. */
  constructor(target: SocketTarget, connectTimeoutMs: number, maxConnections: number, idleMs = UPSTREAM_KEEP_ALIVE_MS) {
    this.#target = target
    this.#connectTimeoutMs = connectTimeoutMs
    this.#maxConnections = maxConnections
    this.#idleMs = idleMs
  }

  /** Requests waiting for a connection (a capped pool, or MAX_CONNECTING being opened). */
  get pending(): number {
    return this.#waiting.length
  }

  /** Calls back with an idle socket, a new one, or (capped and full) once one comes free. */
  acquire(callback: SocketCallback): void {
    if (this.#closed) {
      callback(new ProxyError('SY_ERR_UPSTREAM_CONNECT', new Error('the upstream pool is closed')), undefined, false)
      return
    }
    let socket = this.#idle.pop()
    // One that timed out or got the upstream's FIN is still listed until its 'close' event: never hand it out.
    while (socket !== undefined && (socket.destroyed || !socket.writable || socket.readableEnded)) {
      socket.destroy()
      socket = this.#idle.pop()
    }
    if (socket !== undefined) {
      callback(undefined, socket, true)
      return
    }
    if (this.#mayOpen()) this.#connect(callback)
    else this.#waiting.push(callback)
  }

  #mayOpen(): boolean {
    return this.#connecting < MAX_CONNECTING && (this.#maxConnections === 0 || this.#open < this.#maxConnections)
  }

  /** Opens connections for waiting requests, as many as may be opening at once. */
  #serveWaiting(): void {
    while (!this.#closed && this.#waiting.length > 0 && this.#mayOpen()) this.#connect(this.#waiting.shift()!)
  }

  /** Takes back a socket whose exchange ended cleanly; `reusable` false closes it. */
  release(socket: net.Socket, reusable: boolean): void {
    const pooled = socket as PooledSocket
    if (!reusable || this.#idleMs === 0 || this.#closed || socket.destroyed || !socket.writable) {
      socket.destroy()
      return
    }
    const upstreamIdle = pooled[UPSTREAM_IDLE]
    // An upstream that keeps connections idle for a second or less: not worth the race.
    if (upstreamIdle !== undefined && upstreamIdle <= UPSTREAM_IDLE_MARGIN_MS) {
      socket.destroy()
      return
    }
    const waiter = this.#waiting.shift()
    if (waiter !== undefined) {
      waiter(undefined, socket, true)
      return
    }
    pooled[OWNER] = undefined
    pooled[IDLE_UNTIL] = performance.now() + (upstreamIdle === undefined ? this.#idleMs : Math.min(this.#idleMs, upstreamIdle - UPSTREAM_IDLE_MARGIN_MS))
    this.#idle.push(pooled)
    if (this.#idleCheck === undefined) {
      // An eighth of a short keep-alive (timeouts.upstreamKeepAlive), but not a busy loop for a tiny one.
      this.#idleCheck = setInterval(() => this.#closeStale(), Math.max(IDLE_CHECK_MIN_MS, Math.min(IDLE_CHECK_MS, this.#idleMs / 8)))
      this.#idleCheck.unref()
    }
  }

  /** Closes the connections idle past their time (idleMs, or less as their upstream said); the check stops when none is idle. */
  #closeStale(): void {
    const now = performance.now()
    // Not in deadline order once an upstream said less: each idle one is looked at, twice a second.
    this.#idle = this.#idle.filter((socket) => {
      if (socket[IDLE_UNTIL]! > now) return true
      socket.destroy()
      return false
    })
    if (this.#idle.length === 0) this.#stopIdleCheck()
  }

  #stopIdleCheck(): void {
    clearInterval(this.#idleCheck)
    this.#idleCheck = undefined
  }

  /** Gives up a waiting callback (its client left before a socket came free). */
  cancel(callback: SocketCallback): void {
    const index = this.#waiting.indexOf(callback)
    if (index !== -1) this.#waiting.splice(index, 1)
  }

  /** Closes idle connections and refuses new requests; busy ones close as they are released. */
  close(): void {
    this.#closed = true
    this.#stopIdleCheck()
    for (const socket of this.#idle.splice(0)) socket.destroy()
    const error = new ProxyError('SY_ERR_UPSTREAM_CONNECT', new Error('the upstream pool is closed'))
    for (const waiter of this.#waiting.splice(0)) waiter(error, undefined, false)
  }

  #connect(callback: SocketCallback): void {
    const target = this.#target
    this.#open++
    this.#connecting++
    let settled = false
    const socket: PooledSocket =
      target.tls === undefined
        ? net.connect({ host: target.hostname, port: target.port, noDelay: true, onread: { buffer: readBuffer, callback: onRead } })
        : tls.connect({ host: target.hostname, port: target.port, servername: target.tls.servername ?? (net.isIP(target.hostname) === 0 ? target.hostname : undefined), ...target.tls, ALPNProtocols: ['http/1.1'] })
    socket.setNoDelay(true)
    const timer = setTimeout(() => fail(new ProxyError('SY_ERR_UPSTREAM_CONNECT', new Error(`connect timed out after ${this.#connectTimeoutMs} ms`))), this.#connectTimeoutMs)
    const fail = (error: ProxyError): void => {
      if (settled) return
      settled = true
      this.#connecting--
      clearTimeout(timer)
      socket.destroy()
      callback(error, undefined, false)
      // Nothing open or opening could serve the waiting requests: they fail as this connect did
      // (each then tries another target of its colour, as a connect failure does).
      if (this.#connecting === 0 && this.#open - 1 === 0) for (const waiter of this.#waiting.splice(0)) waiter(error, undefined, false)
    }
    socket.once(target.tls === undefined ? 'connect' : 'secureConnect', () => {
      if (settled) return
      settled = true
      this.#connecting--
      clearTimeout(timer)
      if (target.tls !== undefined) socket.on('data', onData)
      socket.on('end', onEnd)
      socket.on('drain', onDrain)
      callback(undefined, socket, false)
      this.#serveWaiting()
    })
    socket.on('error', (err: Error) => {
      if (settled) onError.call(socket, err)
      else fail(connectError(err))
    })
    socket.once('close', () => {
      this.#open--
      const owner = socket[OWNER]
      if (owner === undefined) {
        const index = this.#idle.indexOf(socket)
        if (index !== -1) this.#idle.splice(index, 1)
      } else {
        owner.upstreamEnd(undefined)
      }
      // A connection went: waiting requests may open their own.
      this.#serveWaiting()
    })
  }
}
