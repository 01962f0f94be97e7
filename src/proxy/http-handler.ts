import { ServerResponse, type IncomingHttpHeaders, type IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import type { Dispatcher } from 'undici'
import type { Color } from '../routing/types.js'
import { describeError, ProxyError, toProxyError } from './errors.js'
import { clientResponseHeaders, COLOR_HEADER, upstreamRequestHeaders } from './headers.js'
import type { Drainable, ProxyState } from './proxy-state.js'
import type { ErrorKind } from './types.js'
import type { UpstreamTarget } from './upstream-pool.js'

/**
 * The server's response class. It carries its exchange so that the 'close' and 'drain'
 * listeners can be shared functions instead of closures built per request.
 */
export class ProxyResponse<Request extends IncomingMessage = IncomingMessage> extends ServerResponse<Request> {
  exchange: HttpExchange | undefined = undefined
}

function onClientClose(this: ProxyResponse): void {
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
export class HttpExchange implements Dispatcher.DispatchHandler, Drainable {
  readonly epoch: number
  readonly #state: ProxyState
  readonly #req: IncomingMessage
  readonly #res: ProxyResponse
  readonly #color: Color
  readonly #setCookie: string | undefined
  readonly #target: UpstreamTarget | undefined
  readonly #startedAt: number
  #controller: Dispatcher.DispatchController | undefined = undefined
  #settled = false
  #drainHooked = false
  /** In `state.streams`: a response of unknown length is going out. */
  #streaming = false

  constructor(
    state: ProxyState,
    req: IncomingMessage,
    res: ProxyResponse,
    color: Color,
    setCookie: string | undefined,
    target: UpstreamTarget | undefined,
    startedAt: number,
  ) {
    this.epoch = state.epoch
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
      const head = clientResponseHeaders(headers, this.#color, this.#setCookie)
      if (statusMessage === undefined || statusMessage === '') res.writeHead(statusCode, head)
      else res.writeHead(statusCode, statusMessage, head)
    } catch (err) {
      // A header node:http refuses to send (invalid characters): the upstream broke HTTP.
      const error = new ProxyError('SY_ERR_UPSTREAM_PROTOCOL', err)
      this.fail(error)
      controller.abort(error)
      return
    }
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
    if (!this.#res.write(chunk)) {
      controller.pause()
      if (!this.#drainHooked) {
        this.#drainHooked = true
        this.#res.on('drain', onClientDrain)
      }
    }
  }

  onResponseEnd(): void {
    if (this.#settled) return
    this.#settle(this.#res.statusCode, undefined)
    this.#res.end()
  }

  onResponseError(_controller: Dispatcher.DispatchController | undefined, err: Error): void {
    if (this.#settled) return
    this.fail(toProxyError(err))
  }

  /**
   * The colour was drained and this stream outlived the deadline: end it cleanly for the
   * client (the terminating chunk) and cancel the upstream request. Not an upstream error.
   */
  drain(): void {
    if (this.#settled) return
    this.#settle(this.#res.statusCode, undefined)
    this.#res.end()
    this.#controller?.abort(new Error('switchyard: colour drained'))
  }

  /** The client's socket drained: let undici read from the upstream again. */
  clientDrained(): void {
    this.#controller?.resume()
  }

  /** The response closed: if it had not finished, the client went away; cancel upstream. */
  clientClosed(): void {
    if (this.#settled) return
    this.#settle(499, 'client')
    this.#controller?.abort(new ProxyError('SY_ERR_CLIENT_CLOSED'))
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
    if (kind !== undefined) this.#target?.failed(describeError(error))
    if (!res.headersSent) {
      if (this.#state.closing) res.shouldKeepAlive = false
      this.#settle(error.statusCode, kind)
      sendError(res, error, this.#color, this.#setCookie)
      return
    }
    // The head is out: destroying the socket is the only way the client can tell a cut body
    // from a complete one.
    this.#settle(res.statusCode, kind)
    res.destroy()
  }

  #settle(status: number, kind: ErrorKind | undefined): void {
    this.#settled = true
    const state = this.#state
    if (this.#streaming) state.streams.delete(this)
    state.release(this.#color, this.#target)
    state.record(this.#color, this.#req.method, this.#req.url, status, this.#startedAt, kind)
  }
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
  res.writeHead(error.statusCode, head)
  res.end(body)
}

function hasBody(headers: IncomingHttpHeaders): boolean {
  const length = headers['content-length']
  return headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0')
}

/** The request listener: one table read, one route, one dispatch on the chosen colour's pool. */
export function handleRequest(state: ProxyState, req: IncomingMessage, res: ProxyResponse): void {
  const startedAt = performance.now()
  const remoteAddress = req.socket.remoteAddress
  const route = state.router.route(state.tables.current(), req.headers, remoteAddress)
  const color = route.color
  const target = state.pools[color].pick()

  const exchange = new HttpExchange(state, req, res, color, route.setCookie, target, startedAt)
  res.exchange = exchange
  res.on('close', onClientClose)
  state.acquire(color, target)
  if (target === undefined) {
    exchange.fail(new ProxyError('SY_ERR_NO_TARGETS'))
    return
  }

  const timeouts = state.timeouts
  target.pool.dispatch(
    {
      path: req.url ?? '/',
      method: req.method ?? 'GET',
      headers: upstreamRequestHeaders(req.headers, remoteAddress),
      // The IncomingMessage itself: undici streams it upstream with backpressure.
      body: hasBody(req.headers) ? req : null,
      headersTimeout: timeouts.request,
      bodyTimeout: timeouts.idle,
    },
    exchange,
  )
}
