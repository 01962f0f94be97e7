import type http from 'node:http'
import net from 'node:net'
import tls from 'node:tls'
import { refuseNoServiceUpgrade, type Routes } from '../service-routes.js'
import { handleUpgrade } from '../websocket.js'
import { DeadlineSweep } from './deadlines.js'
import type { ConnectionContext } from './connection-context.js'
import { RawConnection } from './connection.js'
import type { RequestHead } from './head-types.js'

/** What the socket engine's listener is built from. */
export interface SocketEngineOptions {
  /** The services' lanes now. */
  readonly routes: () => Routes
  readonly maxHeaderSize: number
  readonly headerTimeoutMs: number
  readonly keepAliveMs: number
  /** HTTPS: the TLS server's options (certificates, SNI); plain TCP when absent. */
  readonly tls?: tls.TlsOptions | undefined
  /**
   * node's engine, never listening itself: it takes the connections whose requests this engine
   * does not carry (a target in asterisk-form or of another scheme, which it answers 400) from
   * that request on.
   */
  readonly node: http.Server
}

/**
 * The listener of the socket engine: a `net` (or `tls`) server whose connections are read by
 * RawConnection. It holds the set of its connections so that a shutdown can close the idle
 * ones and, at its deadline, all of them; connections handed to node's engine are closed
 * through node's server.
 */
export class SocketEngine implements ConnectionContext {
  readonly server: net.Server
  readonly connections = new Set<RawConnection>()
  readonly deadlines = new DeadlineSweep(this.connections)
  readonly maxHeaderSize: number
  headerTimeoutMs: number
  readonly keepAliveMs: number
  readonly #routes: () => Routes
  readonly #node: http.Server

  constructor(options: SocketEngineOptions) {
    this.#routes = options.routes
    this.#node = options.node
    this.maxHeaderSize = options.maxHeaderSize
    this.headerTimeoutMs = options.headerTimeoutMs
    this.keepAliveMs = options.keepAliveMs
    // node's server tracks (and times out) the connections handed to it only once it has 'listened'.
    this.#node.emit('listening')
    const accept = (socket: net.Socket): void => {
      new RawConnection(socket, this)
    }
    // As node's http and https servers open their sockets: half-open over TCP, not over TLS
    // (a connection handed to node's engine, a WebSocket tunnel above all, relies on that).
    this.server =
      options.tls === undefined
        ? net.createServer({ allowHalfOpen: true, noDelay: true }, accept)
        : tls.createServer({ ...options.tls, noDelay: true, ALPNProtocols: ['http/1.1'] }, accept)
    this.server.on('listening', () => this.deadlines.start())
    this.server.on('close', () => this.deadlines.stopWhenEmpty())
  }

  routes(): Routes {
    return this.#routes()
  }

  clientError(error: Error & { code: string }, socket: net.Socket): void {
    this.server.emit('clientError', error, socket)
  }

  handOff(socket: net.Socket, rest: Buffer): void {
    if (rest.length > 0) socket.unshift(rest)
    this.#node.emit('connection', socket)
    socket.resume()
  }

  /** As node's engine: by colour (websocket.ts), or refused when no service matches. */
  upgrade(head: RequestHead, socket: net.Socket, rest: Buffer): void {
    const routes = this.#routes()
    const state = routes.only ?? routes.matcher!.match(head.headers.host, head.target)
    // As node's server hands over an upgraded socket: not flowing until the tunnel reads it.
    ;(socket as { readableFlowing: boolean | null }).readableFlowing = null
    if (state === undefined) refuseNoServiceUpgrade(socket)
    else handleUpgrade(state, { method: head.method, url: head.target, headers: head.headers, socket }, socket, rest)
  }

  /** Closes every connection with nothing in flight (both engines'). */
  closeIdle(): void {
    for (const connection of this.connections) connection.closeIfIdle()
    this.#node.closeIdleConnections()
  }

  /** Destroys every connection (both engines'). */
  closeAll(): void {
    for (const connection of this.connections) connection.socket.destroy()
    this.#node.closeAllConnections()
  }

  /** Stops node's engine's connection checks (it never listened, so there is nothing else to close). */
  stopNode(): void {
    this.#node.close(() => undefined)
  }
}
