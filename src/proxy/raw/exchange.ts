/*
 * Over 300 lines because one proxied exchange is one state machine: request body, upstream head,
 * response body and every way each can fail settle exactly once, easiest checked side by side.
 */
import type net from 'node:net'
import type { Color } from '../../routing/types.js'
import { describeError, ProxyError, upstreamClosed } from '../errors.js'
import type { Drainable, ProxyState, Recorded, RequestLine } from '../proxy-state.js'
import type { ErrorKind } from '../types.js'
import type { UpstreamPool, UpstreamTarget } from '../upstream-pool.js'
import { errorAnswer } from './answers.js'
import { BodyFramer } from './body-framer.js'
import { ClientBody } from './client-writes.js'
import type { ClientSide } from './connection-context.js'
import { clientHead, finalHead } from './final-head.js'
import { Framing, type ResponseHead } from './http1.js'
import type { MirrorTap } from './mirror-tap.js'
import { writeRead } from './read-buffer.js'
import { idleAtMost, setOwner, type SocketCallback, type SocketOwner } from './socket-pool.js'

/**
 * One request forwarded on a raw upstream socket: the head (and the body, as the connection
 * feeds it) goes up byte for byte; the response comes back with its head rewritten (colour,
 * Set-Cookie, hop-by-hop headers dropped) and its body passed through in its own framing.
 * Records exactly one outcome, whichever side ends it first.
 */
export class RawExchange implements Recorded, Drainable, SocketOwner {
  readonly epoch: number
  readonly color: Color
  readonly request: RequestLine
  readonly startedAt: number
  client: string | undefined = undefined
  requestId: string | undefined = undefined
  readonly #state: ProxyState
  readonly #conn: ClientSide
  readonly #setCookie: string | undefined
  readonly #pool: UpstreamPool
  #target: UpstreamTarget | undefined
  /** The upstream request head, kept while a retry may resend it. */
  #head = ''
  /** No request body: a connect failure (or a stale reused socket) may try again. */
  #retryable = false
  #upstream: net.Socket | undefined = undefined
  #reused = false
  #waiting: SocketCallback | undefined = undefined
  /** Request body pieces that arrived before the upstream socket. */
  #queued: Buffer[] | undefined = undefined
  #bodyDone = true
  #settled = false
  #headSent = false
  #sawResponse = false
  #reusableClient = true
  /** Whether the upstream connection may carry another request after this one. */
  #upstreamReusable = true
  /** The upstream's answer so far, until its head is whole. */
  #response: Buffer | undefined = undefined
  /** The answer's body as the client gets it (and its head until the first body bytes). */
  #out: ClientBody | undefined = undefined
  /** The status of the head that went out (recorded at the end). */
  #statusSent = 200
  #body: BodyFramer | undefined = undefined
  #streaming = false
  #clientPaused = false
  /** The client's buffer is full: the upstream waits, and the deadline is timeouts.send's. */
  #stalled = false
  #headMs = -1
  #ttfbMs = -1
  /** A sampled request's shadow (set by forwardRequest): blue's answer is captured for it as it streams. */
  mirror: MirrorTap | undefined = undefined

  constructor(state: ProxyState, conn: ClientSide, request: RequestLine, color: Color, setCookie: string | undefined, target: UpstreamTarget | undefined, pool: UpstreamPool, startedAt: number) {
    this.epoch = state.epoch
    this.#state = state
    this.#conn = conn
    this.request = request
    this.color = color
    this.#setCookie = setCookie
    this.#target = target
    this.#pool = pool
    this.startedAt = startedAt
    state.acquire(color, target)
  }

  get origin(): string | undefined {
    return this.#target?.origin
  }

  get settled(): boolean {
    return this.#settled
  }

  /**
   * Readies `head` for the target; `withBody`: the connection feeds the body (`body`). Nothing
   * goes upstream before `send`, so that the body bytes that came with the head are checked first.
   */
  prepare(head: string, withBody: boolean): void {
    this.#head = head
    this.#retryable = !withBody
    this.#bodyDone = !withBody
  }

  /** Gets a connection to the target and sends the head and what body is queued. */
  send(): void {
    if (!this.#settled) this.#connect()
  }

  #connect(): void {
    const target = this.#target!
    const waiting: SocketCallback = (error, socket, reused) => {
      this.#waiting = undefined
      if (this.#settled) {
        if (socket !== undefined) target.sockets.release(socket, true)
      } else if (error !== undefined) this.#upstreamFailed(error)
      else this.#attach(socket!, reused)
    }
    this.#waiting = waiting
    target.sockets.acquire(waiting)
  }

  #attach(socket: net.Socket, reused: boolean): void {
    this.#upstream = socket
    this.#reused = reused
    setOwner(socket, this)
    this.#heardFrom()
    const queued = this.#queued
    if (queued === undefined) {
      socket.write(this.#head, 'latin1')
    } else {
      this.#queued = undefined
      socket.cork()
      socket.write(this.#head, 'latin1')
      for (const piece of queued) socket.write(piece)
      socket.uncork()
    }
    if (this.#clientPaused && !socket.writableNeedDrain) this.upstreamDrain()
  }

  /** A piece of the request body, a view of the client's read (what is kept or written is a copy); false: stop reading until resumeBody. */
  body(piece: Buffer, last: boolean): boolean {
    if (last) this.#bodyDone = true
    if (this.#settled) return true
    this.mirror?.body(piece, last)
    const socket = this.#upstream
    if (socket === undefined) {
      ;(this.#queued ??= []).push(Buffer.from(piece))
      this.#clientPaused = !last
      return last
    }
    this.#heardFrom()
    if (writeRead(socket, piece) || last) return true
    this.#clientPaused = true
    return false
  }

  upstreamDrain(): void {
    if (!this.#clientPaused) return
    this.#clientPaused = false
    this.#conn.resumeBody()
  }

  upstreamData(chunk: Buffer): void {
    if (this.#settled) return
    this.#sawResponse = true
    if (this.#headSent) this.#forward(chunk, 0)
    else this.#readHead(chunk)
  }

  #readHead(chunk: Buffer): void {
    const read = finalHead(this.#response === undefined ? chunk : Buffer.concat([this.#response, chunk]), this.#state.limits.maxHeaderSize, this.request.method!)
    if (read instanceof Error) {
      this.#upstreamFailed(new ProxyError('SY_ERR_UPSTREAM_PROTOCOL', read))
    } else if ('rest' in read) {
      // Kept past this read: copied out of the shared read buffer.
      this.#response = read.rest === undefined ? undefined : Buffer.from(read.rest)
      this.#heardFrom()
    } else {
      this.#response = undefined
      this.#respond(read.head)
      if (!this.#settled) this.#forward(read.buf, read.bodyAt)
    }
  }

  #respond(response: ResponseHead): void {
    const state = this.#state
    const { status, framing } = response
    this.#target?.succeeded(status)
    const body = new BodyFramer(framing, response.contentLength, state.limits.maxHeaderSize)
    this.#body = body
    if (!response.keepAlive) this.#upstreamReusable = false
    else if (response.keepAliveMs > 0) idleAtMost(this.#upstream!, response.keepAliveMs)
    const out = new ClientBody(this.#conn.socket, framing, this.#conn.http10)
    this.#out = out
    if (this.mirror !== undefined) this.mirror.head(status, response.rawHeaders, body, out)
    else if (out.dechunk) body.dechunk(out.data)
    const keepAlive = this.#conn.keepAlive() && !out.closeDelimited
    if (!keepAlive) this.#reusableClient = false
    const head = clientHead(response, this.color, this.#setCookie, out.framingLines(keepAlive))
    this.#headSent = true
    this.#heardFrom()
    this.#statusSent = status
    this.#headMs = performance.now() - this.startedAt
    if (body.done) {
      this.#conn.socket.write(head, 'latin1')
      this.#finish()
      return
    }
    out.hold(head)
    if (framing !== Framing.Length) {
      this.#streaming = true
      state.streams.add(this)
    }
  }

  /** Passes buf[pos..] on to the client in the response's framing, after the head if it is still here. */
  #forward(buf: Buffer, pos: number): void {
    const end = buf.length
    const out = this.#out!
    if (pos >= end) {
      out.flushHead()
      return
    }
    if (this.#ttfbMs < 0) this.#ttfbMs = performance.now() - this.startedAt
    if (this.#state.timeouts.idle > 0) this.#heardFrom()
    const client = this.#conn.socket
    const body = this.#body!
    // A body being de-chunked goes out as scan finds its data (ClientBody.data).
    const stop = body.scan(buf, pos, end)
    if (stop === -1) {
      this.#upstreamFailed(new ProxyError('SY_ERR_UPSTREAM_PROTOCOL', new Error(body.error)))
      return
    }
    this.mirror?.data(buf, pos, stop, body.framing)
    let ok: boolean
    if (out.dechunk) {
      if (body.done) out.flushHead()
      ok = !client.writableNeedDrain
    } else {
      ok = out.write(buf, pos, stop)
    }
    if (body.done) {
      // Bytes after the body: the upstream broke framing; its connection is not reused.
      if (stop < end) this.#upstreamReusable = false
      this.#finish()
      return
    }
    if (!ok) {
      // A client slower than the upstream: the upstream waits for its drain, at most timeouts.send.
      this.#upstream?.pause()
      this.#stalled = true
      this.#conn.upstreamWithin(this.#state.timeouts.send ?? 0)
      client.once('drain', () => this.#clientDrained())
    }
  }

  upstreamEnd(error: Error | undefined): void {
    if (this.#settled) return
    this.#upstreamReusable = false
    if (this.#headSent && this.#body?.framing === Framing.UntilClose && error === undefined) {
      this.#out!.end()
      this.#finish()
      return
    }
    // A reused connection the upstream had already closed: nothing of this request reached it.
    if (this.#reused && !this.#sawResponse && this.#retryable) {
      this.#release()
      this.#reused = false
      this.#connect()
      return
    }
    this.#upstreamFailed(upstreamClosed(error, this.#reused && !this.#sawResponse))
  }

  #clientDrained(): void {
    this.#stalled = false
    if (!this.#settled) this.#heardFrom()
    this.#upstream?.resume()
  }

  /** A write to the upstream or a read from it: timeouts.request (until the answer's head) or .idle (inside its body) starts again. */
  #heardFrom(): void {
    if (this.#stalled) return
    const timeouts = this.#state.timeouts
    this.#conn.upstreamWithin(this.#headSent ? timeouts.idle : timeouts.request)
  }

  /** The upstream was silent past its deadline, or the client left the answer unread past timeouts.send (the connection's sweep tells). */
  upstreamTimeout(): void {
    if (this.#settled) return
    this.#upstreamReusable = false
    if (this.#stalled) this.fail(new ProxyError('SY_ERR_CLIENT_STALLED'))
    else this.#upstreamFailed(new ProxyError(this.#headSent ? 'SY_ERR_UPSTREAM_IDLE' : 'SY_ERR_UPSTREAM_TIMEOUT'))
  }

  #upstreamFailed(error: ProxyError): void {
    if (this.#settled) return
    if (error.kind === 'connect' && this.#retryable && this.#retry(error)) return
    this.fail(error)
  }

  /** A request without a body whose connect failed goes once to another target of its colour. */
  #retry(error: ProxyError): boolean {
    const failed = this.#target
    this.#retryable = false
    if (failed === undefined) return false
    const next = this.#pool.pickOther(failed)
    if (next === undefined) return false
    failed.failed(describeError(error))
    this.#state.moveTarget(failed, next)
    this.#target = next
    this.#release()
    this.#state.retried(this.color, failed.url, next.url, describeError(error))
    this.#connect()
    return true
  }

  /** The client's body broke its framing or its limit: answered by `error`, nothing more goes up. */
  badBody(error: ProxyError): void {
    this.#upstreamReusable = false
    this.fail(error)
  }

  /** The client's connection closed before the answer was complete. */
  clientClosed(): void {
    if (this.#settled) return
    this.#upstreamReusable = false
    this.#settle(499, 'client')
  }

  /** A drained colour's stream outlived the deadline: cut it (never a clean end) and cancel upstream. */
  drain(): void {
    if (this.#settled) return
    if (this.#ttfbMs < 0) this.#ttfbMs = this.#headMs
    this.#upstreamReusable = false
    this.#settle(this.#statusSent, undefined)
    if (this.#out === undefined) this.#conn.socket.destroy()
    else this.#out.cut()
  }

  /** Ends the exchange on an error: our JSON answer if no head went out yet, else a cut. */
  fail(error: ProxyError): void {
    if (this.#settled) return
    const kind = error.kind
    this.#upstreamReusable = false
    if (kind === 'client') {
      this.#settle(499, kind)
      this.#conn.socket.destroy()
      return
    }
    if (kind !== undefined && kind !== 'busy') this.#target?.failed(describeError(error))
    // A head still held (the body's first bytes, read with it, broke its framing) never left: ours replaces it.
    if (this.#headSent && this.#out?.withdraw() !== true) {
      this.#settle(this.#statusSent, kind)
      this.#out!.cut()
      return
    }
    // The client's own fault (malformed, too large) or a drain: its connection closes after the answer.
    const keepAlive = kind !== undefined && this.#conn.keepAlive() && this.#bodyDone
    this.#settle(error.statusCode, kind)
    this.#conn.socket.write(errorAnswer(error, this.color, this.#setCookie, keepAlive))
    this.#conn.finished(keepAlive)
  }

  #finish(): void {
    if (this.#ttfbMs < 0) this.#ttfbMs = this.#headMs
    if (!this.#bodyDone) this.#upstreamReusable = false
    this.mirror?.end()
    this.#settle(this.#statusSent, undefined)
    // An answer before the whole body (the upstream did not need it): the connection reads the
    // rest and drops it, then goes on, as node's engine and nginx do; closing instead would lose
    // a pipelined request and could reset the answer away before the client read it.
    this.#conn.finished(this.#reusableClient)
  }

  #settle(status: number, kind: ErrorKind | undefined): void {
    this.#settled = true
    const state = this.#state
    if (this.#streaming) state.streams.delete(this)
    this.#release()
    state.release(this.color, this.#target)
    state.record(this, status, kind, this.#ttfbMs)
    this.mirror?.settled(status, kind)
  }

  /** Gives the upstream socket back (or closes it); gives up a wait for one. */
  #release(): void {
    const target = this.#target
    this.#conn.upstreamWithin(0)
    if (this.#waiting !== undefined) {
      target?.sockets.cancel(this.#waiting)
      this.#waiting = undefined
    }
    const socket = this.#upstream
    if (socket === undefined) return
    this.#upstream = undefined
    setOwner(socket, undefined)
    if (socket.isPaused()) socket.resume()
    target!.sockets.release(socket, this.#upstreamReusable)
    this.#upstreamReusable = true
  }
}
