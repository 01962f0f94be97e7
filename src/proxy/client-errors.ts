import type { IncomingHttpHeaders, IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import { Transform, type Duplex, type TransformCallback } from 'node:stream'
import { ERRORS, ProxyError, type ErrorCode } from './errors.js'

/**
 * Hostile or broken client requests: node's parser refuses most of them before a request
 * exists ('clientError'); these helpers turn that into a proper 4xx with `Connection: close`
 * instead of a silent reset, and hold the checks the request handler makes before forwarding.
 */

/** The exchange whose request the socket's parser saw last: the one a parse error belongs to. */
const CURRENT_EXCHANGE = Symbol('switchyard.currentExchange')

/** What a parse error inside a request body does to that request. */
export interface Abandonable {
  abandon(status: number): void
}

type ExchangeSocket = Duplex & { [CURRENT_EXCHANGE]?: Abandonable }

/** Notes the exchange the socket's parser is now reading the body of. */
export function setCurrentExchange(socket: Socket, exchange: Abandonable): void {
  ;(socket as ExchangeSocket)[CURRENT_EXCHANGE] = exchange
}

const ALLOW = 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS'

/** One of our error answers as raw bytes, for a socket without a usable ServerResponse. */
export function rawErrorResponse(error: ProxyError): string {
  const spec = ERRORS[error.code]
  const body = JSON.stringify(error)
  const allow = error.statusCode === 405 ? `Allow: ${ALLOW}\r\n` : ''
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

/** Whether a response to a request on this socket has already put bytes on the wire. */
function responseStarted(socket: Duplex): boolean {
  // node:http keeps the response being written as `_httpMessage`; its own default handler
  // makes this same check before it answers a parse error.
  const current = (socket as { _httpMessage?: { headersSent?: boolean } | null })._httpMessage
  return current !== undefined && current !== null && current.headersSent === true
}

/**
 * The server's 'clientError' listener: the request (if node got as far as one) is recorded and
 * cancelled upstream, and the client gets our 4xx with `Connection: close`, unless a response
 * is already on the wire (then only a close can tell it) or the client already left.
 */
export function handleClientError(err: Error & { code?: string; reason?: string }, socket: Duplex): void {
  // The client left (reset, or closed mid-request): nobody to answer; the request in flight
  // ends as a client close (499) when its response sees the socket go.
  if (err.code === 'ECONNRESET' || err.code === 'HPE_INVALID_EOF_STATE' || !socket.writable) {
    socket.destroy()
    return
  }
  const answer = clientErrorAnswer(err)
  ;(socket as ExchangeSocket)[CURRENT_EXCHANGE]?.abandon(answer.statusCode)
  if (responseStarted(socket)) {
    socket.destroy()
    return
  }
  endWith(socket, answer)
}

/** The server's 'connect' listener: switchyard is no forward proxy; CONNECT gets 405. */
export function handleConnect(_req: IncomingMessage, socket: Duplex): void {
  socket.on('error', () => undefined)
  endWith(socket, new ProxyError('SY_ERR_METHOD_NOT_ALLOWED'))
}

function endWith(socket: Duplex, answer: ProxyError): void {
  socket.write(rawErrorResponse(answer))
  // Ends our side once the answer is flushed, then closes; a client that never reads is cut.
  const net = socket as Socket
  if (typeof net.destroySoon === 'function') net.destroySoon()
  else socket.end()
  setTimeout(() => socket.destroy(), 5_000).unref()
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
 * What node's parser lets through but a proxy must not forward: a Host header missing (HTTP/1.1)
 * or repeated (node keeps the first, an upstream might read another), and a Transfer-Encoding
 * other than `chunked` (node would pass on the coded bytes as if they were the body).
 */
export function malformedHead(req: IncomingMessage): string | undefined {
  const raw = req.rawHeaders
  let hosts = 0
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!
    if (name.length === 4 && name.toLowerCase() === 'host') hosts++
  }
  if (hosts > 1) return 'The request has more than one Host header'
  if (hosts === 0 && req.httpVersion === '1.1') return 'An HTTP/1.1 request needs a Host header'
  const te = req.headers['transfer-encoding']
  if (te !== undefined && te.toLowerCase() !== 'chunked') return 'Transfer-Encoding other than "chunked" is not supported'
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
