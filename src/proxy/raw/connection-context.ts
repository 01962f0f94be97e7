import type net from 'node:net'
import type { Routes } from '../service-routes.js'
import type { RawConnection } from './connection.js'
import type { DeadlineSweep } from './deadlines.js'
import type { RequestHead } from './head-types.js'

/** What a connection reads of its server. */
export interface ConnectionContext {
  /** The services' lanes now (swapped whole by a reload). */
  routes(): Routes
  readonly maxHeaderSize: number
  /** How long a client may take over one request head; changes with a reload. */
  readonly headerTimeoutMs: number
  /** How long an idle keep-alive connection stays open. */
  readonly keepAliveMs: number
  /** Gives a connection whose next request (its first bytes `rest`) this engine does not carry to node's engine, for good. */
  handOff(socket: net.Socket, rest: Buffer): void
  /** Sends an Upgrade request (its head read, `rest` the bytes after it) to the byte tunnel of its lane. */
  upgrade(head: RequestHead, socket: net.Socket, rest: Buffer): void
  /** Every connection of this engine, for the shutdown and the deadlines' sweep. */
  readonly connections: Set<RawConnection>
  readonly deadlines: DeadlineSweep
  /** A request refused before it was read whole (as node's 'clientError': `code` names the parse error). */
  clientError(error: Error & { code: string }, socket: net.Socket): void
}

/** What an exchange needs of the client's connection. */
export interface ClientSide {
  readonly socket: net.Socket
  /** The request in flight is HTTP/1.0: its answer cannot be chunked. */
  readonly http10: boolean
  /** Whether the connection may carry another request after this answer. */
  keepAlive(): boolean
  /** The exchange is over; `reusable` false: the connection closes after what was written. */
  finished(reusable: boolean): void
  /** The upstream took what was queued: read the request body again. */
  resumeBody(): void
  /**
   * The exchange's upstream must be heard from within `ms` (0: no deadline); past it the
   * connection's sweep calls the exchange's `upstreamTimeout`. Set again at each sign of life.
   */
  upstreamWithin(ms: number): void
}
