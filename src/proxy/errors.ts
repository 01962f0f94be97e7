import { ERRORS as CATALOG } from '../errors.js'
import type { ErrorKind } from './types.js'

type ProxyStatus = 400 | 405 | 408 | 413 | 431 | 499 | 502 | 503 | 504

/** One entry of the error catalog: what the client gets and how the outcome is counted. */
export interface ErrorSpec<C extends string = string> {
  readonly code: C
  readonly statusCode: ProxyStatus
  /** The reason phrase, as Fastify puts it in `error`. */
  readonly error: string
  /** How the outcome is counted; undefined when nobody upstream failed. */
  readonly kind: ErrorKind | undefined
  readonly message: string
}

/** What the data path adds to an entry of the program's catalog (src/errors.ts). */
type DataPathSpec = Omit<ErrorSpec, 'code' | 'statusCode'>

type Catalog = typeof CATALOG

/** The specs a data path entry may have: none for a code the catalog lacks or gives no data path status. */
type SpecsOf<T> = { readonly [K in keyof T]: K extends keyof Catalog ? (Catalog[K]['status'] extends ProxyStatus ? DataPathSpec : never) : never }

/** The specs completed with their code and the catalog's status. */
type DataPathCatalog<T> = { readonly [K in keyof T & keyof Catalog]: ErrorSpec<K> & { readonly statusCode: Catalog[K]['status'] } }

// Keys must be codes of the program's catalog; the code and status are filled in from it.
function defineCatalog<T extends SpecsOf<T>>(specs: T): DataPathCatalog<T> {
  const entries = Object.entries<DataPathSpec>(specs).map(([code, spec]) => {
    const { status } = CATALOG[code as keyof Catalog]
    return [code, Object.freeze({ code, statusCode: status, ...spec })]
  })
  return Object.freeze(Object.fromEntries(entries)) as DataPathCatalog<T>
}

/** Every error the data path answers with, keyed by its code. */
export const ERRORS = defineCatalog({
  SY_ERR_UPSTREAM_CONNECT: {
    error: 'Bad Gateway',
    kind: 'connect',
    message: 'The upstream could not be reached',
  },
  SY_ERR_NO_TARGETS: {
    error: 'Bad Gateway',
    kind: 'connect',
    message: 'No upstream targets are configured for this colour',
  },
  SY_ERR_UPSTREAM_TIMEOUT: {
    error: 'Gateway Timeout',
    kind: 'timeout',
    message: 'The upstream sent no response headers in time',
  },
  SY_ERR_UPSTREAM_IDLE: {
    error: 'Gateway Timeout',
    kind: 'idle',
    message: 'The upstream went silent inside the response body for too long',
  },
  SY_ERR_UPSTREAM_RESET: {
    error: 'Bad Gateway',
    kind: 'reset',
    message: 'The upstream closed the connection before the response was complete',
  },
  SY_ERR_UPSTREAM_PROTOCOL: {
    error: 'Bad Gateway',
    kind: 'protocol',
    message: 'The upstream sent an invalid HTTP response',
  },
  SY_ERR_CLIENT_CLOSED: {
    error: 'Client Closed Request',
    kind: 'client',
    message: 'The client went away before the response was complete',
  },
  SY_ERR_CLIENT_STALLED: {
    error: 'Client Closed Request',
    kind: 'client',
    message: 'The client left the response unread for longer than timeouts.send',
  },
  SY_ERR_BAD_REQUEST: {
    error: 'Bad Request',
    kind: undefined,
    message: 'The request cannot be forwarded upstream',
  },
  SY_ERR_MALFORMED_REQUEST: {
    error: 'Bad Request',
    kind: undefined,
    message: 'The request is not valid HTTP/1.1',
  },
  SY_ERR_METHOD_NOT_ALLOWED: {
    error: 'Method Not Allowed',
    kind: undefined,
    message: 'CONNECT is not supported: switchyard is a reverse proxy, not a forward proxy',
  },
  SY_ERR_REQUEST_TIMEOUT: {
    error: 'Request Timeout',
    kind: undefined,
    message: 'The request headers did not arrive in time',
  },
  SY_ERR_BODY_TIMEOUT: {
    error: 'Request Timeout',
    kind: undefined,
    message: 'The request body stalled for longer than timeouts.body',
  },
  SY_ERR_BODY_TOO_LARGE: {
    error: 'Payload Too Large',
    kind: undefined,
    message: 'The request body is larger than limits.maxBodySize',
  },
  SY_ERR_HEADERS_TOO_LARGE: {
    error: 'Request Header Fields Too Large',
    kind: undefined,
    message: 'The request headers are larger than limits.maxHeaderSize',
  },
  SY_ERR_UPSTREAM_BUSY: {
    error: 'Service Unavailable',
    kind: 'busy',
    message: 'The upstream has too many requests waiting for a connection; retry shortly',
  },
})

/** A code of the catalog. */
export type ErrorCode = keyof typeof ERRORS

/** The Allow field of our 405s: methods switchyard forwards (others, CONNECT and TRACE aside, go too). */
export const ALLOWED_METHODS = 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS'

/** A data-path failure: a catalog entry plus the original error as `cause`. */
export class ProxyError extends Error {
  readonly code: ErrorCode
  readonly statusCode: ErrorSpec['statusCode']
  readonly kind: ErrorKind | undefined

  /** `message` replaces the catalog's message when it can say more (the host that did not resolve). */
  constructor(code: ErrorCode, cause?: unknown, message?: string) {
    const spec: ErrorSpec = ERRORS[code]
    super(message ?? spec.message, cause === undefined ? undefined : { cause })
    this.name = 'ProxyError'
    this.code = code
    this.statusCode = spec.statusCode
    this.kind = spec.kind
  }

  /** The JSON body of the answer, in Fastify's error shape plus `code`. */
  toJSON(): { statusCode: number; error: string; message: string; code: ErrorCode } {
    return { statusCode: this.statusCode, error: ERRORS[this.code].error, message: this.message, code: this.code }
  }
}

const CODE_BY_TRANSPORT_CODE: Readonly<Record<string, ErrorCode>> = Object.freeze({
  // Nothing reached the upstream.
  ECONNREFUSED: 'SY_ERR_UPSTREAM_CONNECT',
  ENOTFOUND: 'SY_ERR_UPSTREAM_CONNECT',
  EAI_AGAIN: 'SY_ERR_UPSTREAM_CONNECT',
  EAI_FAIL: 'SY_ERR_UPSTREAM_CONNECT',
  EAI_NONAME: 'SY_ERR_UPSTREAM_CONNECT',
  EHOSTUNREACH: 'SY_ERR_UPSTREAM_CONNECT',
  EHOSTDOWN: 'SY_ERR_UPSTREAM_CONNECT',
  ENETUNREACH: 'SY_ERR_UPSTREAM_CONNECT',
  ENETDOWN: 'SY_ERR_UPSTREAM_CONNECT',
  EADDRNOTAVAIL: 'SY_ERR_UPSTREAM_CONNECT',
  UND_ERR_CONNECT_TIMEOUT: 'SY_ERR_UPSTREAM_CONNECT',
  // Timeouts.
  UND_ERR_HEADERS_TIMEOUT: 'SY_ERR_UPSTREAM_TIMEOUT',
  UND_ERR_BODY_TIMEOUT: 'SY_ERR_UPSTREAM_IDLE',
  // The connection broke.
  ECONNRESET: 'SY_ERR_UPSTREAM_RESET',
  EPIPE: 'SY_ERR_UPSTREAM_RESET',
  ECONNABORTED: 'SY_ERR_UPSTREAM_RESET',
  ETIMEDOUT: 'SY_ERR_UPSTREAM_RESET',
  UND_ERR_SOCKET: 'SY_ERR_UPSTREAM_RESET',
  UND_ERR_CLOSED: 'SY_ERR_UPSTREAM_RESET',
  UND_ERR_DESTROYED: 'SY_ERR_UPSTREAM_RESET',
  // The upstream spoke something other than valid HTTP.
  UND_ERR_RES_CONTENT_LENGTH_MISMATCH: 'SY_ERR_UPSTREAM_PROTOCOL',
  UND_ERR_RES_EXCEEDED_MAX_SIZE: 'SY_ERR_UPSTREAM_PROTOCOL',
  UND_ERR_HEADERS_OVERFLOW: 'SY_ERR_UPSTREAM_PROTOCOL',
  // The client's side of the exchange ended it.
  UND_ERR_ABORTED: 'SY_ERR_CLIENT_CLOSED',
  UND_ERR_ABORT: 'SY_ERR_CLIENT_CLOSED',
  UND_ERR_REQ_CONTENT_LENGTH_MISMATCH: 'SY_ERR_CLIENT_CLOSED',
  // undici refused the request itself (a path or header it will not send).
  UND_ERR_INVALID_ARG: 'SY_ERR_BAD_REQUEST',
  UND_ERR_NOT_SUPPORTED: 'SY_ERR_BAD_REQUEST',
})

/**
 * An https:// target whose certificate is refused (untrusted issuer, wrong name, expired) or
 * whose TLS handshake fails: nothing reached it, so it is a connect failure (see upstreams.tls).
 */
const TLS_VERIFY_CODES: ReadonlySet<string> = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_REVOKED',
  'CERT_SIGNATURE_FAILURE',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'ERR_TLS_HANDSHAKE_TIMEOUT',
  'EPROTO',
])

function isTlsFailure(code: string): boolean {
  return TLS_VERIFY_CODES.has(code) || code.startsWith('ERR_SSL_')
}

/** getaddrinfo failures: the target's name did not resolve. */
const DNS_CODES: ReadonlySet<string> = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NONAME'])

function dnsHostname(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined
  const host = (err as { hostname?: unknown }).hostname
  if (typeof host === 'string' && host !== '') return host
  const inner = (err as { errors?: unknown }).errors
  return Array.isArray(inner) ? dnsHostname(inner[0]) : undefined
}

function transportCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined
  const code = (err as { code?: unknown }).code
  if (typeof code === 'string') return code
  // Node's happy-eyeballs connect reports an AggregateError of per-address attempts.
  const inner = (err as { errors?: unknown }).errors
  return Array.isArray(inner) ? transportCode(inner[0]) : undefined
}

/**
 * Maps an undici or socket error to the catalog: unreachable → 502 connect, no headers in
 * time → 504 timeout, silence in the body → idle, broken connection → 502 reset, invalid
 * HTTP → 502 protocol. Unknown errors count as a reset. The original is kept as `cause`.
 */
export function toProxyError(err: unknown): ProxyError {
  if (err instanceof ProxyError) return err
  const code = transportCode(err)
  if (code !== undefined && DNS_CODES.has(code)) {
    const host = dnsHostname(err)
    if (host !== undefined) {
      return new ProxyError('SY_ERR_UPSTREAM_CONNECT', err, `The upstream host "${host}" could not be resolved (${code})`)
    }
  }
  if (code !== undefined && isTlsFailure(code)) {
    const reason = err instanceof Error ? err.message : code
    return new ProxyError('SY_ERR_UPSTREAM_CONNECT', err, `The upstream's TLS handshake failed (${code}: ${reason}); see upstreams.tls`)
  }
  let mapped = code === undefined ? undefined : CODE_BY_TRANSPORT_CODE[code]
  if (mapped === undefined) {
    const isParserError = (code !== undefined && code.startsWith('HPE_')) || (err instanceof Error && err.name === 'HTTPParserError')
    mapped = isParserError ? 'SY_ERR_UPSTREAM_PROTOCOL' : 'SY_ERR_UPSTREAM_RESET'
  }
  return new ProxyError(mapped, err)
}

/**
 * The error for an upstream connection that ended (`error`: how; undefined for a FIN) before the
 * answer was complete. `keptAliveUnanswered`: the connection had carried an earlier request and
 * nothing of this one's answer came. Then the likeliest cause is an upstream that closes idle
 * connections sooner than we keep them, closing this one as the request went out. A request
 * with a body cannot be sent again (it may have been taken), so the message tells the operator
 * the knob.
 */
export function upstreamClosed(error: Error | undefined, keptAliveUnanswered: boolean): ProxyError {
  const failure = error === undefined ? new ProxyError('SY_ERR_UPSTREAM_RESET') : toProxyError(error)
  if (!keptAliveUnanswered || failure.code !== 'SY_ERR_UPSTREAM_RESET') return failure
  const how = error === undefined ? 'FIN' : (transportCode(error) ?? error.message)
  return new ProxyError(
    'SY_ERR_UPSTREAM_RESET',
    error,
    `The upstream closed a kept-alive connection before answering (${how}): it may have closed it as idle as the request was sent, ` +
      "and a request with a body is not sent again. Set timeouts.upstreamKeepAlive under the upstream's own idle timeout",
  )
}

/** A one-line description of an error for target health: its code and message. */
export function describeError(err: unknown): string {
  // A message of our own (a DNS name, a TLS reason, a kept-alive close) says more than its cause's, and names the code.
  if (err instanceof ProxyError && err.message !== ERRORS[err.code].message) return err.message
  const cause = err instanceof ProxyError ? err.cause : err
  if (cause instanceof Error) {
    const code = transportCode(cause)
    if (code === undefined) return cause.message
    if (cause.message === '') return code
    return cause.message.includes(code) ? cause.message : `${code}: ${cause.message}`
  }
  return err instanceof Error ? err.message : String(err)
}
