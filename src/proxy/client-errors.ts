import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { Transform, type Duplex, type TransformCallback } from 'node:stream'
import { ALLOWED_METHODS, ERRORS, ProxyError, type ErrorCode } from './errors.js'
import { connectionDropsNeeded } from './headers.js'
import { isFramingLookalike } from './raw/field-lines.js'
import { isUriHost } from './raw/head-scan.js'

/**
 * Hostile or broken client requests: node's parser refuses most of them before a request
 * exists ('clientError'); these helpers turn that into a proper 4xx with `Connection: close`
 * instead of a silent reset, and hold the checks the request handler makes before forwarding.
 */

/** The exchange whose request the socket's parser saw last: the one a parse error belongs to. */
const CURRENT_EXCHANGE = Symbol('switchyard.currentExchange')
/** Set once a socket's parse error is being answered; node reports the error on every later read. */
const ANSWERING = Symbol('switchyard.answering')

/** What a parse error inside a request body does to that request. */
export interface Abandonable {
  /** Cancels the request if its body was cut by the error; returns the response it leaves unwritten. */
  abandon(status: number): ServerResponse | undefined
}

/**
 * `_httpMessage` is node:http's internal field for the response that owns the socket's writes
 * now (node's own clientError default reads it). Responses to pipelined requests wait in node's
 * queue and take the socket one after another; `null` between them, `undefined` if a future node
 * drops the field (then an error is answered at once, as before).
 */
type ExchangeSocket = Duplex & {
  [CURRENT_EXCHANGE]?: Abandonable
  [ANSWERING]?: true
  _httpMessage?: ServerResponse | null
}

/** Notes the exchange the socket's parser is now reading the body of. */
export function setCurrentExchange(socket: Socket, exchange: Abandonable): void {
  ;(socket as ExchangeSocket)[CURRENT_EXCHANGE] = exchange
}

/** One of our error answers as raw bytes, for a socket without a usable ServerResponse. */
export function rawErrorResponse(error: ProxyError): string {
  const spec = ERRORS[error.code]
  const body = JSON.stringify(error)
  const allow = error.statusCode === 405 ? `Allow: ${ALLOWED_METHODS}\r\n` : ''
  return (
    `HTTP/1.1 ${spec.statusCode} ${spec.error}\r\n` +
    'Content-Type: application/json; charset=utf-8\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    allow +
    'Connection: close\r\n\r\n' +
    body
  )
}

const CODE_BY_PARSER_ERROR: Readonly<Record<string, ErrorCode>> = Object.freeze({
  HPE_HEADER_OVERFLOW: 'SY_ERR_HEADERS_TOO_LARGE',
  ERR_HTTP_REQUEST_TIMEOUT: 'SY_ERR_REQUEST_TIMEOUT',
})

/** Maps a 'clientError' to the answer: 431, 408, else 400 naming the parser's reason. */
export function clientErrorAnswer(err: Error & { code?: string; reason?: string }): ProxyError {
  const code = err.code === undefined ? undefined : CODE_BY_PARSER_ERROR[err.code]
  if (code !== undefined) return new ProxyError(code, err)
  const reason = typeof err.reason === 'string' && err.reason !== '' ? err.reason : undefined
  return new ProxyError('SY_ERR_MALFORMED_REQUEST', err, reason === undefined ? undefined : `${ERRORS.SY_ERR_MALFORMED_REQUEST.message}: ${reason}`)
}

/**
 * The server's 'clientError' listener. The client left (reset, or closed mid-request): nobody to
 * answer. Otherwise the request the parser was reading, if its body was cut by the error, is
 * recorded and cancelled upstream, and the client gets our 4xx with `Connection: close` — after
 * the answers to the requests before it on this connection, in order (as nginx and HAProxy do):
 * they were forwarded and may have run, so the client must get them.
 */
export function handleClientError(err: Error & { code?: string; reason?: string }, socket: Duplex): void {
  const held = socket as ExchangeSocket
  // node's parser keeps its error: later reads (and a header timeout) report it again.
  if (held[ANSWERING] === true) return
  // A request in flight ends as a client close (499) when its response sees the socket go.
  if (err.code === 'ECONNRESET' || err.code === 'HPE_INVALID_EOF_STATE' || !socket.writable) {
    socket.destroy()
    return
  }
  held[ANSWERING] = true
  const answer = clientErrorAnswer(err)
  const unwritten = held[CURRENT_EXCHANGE]?.abandon(answer.statusCode)
  answerInTurn(held, answer, unwritten)
}

/** How long a client may leave our writes unread (the socket's buffer full) before it is cut. */
const STALL_MS = 5_000

/**
 * Writes `answer` once the responses ahead of it on the socket are finished, then closes. Each
 * time the response that owns the socket finishes, node hands the socket to the next one before
 * our 'finish' listener runs (node's own listener was added first). `unwritten` is the response
 * of the request the error cut: the answer takes its place; if its head is already out, only a
 * cut can tell the client. A response that ends with `Connection: close` closes the socket
 * itself: then there is nobody left to answer.
 */
function answerInTurn(socket: ExchangeSocket, answer: ProxyError, unwritten: ServerResponse | undefined): void {
  let stall: NodeJS.Timeout | undefined
  const next = (): void => {
    if (socket.destroyed) return
    const current = socket._httpMessage
    if (current !== undefined && current !== null && current !== unwritten) {
      stall ??= watchStall(socket)
      current.once('finish', next)
      return
    }
    clearInterval(stall)
    if (current === unwritten && unwritten?.headersSent === true) socket.destroy()
    else if (socket.writable) endWith(socket, answer)
    else cutUnread(socket)
  }
  next()
}

/**
 * While an answer waits its turn: a client whose socket buffer stays full (it stopped reading)
 * for a whole STALL_MS is cut. Waiting for an upstream is bounded by the request's own timeouts.
 * Both engines hold refusals this way (raw/connection.ts).
 */
export function watchStall(socket: Duplex): NodeJS.Timeout {
  let drained = true
  const onDrain = (): void => {
    drained = true
  }
  socket.on('drain', onDrain)
  const timer = setInterval(() => {
    if (socket.writableNeedDrain && !drained) socket.destroy()
    drained = false
  }, STALL_MS).unref()
  socket.once('close', () => {
    clearInterval(timer)
    socket.off('drain', onDrain)
  })
  return timer
}

/** The server's 'connect' listener: switchyard is no forward proxy; CONNECT gets 405. */
export function handleConnect(_req: IncomingMessage, socket: Duplex): void {
  socket.on('error', () => undefined)
  endWith(socket, new ProxyError('SY_ERR_METHOD_NOT_ALLOWED'))
}

function endWith(socket: Duplex, answer: ProxyError): void {
  socket.write(rawErrorResponse(answer))
  // Ends our side once the answer is flushed, then closes.
  const net = socket as Socket
  if (typeof net.destroySoon === 'function') net.destroySoon()
  else socket.end()
  cutUnread(socket)
}

/** A socket that is closing after its last answer: a client that never reads it is cut. */
function cutUnread(socket: Duplex): void {
  setTimeout(() => socket.destroy(), STALL_MS).unref()
}

/** The path to send upstream, and the authority an absolute-form target named. */
export interface RequestTarget {
  readonly path: string
  readonly host: string | undefined
}

const ABSOLUTE_FORM = /^https?:\/\//i

/**
 * Reads the request target: origin-form (`/path`) as is; absolute-form (`http://host/path`,
 * RFC 9112 §3.2.2) becomes its path, with the authority returned to replace Host. Anything
 * else (`*`, other schemes, garbage) is undefined: the caller answers 400.
 */
export function requestTarget(url: string | undefined): RequestTarget | undefined {
  if (url === undefined || url === '') return undefined
  if (url.charCodeAt(0) === 47 /* "/" */) return { path: url, host: undefined }
  if (!ABSOLUTE_FORM.test(url)) return undefined
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return undefined
  }
  if (parsed.username !== '' || parsed.password !== '' || parsed.host === '') return undefined
  return { path: `${parsed.pathname}${parsed.search}`, host: parsed.host }
}

/**
 * What neither engine's parser refuses but a proxy must not forward, in any request or handshake:
 * - TRACE (405, as nginx answers it): the upstream would echo the request back, cookies and
 *   credentials included, to the script that sent it (cross-site tracing);
 * - a target with a `#fragment` (400, as Envoy answers it; nginx drops the fragment): RFC 9112's
 *   request-target has none, and servers disagree on it (part of the path, or cut off), so the
 *   path switchyard routes by and the one the upstream serves could differ.
 */
export function notForwarded(method: string, target: string): ProxyError | undefined {
  if (method === 'TRACE') return new ProxyError('SY_ERR_METHOD_NOT_ALLOWED', undefined, 'TRACE is not forwarded: the upstream would echo the request, cookies included, back to its sender')
  if (target.includes('#')) return new ProxyError('SY_ERR_MALFORMED_REQUEST', undefined, `${ERRORS.SY_ERR_MALFORMED_REQUEST.message}: A request target with a fragment (#)`)
  return undefined
}

/** The fields of a request malformedHead reads: node's IncomingMessage has them. */
export type ParsedRequest = Pick<IncomingMessage, 'rawHeaders' | 'headers' | 'httpVersion'>

/** A request or handshake as refusal reads it: node's IncomingMessage, or (no rawHeaders) a head the socket engine parsed. */
export interface RefusableRequest {
  readonly method?: string | undefined
  readonly url?: string | undefined
  readonly headers: IncomingHttpHeaders
  readonly rawHeaders?: string[]
  readonly httpVersion?: string
}

/**
 * Why a request of node's engine, or a handshake of either engine, is answered instead of
 * forwarded, in this order: TRACE or a fragment (notForwarded), an override the router refused
 * (`reject`), a target neither a path nor an http(s) URL (`requested`: requestTarget of its
 * url), a head node's parser let through (malformedHead; the socket engine's parser refused those).
 */
export function refusal(req: RefusableRequest, requested: RequestTarget | undefined, reject: string | undefined): ProxyError | undefined {
  const refused = notForwarded(req.method ?? 'GET', req.url ?? '/')
  if (refused !== undefined) return refused
  if (reject !== undefined) return new ProxyError('SY_ERR_BAD_REQUEST', undefined, reject)
  const malformed = requested === undefined ? 'The request target must be a path or an http(s) URL' : parsedByNode(req) ? malformedHead(req) : undefined
  return malformed === undefined ? undefined : new ProxyError('SY_ERR_MALFORMED_REQUEST', undefined, malformed)
}

function parsedByNode(req: RefusableRequest): req is RefusableRequest & ParsedRequest {
  return req.rawHeaders !== undefined && req.httpVersion !== undefined
}

/**
 * What node's parser lets through but a proxy must not forward: a Host header missing (HTTP/1.1)
 * or repeated (node keeps the first, an upstream might read another), and a Transfer-Encoding
 * other than `chunked` (node would pass on the coded bytes as if they were the body).
 */
export function malformedHead(req: ParsedRequest): string | undefined {
  const raw = req.rawHeaders
  let hosts = 0
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!
    if (name.length === 4 && name.toLowerCase() === 'host') hosts++
    // llhttp takes `Transfer_Encoding`; a server behind us that maps `_` to `-` would frame by it.
    else if (name.includes('_') && isFramingLookalike(name.toLowerCase())) return `The field name "${name}" reads as a framing field`
  }
  if (hosts > 1) return 'The request has more than one Host header'
  if (hosts === 0 && req.httpVersion === '1.1') return 'An HTTP/1.1 request needs a Host header'
  if (hosts === 1 && !isUriHost(req.headers.host!)) return 'A Host that is not a host name or address and an optional port'
  const te = req.headers['transfer-encoding']
  if (te !== undefined && te.toLowerCase() !== 'chunked') return 'Transfer-Encoding other than "chunked" is not supported'
  const needed = connectionDropsNeeded(req.headers.connection)
  if (needed !== undefined) return `A Connection field naming ${needed}, which the next hop needs`
  return undefined
}

/** True when `maxBodySize` is set and the declared Content-Length exceeds it. */
export function bodyTooLarge(headers: IncomingHttpHeaders, maxBodySize: number): boolean {
  if (maxBodySize <= 0) return false
  const length = headers['content-length']
  return length !== undefined && Number(length) > maxBodySize
}

/**
 * Passes a chunked request body through while counting it; past `max` bytes it fails, which
 * makes undici cut the upstream request. The client's request is left alone (not destroyed),
 * so that the proxy can still answer 413.
 */
export class BodyLimit extends Transform {
  #left: number
  exceeded = false

  constructor(req: IncomingMessage, max: number) {
    super()
    this.#left = max
    req.on('error', (err) => this.destroy(err))
    req.pipe(this)
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.#left -= chunk.length
    if (this.#left < 0) {
      this.exceeded = true
      done(new ProxyError('SY_ERR_BODY_TOO_LARGE'))
      return
    }
    done(null, chunk)
  }
}
