/*
 * Over 300 lines because one client connection is one state machine — head, body, waiting for
 * the answer, closing — and every byte and timer moves it; pipelining, half-close and the hand
 * over to node's engine must be checked against all of its phases at once.
 */
import type net from 'node:net'
import { Duplex } from 'node:stream'
import { rawErrorResponse, watchStall, type RequestTarget } from '../client-errors.js'
import { ERRORS, ProxyError } from '../errors.js'
import type { ProxyState } from '../proxy-state.js'
import { ownAnswer } from './answers.js'
import { BodyFramer } from './body-framer.js'
import type { ClientSide, ConnectionContext } from './connection-context.js'
import { Phase, Wait } from './connection-phases.js'
import { earliest } from './deadlines.js'
import type { RawExchange } from './exchange.js'
import { forwardRequest } from './forward.js'
import { absoluteTarget, carried, CONTINUE, headAnswer, isPreviewLink, parseError, tunnelled } from './head-answers.js'
import { Framing, isHeadError, parseRequestHead, type RequestHead } from './http1.js'
import { readIntoShared } from './read-buffer.js'

/** How many bytes of pipelined requests wait while an answer is out before we stop reading. */
const PIPELINE_BUFFER = 64 * 1024

/** The socket's RawConnection, for the listeners all connections share (a closure each would cost heap per connection). */
const CONNECTION = Symbol('switchyard.rawConnection')
type Carrier = net.Socket & { [CONNECTION]: RawConnection }
const ignore = (): void => undefined

/**
 * One client connection on the socket engine: reads request heads with the strict parser,
 * forwards each request as a RawExchange, answers pipelined requests in order (one at a time),
 * and hands the connection to node's engine before a request it does not carry.
 */
export class RawConnection implements ClientSide {
  readonly socket: net.Socket
  readonly #ctx: ConnectionContext
  #phase: Phase = Phase.Head
  #pending: Buffer | undefined = undefined
  #exchange: RawExchange | undefined = undefined
  #state: ProxyState | undefined = undefined
  #keepAlive = true
  /** The request being answered is HTTP/1.0 (read by its exchange's ClientBody). */
  http10 = false
  /** The client shut its side (half-close): close once the answer in flight is out. */
  #ended = false
  /** Where the request body being read ends. */
  #body: BodyFramer | undefined = undefined
  #processing = false
  /** When the current wait (`#wait`) ends, and when the exchange's upstream must be heard from (performance.now() ms; 0: none). */
  #clientDue = 0
  #upstreamDue = 0
  /** The earlier of the two, read by the engine's DeadlineSweep. */
  deadline = 0
  #wait: Wait = Wait.None
  /** timeouts.body of the request being read, for a silence restarted at each read. */
  #bodyMs = 0
  #pausedForPipeline = false
  /** A pipelined request refused while the answer before it is out: sent in its turn, then the connection closes. */
  #held: ProxyError | undefined = undefined

  constructor(socket: net.Socket, ctx: ConnectionContext) {
    this.socket = socket
    this.#ctx = ctx
    ctx.connections.add(this)
    ;(socket as Carrier)[CONNECTION] = this
    if (!readIntoShared(socket, RawConnection.#onRead)) socket.on('data', RawConnection.#onData)
    socket.on('end', RawConnection.#onEnd)
    // 'close' follows an error and settles what was in flight.
    socket.on('error', ignore)
    socket.on('close', RawConnection.#onClose)
    this.#armHeadTimer()
  }

  /** Closes the connection if it is between requests with nothing buffered; otherwise it closes after its answer (the lane is closing). */
  closeIfIdle(): void {
    if (this.#phase === Phase.Head && this.#pending === undefined) this.socket.destroy()
  }

  keepAlive(): boolean {
    return this.#keepAlive && !this.#ended && this.#state?.closing !== true
  }

  finished(reusable: boolean): void {
    this.#exchange = undefined
    if (this.#phase === Phase.Gone) return
    if (this.#held !== undefined && this.#phase === Phase.Busy) {
      this.#refuse(this.#held)
      return
    }
    if (!reusable || !this.keepAlive()) {
      this.#close()
      return
    }
    // Answered before its body ended: the rest is read and dropped (#bodyComplete goes on from there).
    if (this.#phase === Phase.Body) {
      this.socket.resume()
      return
    }
    this.#phase = Phase.Head
    // A pipelined head already being waited for keeps its own deadline (counted from its first bytes).
    if (this.#wait !== Wait.Head) this.#waitFor(Wait.KeepAlive, this.#ctx.keepAliveMs)
    if (this.#pausedForPipeline) {
      this.#pausedForPipeline = false
      this.socket.resume()
    }
    if (this.#processing || this.#pending === undefined) return
    const pending = this.#pending
    this.#pending = undefined
    this.#process(pending, 0)
  }

  resumeBody(): void {
    if (this.#phase === Phase.Body) this.socket.resume()
  }

  static #onData(this: net.Socket, chunk: Buffer): void {
    ;(this as Carrier)[CONNECTION].#read(chunk)
  }

  /** A read into the shared buffer (read-buffer.ts); once the connection is let go, its bytes go on as the stream's. */
  static #onRead(this: net.Socket, bytes: number, buf: Buffer): boolean {
    const connection = (this as Carrier)[CONNECTION]
    const chunk = buf.subarray(0, bytes)
    if (connection.#phase === Phase.Gone) return this.push(Buffer.from(chunk))
    connection.#read(chunk)
    return true
  }

  /** `chunk` is valid only during this call (it may be the shared read buffer): what is kept is copied. */
  #read(chunk: Buffer): void {
    const phase = this.#phase
    if (phase >= Phase.Closing) return
    const pending = this.#pending
    if (phase === Phase.Busy) {
      this.#pending = pending === undefined ? Buffer.from(chunk) : Buffer.concat([pending, chunk])
      if (this.#pending.length > PIPELINE_BUFFER) {
        this.#pausedForPipeline = true
        this.socket.pause()
      }
      this.#peek()
      return
    }
    this.#pending = undefined
    this.#process(pending === undefined ? chunk : Buffer.concat([pending, chunk]), 0)
  }

  #process(buf: Buffer, start: number): void {
    this.#processing = true
    let pos = start
    const end = buf.length
    try {
      while (pos < end) {
        const phase = this.#phase
        if (phase === Phase.Body) {
          pos = this.#feedBody(buf, pos)
          continue
        }
        if (phase === Phase.Busy) {
          this.#pending = Buffer.from(buf.subarray(pos))
          this.#peek()
          return
        }
        if (phase !== Phase.Head) return
        const head = parseRequestHead(buf, pos, end, this.#ctx.maxHeaderSize)
        if (head === null) {
          this.#pending = Buffer.from(buf.subarray(pos))
          this.#armHeadTimer()
          return
        }
        this.#clearHeadTimer()
        if (isHeadError(head)) {
          this.#ctx.clientError(parseError(head), this.socket)
          this.#refuse(headAnswer(head))
          return
        }
        const origin = carried(head)
        const absolute = origin ? undefined : absoluteTarget(head)
        if (!origin && (absolute === undefined || head.upgrade)) {
          this.#letGo(buf.subarray(pos))
          return
        }
        pos += head.headLength
        if (tunnelled(head)) {
          this.#letGo(buf.subarray(pos), head)
          return
        }
        const exchange = this.#request(head, absolute)
        if (exchange === undefined) continue
        // The body bytes that came with the head are checked (and queued) before anything goes
        // upstream: a body broken right away is refused without the upstream seeing the request.
        if (this.#phase === Phase.Body && pos < end) pos = this.#feedBody(buf, pos)
        exchange.send()
      }
    } finally {
      this.#processing = false
    }
  }

  /**
   * Reads ahead the head of a pipelined request while the answer before it is out: a broken
   * one is refused (in its turn, after that answer) and a slow one gets the header timeout, as
   * node's engine does; a good one waits to be read when its turn comes.
   */
  #peek(): void {
    const pending = this.#pending
    if (this.#held !== undefined || pending === undefined) return
    const head = parseRequestHead(pending, 0, pending.length, this.#ctx.maxHeaderSize)
    if (head === null) this.#armHeadTimer()
    else if (isHeadError(head)) this.#hold(headAnswer(head), parseError(head))
    else this.#clearHeadTimer()
  }

  /** Keeps `answer` for its turn; a client that stops reading meanwhile is cut after STALL_MS. */
  #hold(answer: ProxyError, error: Error & { code: string }): void {
    this.#held = answer
    this.#clearHeadTimer()
    this.#ctx.clientError(error, this.socket)
    watchStall(this.socket)
  }

  /**
   * Readies one request's exchange (sent by the caller); undefined when it was answered here.
   */
  #request(head: RequestHead, absolute: RequestTarget | undefined): RawExchange | undefined {
    const routes = this.#ctx.routes()
    const preview = absolute === undefined && isPreviewLink(head.target)
    // A preview link of a service matched by path prefix: any lane answers it (one signer).
    const state = routes.only ?? routes.matcher!.match(absolute?.host ?? head.headers.host, absolute?.path ?? head.target) ?? (preview ? routes.first : undefined)
    if (state === undefined || preview) {
      if (ownAnswer(this.socket, head, state)) this.#waitFor(Wait.KeepAlive, this.#ctx.keepAliveMs)
      else this.#close()
      return undefined
    }
    this.#state = state
    this.#keepAlive = head.keepAlive
    this.http10 = head.minor === 0
    // The phase first: a refusal (below) finishes the exchange at once and moves it on.
    this.#waitFor(Wait.None, 0)
    const withBody = head.framing !== Framing.None
    this.#phase = withBody ? Phase.Body : Phase.Busy
    this.#body = withBody ? new BodyFramer(head.framing, head.contentLength, this.#ctx.maxHeaderSize) : undefined
    const exchange = forwardRequest(state, this, head, absolute)
    if (exchange.settled) return undefined
    this.#exchange = exchange
    // Expect: 100-continue (HTTP/1.1 only, RFC 9110 §10.1.1) is confirmed here, as node's engine
    // does, once every check that needs no upstream passed (a body over the limit got a 413).
    if (head.expectContinue && head.minor === 1 && this.#phase === Phase.Body) this.socket.write(CONTINUE)
    const bodyTimeout = state.timeouts.body
    if (this.#phase === Phase.Body && bodyTimeout !== undefined && bodyTimeout > 0) {
      this.#bodyMs = bodyTimeout
      this.#waitFor(Wait.Body, bodyTimeout)
    }
    return exchange
  }

  /** Forwards the body bytes in buf[pos..]; returns where the body (or the buffer) ends. */
  #feedBody(buf: Buffer, pos: number): number {
    const exchange = this.#exchange
    const body = this.#body!
    const end = buf.length
    const stop = body.scan(buf, pos, end)
    const max = this.#state?.limits.maxBodySize ?? 0
    if (stop === -1 || (max > 0 && body.seen > max)) {
      const error = stop === -1 ? new ProxyError('SY_ERR_MALFORMED_REQUEST', undefined, `${ERRORS.SY_ERR_MALFORMED_REQUEST.message}: ${body.error}`) : new ProxyError('SY_ERR_BODY_TOO_LARGE')
      this.#keepAlive = false
      if (exchange === undefined || exchange.settled) this.#close()
      else exchange.badBody(error)
      return end
    }
    const last = body.done
    if (last) this.#bodyComplete()
    // Silence is counted from the last read, as socket.setTimeout counts it.
    else if (this.#wait === Wait.Body) this.#waitFor(Wait.Body, this.#bodyMs)
    if (exchange !== undefined && !exchange.body(buf.subarray(pos, stop), last) && !last) this.socket.pause()
    return stop
  }

  #bodyComplete(): void {
    this.#body = undefined
    if (this.#wait === Wait.Body) this.#waitFor(Wait.None, 0)
    if (this.#phase !== Phase.Body) return
    // Without an exchange, the body of a request answered before it ended: the next request may come.
    this.#phase = this.#exchange === undefined ? Phase.Head : Phase.Busy
    if (this.#exchange === undefined) this.#waitFor(Wait.KeepAlive, this.#ctx.keepAliveMs)
  }

  /** A head this engine refuses: our 4xx, then the connection closes. */
  #refuse(error: ProxyError): void {
    this.socket.write(rawErrorResponse(error))
    this.#close()
  }

  /** Reads nothing more; the socket closes once what was written is out. */
  #close(): void {
    this.#phase = Phase.Closing
    this.#pending = undefined
    this.socket.destroySoon()
  }

  /** Lets go of the connection (nothing more is read or timed here): to a byte tunnel for an Upgrade, else to node's engine, with a copy of its first bytes. */
  #letGo(rest: Buffer, upgrade?: RequestHead): void {
    const socket = this.socket
    this.#phase = Phase.Gone
    this.#pending = undefined
    this.#waitFor(Wait.None, 0)
    this.#ctx.connections.delete(this)
    socket.off('data', RawConnection.#onData)
    socket.off('end', RawConnection.#onEnd)
    socket.off('error', ignore)
    socket.off('close', RawConnection.#onClose)
    // The stream's pause only: net's would stop a shared-buffer socket's reads, and a refused upgrade must still read the FIN.
    Duplex.prototype.pause.call(socket)
    if (upgrade === undefined) this.#ctx.handOff(socket, Buffer.from(rest))
    else this.#ctx.upgrade(upgrade, socket, Buffer.from(rest))
  }

  /** Starts waiting for `wait` (None: for nothing) at most `ms`; one wait at a time replaces the last. */
  #waitFor(wait: Wait, ms: number): void {
    this.#wait = wait
    this.#clientDue = wait === Wait.None ? 0 : this.#ctx.deadlines.after(ms)
    this.deadline = earliest(this.#clientDue, this.#upstreamDue)
  }

  upstreamWithin(ms: number): void {
    this.#upstreamDue = ms > 0 ? this.#ctx.deadlines.after(ms) : 0
    this.deadline = earliest(this.#clientDue, this.#upstreamDue)
  }

  /** A head is due within timeouts.header (a wait for one already running goes on). */
  #armHeadTimer(): void {
    if (this.#wait === Wait.Head) return
    const ms = this.#ctx.headerTimeoutMs
    if (ms > 0) this.#waitFor(Wait.Head, ms)
  }

  #clearHeadTimer(): void {
    if (this.#wait === Wait.Head) this.#waitFor(Wait.None, 0)
  }

  /** A deadline passed (called by the engine's DeadlineSweep): the upstream's, the client's, or both. */
  expired(now: number): void {
    if (this.#upstreamDue !== 0 && this.#upstreamDue <= now) {
      this.upstreamWithin(0)
      this.#exchange?.upstreamTimeout()
    }
    if (this.#clientDue === 0 || this.#clientDue > now) return
    const wait = this.#wait
    this.#waitFor(Wait.None, 0)
    if (wait === Wait.Head) this.#headTimedOut()
    else if (wait === Wait.Body && this.#phase === Phase.Body) {
      // A body still read for a request already answered: nothing to tell, the connection goes.
      if (this.#exchange === undefined) this.socket.destroy()
      else this.#exchange.fail(new ProxyError('SY_ERR_BODY_TIMEOUT'))
    }
    else if (wait === Wait.KeepAlive && this.#phase === Phase.Head) this.socket.destroy()
  }

  #headTimedOut(): void {
    const timedOut = Object.assign(new Error('Request timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' })
    if (this.#phase === Phase.Busy) {
      if (this.#pending !== undefined) this.#hold(new ProxyError('SY_ERR_REQUEST_TIMEOUT'), timedOut)
      return
    }
    if (this.#phase !== Phase.Head) return
    // A head not whole in time — or, on a new connection, none at all: 408 and close, as node's
    // engine answers (a browser takes a 408 on a connection it has not used yet as a reason to retry).
    this.#ctx.clientError(timedOut, this.socket)
    this.#refuse(new ProxyError('SY_ERR_REQUEST_TIMEOUT'))
  }

  static #onEnd(this: net.Socket): void {
    ;(this as Carrier)[CONNECTION].#ends()
  }

  #ends(): void {
    this.#ended = true
    // A FIN while an answer is pending means the client went away, as node's engine and nginx
    // take it (a client cannot tell a half-close from a close): 499, the upstream request cancelled.
    const exchange = this.#exchange
    if (exchange !== undefined && !exchange.settled) {
      exchange.clientClosed()
      this.socket.destroy()
      return
    }
    this.socket.end()
  }

  static #onClose(this: net.Socket): void {
    ;(this as Carrier)[CONNECTION].#closed()
  }

  #closed(): void {
    this.#phase = Phase.Gone
    this.#waitFor(Wait.None, 0)
    this.#ctx.connections.delete(this)
    this.#exchange?.clientClosed()
    this.#exchange = undefined
  }
}
