/*
 * Over 300 lines because one proxied exchange is one state machine: request body, upstream
 * head, response body, trailers and every way each can fail must settle exactly once, and
 * that is easiest to check when the transitions sit together.
 */
import { ServerResponse, type IncomingHttpHeaders, type IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import type { Dispatcher } from 'undici'
import type { Color } from '../routing/types.js'
import type { BodyLimit } from './client-errors.js'
import { ALLOWED_METHODS, describeError, ProxyError, toProxyError } from './errors.js'
import { clientResponseHeaders, COLOR_HEADER, connectionDropsNeeded } from './headers.js'
import type { Drainable, ProxyState, Recorded } from './proxy-state.js'
import type { MirrorJob } from './mirror.js'
import type { ErrorKind } from './types.js'
import type { UpstreamPool, UpstreamTarget } from './upstream-pool.js'
import { isFramingLookalike } from './raw/field-lines.js'

/**
 * The server's response class. It carries its exchange so that the 'close' and 'drain'
 * listeners can be shared functions instead of closures built per request.
 */
export class ProxyResponse<Request extends IncomingMessage = IncomingMessage> extends ServerResponse<Request> {
  exchange: HttpExchange | undefined = undefined
}

/** A response's 'close' listener: if it had not finished, the client went away. */
export function onClientClose(this: ProxyResponse): void {
  this.exchange?.clientClosed()
}

function onClientDrain(this: ProxyResponse): void {
  this.exchange?.clientDrained()
}

function uncork(socket: Socket): void {
  socket.uncork()
}

/**
 * One proxied request, as an undici dispatch handler: streams the upstream response to the
 * client with backpressure and records exactly one outcome, whichever side ends it first.
 */
export class HttpExchange implements Dispatcher.DispatchHandler, Drainable, Recorded {
  readonly epoch: number
  /** The client's address (through trusted proxies), for the access log; set by handleRequest. */
  client: string | undefined = undefined
  /** Its x-request-id (log.requestId); set by handleRequest. */
  requestId: string | undefined = undefined
  /** A sampled request's shadow: blue's answer is captured for it as it streams. */
  mirror: MirrorJob | undefined = undefined
  readonly #state: ProxyState
  readonly #req: IncomingMessage
  readonly #res: ProxyResponse
  readonly #color: Color
  readonly #setCookie: string | undefined
  #target: UpstreamTarget | undefined
  readonly #startedAt: number
  /** The pool `#target` came from, for the one retry of a connect failure. */
  readonly #pool: UpstreamPool | undefined
  /** What was dispatched, kept only while a retry is allowed (no request body). */
  #retryable: Dispatcher.DispatchOptions | undefined = undefined
  /** Set when the request body is counted against limits.maxBodySize. */
  #bodyLimit: BodyLimit | undefined = undefined
  #controller: Dispatcher.DispatchController | undefined = undefined
  #settled = false
  #drainHooked = false
  /** Runs while the client's buffer is full: the answer is cut once timeouts.send passes without a drain. */
  #sendTimer: NodeJS.Timeout | undefined = undefined
  /** In `state.streams`: a response of unknown length is going out. */
  #streaming = false
  /** ms from the start to the upstream head going to the client; -1 before. */
  #headMs = -1
  /** ms from the start to the first body chunk going to the client; -1 before (see OutcomeSink). */
  #ttfbMs = -1

  constructor(
    state: ProxyState,
    req: IncomingMessage,
    res: ProxyResponse,
    color: Color,
    setCookie: string | undefined,
    target: UpstreamTarget | undefined,
    startedAt: number,
    pool?: UpstreamPool,
  ) {
    this.epoch = state.epoch
    this.#pool = pool
    this.#state = state
    this.#req = req
    this.#res = res
    this.#color = color
    this.#setCookie = setCookie
    this.#target = target
    this.#startedAt = startedAt
  }

  get color(): Color {
    return this.#color
  }

  get request(): IncomingMessage {
    return this.#req
  }

  get startedAt(): number {
    return this.#startedAt
  }

  /** The target's origin: after a retry, the one that took the request. */
  get origin(): string | undefined {
    return this.#target?.origin
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller
    // The client left while the request waited for a connection.
    if (this.#settled) controller.abort(new ProxyError('SY_ERR_CLIENT_CLOSED'))
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
    statusMessage?: string,
  ): void {
    // 1xx informational answers are not forwarded; node:http sends its own 100 Continue.
    if (statusCode < 200 || this.#settled) return
    this.#target?.succeeded(statusCode)
    const res = this.#res
    // While draining, tell keep-alive clients to reconnect (elsewhere) after this answer.
    if (this.#state.closing) res.shouldKeepAlive = false
    try {
      const te = headers['transfer-encoding']
      // Another coding would reach the client still coded, its name dropped with the hop-by-hop field.
      if (te !== undefined && String(te).trim().toLowerCase() !== 'chunked') throw new Error(`A transfer coding other than chunked (${String(te)})`)
      const needed = connectionDropsNeeded(headers.connection)
      if (needed !== undefined) throw new Error(`A Connection field naming ${needed}, which the next hop needs`)
      // `Content_Length` beside ours: a client that maps `_` to `-` would frame by it (the socket engine's parser refuses it too).
      for (const name in headers) if (name.includes('_') && isFramingLookalike(name)) throw new Error(`The field name "${name}" reads as a framing field`)
      const head = clientResponseHeaders(headers, this.#color, this.#setCookie)
      if (statusMessage === undefined || statusMessage === '') res.writeHead(statusCode, head)
      else res.writeHead(statusCode, statusMessage, head)
    } catch (err) {
      // A header node:http refuses to send (invalid characters), or that coding: the upstream broke HTTP.
      const error = new ProxyError('SY_ERR_UPSTREAM_PROTOCOL', err)
      this.fail(error)
      controller.abort(error)
      return
    }
    this.#headMs = performance.now() - this.#startedAt
    this.mirror?.blue.head(statusCode, headers)
    // A body of unknown length is likely a stream (SSE, chunked tokens): let the client see the
    // head now. The cork joins head and first chunk in one write when both are already here.
    if (headers['content-length'] === undefined && statusCode !== 204 && statusCode !== 304 && this.#req.method !== 'HEAD') {
      const socket = res.socket
      if (socket !== null && !socket.writableCorked) {
        socket.cork()
        process.nextTick(uncork, socket)
      }
      res.flushHeaders()
      this.#streaming = true
      this.#state.streams.add(this)
    }
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.#settled) return
    // For a streamed answer this is the first token: what a user waits for.
    if (this.#ttfbMs < 0 && chunk.length > 0) this.#ttfbMs = performance.now() - this.#startedAt
    this.mirror?.blue.data(chunk)
    if (!this.#res.write(chunk)) {
      controller.pause()
      const send = this.#state.timeouts.send ?? 0
      if (send > 0 && this.#sendTimer === undefined) this.#sendTimer = setTimeout(() => this.#clientStalled(), send)
      if (!this.#drainHooked) {
        this.#drainHooked = true
        this.#res.on('drain', onClientDrain)
      }
    }
  }

  onResponseEnd(): void {
    if (this.#settled) return
    // An answer without a body: its head was the first byte.
    if (this.#ttfbMs < 0) this.#ttfbMs = this.#headMs
    this.mirror?.blue.end(true)
    this.#settle(this.#res.statusCode, undefined)
    this.#res.end()
    if (!this.#req.complete) dropRestOfBody(this.#req)
  }

  onResponseError(_controller: Dispatcher.DispatchController | undefined, err: Error): void {
    if (this.#settled) return
    const error = this.#bodyLimit?.exceeded === true ? new ProxyError('SY_ERR_BODY_TOO_LARGE', err) : toProxyError(err)
    if (this.#retry(error)) return
    this.fail(error)
  }

  /** Sends the request upstream; `retryable` when it has no body, so a connect failure may retry. */
  dispatch(target: UpstreamTarget, options: Dispatcher.DispatchOptions, retryable: boolean, bodyLimit?: BodyLimit): void {
    if (retryable) this.#retryable = options
    this.#bodyLimit = bodyLimit
    target.pool.dispatch(options, this)
  }

  /**
   * A request without a body whose connect failed goes once to another target of the same
   * colour (never the other colour). Nothing reached the first target, so this is safe for
   * any method; in practice it covers GET, HEAD, OPTIONS and body-less PUT and DELETE.
   */
  #retry(error: ProxyError): boolean {
    const options = this.#retryable
    const failed = this.#target
    if (options === undefined || failed === undefined || this.#pool === undefined || error.kind !== 'connect') return false
    this.#retryable = undefined
    const next = this.#pool.pickOther(failed)
    if (next === undefined) return false
    failed.failed(describeError(error))
    this.#state.moveTarget(failed, next)
    this.#target = next
    this.#controller = undefined
    this.#state.retried(this.#color, failed.url, next.url, describeError(error))
    try {
      next.pool.dispatch(options, this)
    } catch (err) {
      this.fail(toProxyError(err))
    }
    return true
  }

  /**
   * The client's request turned out malformed inside its body (node's parser failed): record
   * `status`, cancel the upstream request and return the response this exchange will now never
   * write (the caller answers in its place). A request whose body was complete, or that was
   * already answered, is not affected: undefined, and its answer goes out as usual.
   */
  abandon(status: number): ServerResponse | undefined {
    if (this.#settled || this.#req.complete) return undefined
    this.#settle(status, undefined)
    this.#controller?.abort(new ProxyError('SY_ERR_MALFORMED_REQUEST'))
    return this.#res
  }

  /**
   * The colour was drained and this stream outlived the deadline: cut it (never a clean end, so
   * the client can tell, and an EventSource reconnects) and cancel the upstream request. Our
   * cut, not the upstream's failure: recorded with the status it was sending and no error kind.
   */
  drain(): void {
    if (this.#settled) return
    if (this.#ttfbMs < 0) this.#ttfbMs = this.#headMs
    this.#settle(this.#res.statusCode, undefined)
    this.#cut()
    this.#controller?.abort(new Error('switchyard: colour drained'))
  }

  /**
   * Ends a response whose head is out without its proper end. A chunked body then misses its
   * terminating chunk and a Content-Length body its last bytes, which the client sees when the
   * connection closes (a FIN: what was sent still arrives). A close-delimited body (an HTTP/1.0
   * client, unknown length) ends with the close itself, so only a reset (RST) tells.
   */
  #cut(): void {
    const res = this.#res
    const socket = res.socket
    if (this.#streaming && !res.chunkedEncoding && socket !== null && !socket.destroyed) {
      try {
        socket.resetAndDestroy()
        return
      } catch {
        // Not a TCP handle (a TLS socket): a close without close_notify is the truncation sign.
      }
    }
    res.destroy()
  }

  /** The client's socket drained: let undici read from the upstream again. */
  clientDrained(): void {
    clearTimeout(this.#sendTimer)
    this.#sendTimer = undefined
    this.#controller?.resume()
  }

  /** The client left the answer unread past timeouts.send: cut it and cancel the upstream request (499). */
  #clientStalled(): void {
    if (this.#settled) return
    this.#settle(499, 'client')
    this.#res.destroy()
    this.#controller?.abort(new ProxyError('SY_ERR_CLIENT_STALLED'))
  }

  /** The response closed: if it had not finished, the client went away; cancel upstream. */
  clientClosed(): void {
    if (this.#settled) return
    this.#settle(499, 'client')
    this.#controller?.abort(new ProxyError('SY_ERR_CLIENT_CLOSED'))
  }

  /** The client stopped sending its body for longer than timeouts.body: 408, cancel upstream. */
  bodyStalled(): void {
    if (this.#settled) return
    const error = new ProxyError('SY_ERR_BODY_TIMEOUT')
    this.fail(error)
    this.#controller?.abort(error)
  }

  /** Ends the exchange on an error: our own JSON answer if no head went out yet, else a cut. */
  fail(error: ProxyError): void {
    if (this.#settled) return
    const kind = error.kind
    const res = this.#res
    if (kind === 'client') {
      this.#settle(499, kind)
      res.destroy()
      return
    }
    // A full queue is not the target failing; ejecting it would only shift the overload.
    if (kind !== undefined && kind !== 'busy') this.#target?.failed(describeError(error))
    if (!res.headersSent) {
      // The client's own fault (malformed, too large): its unread body must not be drained.
      if (this.#state.closing || kind === undefined) res.shouldKeepAlive = false
      this.#settle(error.statusCode, kind)
      sendError(res, error, this.#color, this.#setCookie)
      return
    }
    // The head is out: only a cut lets the client tell a broken body from a complete one.
    this.#settle(res.statusCode, kind)
    this.#cut()
  }

  #settle(status: number, kind: ErrorKind | undefined): void {
    this.#settled = true
    clearTimeout(this.#sendTimer)
    const state = this.#state
    if (this.#streaming) state.streams.delete(this)
    state.release(this.#color, this.#target)
    state.record(this, status, kind, this.#ttfbMs)
    this.mirror?.settled(status, kind)
  }
}

/**
 * A request answered before its body ended (the upstream did not need it): the rest is read and
 * dropped, so that the connection takes its next request. undici gives the body up once the
 * answer is in (it is destroyed), and node's parser then stops the socket at the next body
 * bytes it cannot push, for good: the connection stalled until a timeout, and a pipelined
 * request behind it was never answered. `_dump` is node's own way to drop a body (its server
 * calls it for a request nobody read); should it ever go, the connection closes after the
 * answer instead of stalling.
 */
function dropRestOfBody(req: IncomingMessage): void {
  const dump = (req as IncomingMessage & { _dump?: () => void })._dump
  req.unpipe()
  if (typeof dump === 'function') dump.call(req)
  else req.socket.end()
}

/** Writes one of our own error answers: JSON in Fastify's shape, with the colour header. */
export function sendError(res: ServerResponse, error: ProxyError, color: Color, setCookie: string | undefined): void {
  const body = JSON.stringify(error)
  const head = [
    'content-type',
    'application/json; charset=utf-8',
    'content-length',
    String(Buffer.byteLength(body)),
    COLOR_HEADER,
    color,
  ]
  if (setCookie !== undefined) head.push('set-cookie', setCookie)
  if (error.kind === 'busy') head.push('retry-after', '1')
  else if (error.statusCode === 405) head.push('allow', ALLOWED_METHODS)
  res.writeHead(error.statusCode, head)
  res.end(body)
}
