import type { IncomingHttpHeaders } from 'node:http'

/** How the body after a head is delimited (RFC 9112 §6.3). */
export const Framing = { None: 0, Length: 1, Chunked: 2, UntilClose: 3 } as const
export type Framing = (typeof Framing)[keyof typeof Framing]

/**
 * A framing problem: a message naming it, and the llhttp error name (HPE_*) node's parser gives
 * the same bytes (err.code in 'clientError'); where llhttp accepts what we refuse, the closest name.
 */
export interface ParseProblem {
  readonly error: string
  readonly code: string
}

/**
 * A head that must be refused: the status to answer, a message and llhttp's code. Every refusal
 * answers 400 as node does, but a head over the limit (431) and a request-target too long (414).
 * An unsupported HTTP version is 400 too (llhttp's HPE_INVALID_VERSION), not 505.
 */
export interface HeadError extends ParseProblem {
  readonly status: 400 | 414 | 431 | 501
}

/** What request and response heads have alike. */
export interface MessageHead {
  readonly minor: 0 | 1
  /** [name, value, ...]: names as sent, values with OWS trimmed (as node's req.rawHeaders). */
  readonly rawHeaders: string[]
  /** Lowercased names, duplicates joined as node:http's IncomingMessage joins them. */
  readonly headers: IncomingHttpHeaders
  /** How the body after the head is delimited (never UntilClose for a request). */
  readonly framing: Framing
  /** With Framing.Length, the length; else 0. */
  readonly contentLength: number
  /** A request: the client keeps its connection; a response: the upstream connection may be reused. */
  readonly keepAlive: boolean
  /** Bytes of the head from `start`, leading empty lines and the final CRLFCRLF included. */
  readonly headLength: number
}

/** A complete, valid request head. */
export interface RequestHead extends MessageHead {
  readonly method: string
  /** The request-target exactly as sent. */
  readonly target: string
  /** As node's req.upgrade: CONNECT, or a Connection `upgrade` token with a non-empty Upgrade field. */
  readonly upgrade: boolean
  readonly expectContinue: boolean
  /**
   * The field lines to send upstream as text (to the last one's CRLF): hop-by-hop ones,
   * X-Forwarded-* and Expect dropped, the rest as sent. Undefined when a field name repeats or
   * a Connection field names fields to drop: the head is then rebuilt from `headers`.
   */
  readonly passOn: string | undefined
  /** passOn left out forwarding fields beyond the trio (isForwardingField): a trusted peer's go up from rawHeaders. */
  readonly forwardingDropped: boolean
}

/** A complete, valid response head. */
export interface ResponseHead extends MessageHead {
  readonly status: number
  readonly reason: string
  /** How long the upstream keeps this connection idle (its Keep-Alive `timeout=N`), in ms; 0 when it does not say. */
  readonly keepAliveMs: number
  /**
   * The head to pass on to a client, as text up to its last field line's CRLF: an HTTP/1.1
   * status line, then the fields minus hop-by-hop ones and the colour header. Undefined when a
   * Connection field names other fields to drop (rawHeaders then serve).
   */
  readonly passOn: string | undefined
}

/** True when the parse refused the head. */
export function isHeadError(x: RequestHead | ResponseHead | HeadError): x is HeadError {
  return (x as Partial<HeadError>).error !== undefined
}

export function headError(error: string, status: HeadError['status'], code: string): HeadError {
  return { error, status, code }
}

/** A 400 refusal with llhttp's code. */
export function badHead(error: string, code: string): HeadError {
  return { error, status: 400, code }
}
