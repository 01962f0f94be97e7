/**
 * What the data path hands the comparison for one mirrored request: blue's answer (the one the
 * client got), green's answer to the shadow copy, and sometimes a second blue target's answer
 * to learn noise from. Plain data; captured off the client path.
 */

/** One upstream's answer as captured. */
export interface Captured {
  readonly status: number
  /** Lower-case names; repeated headers joined with ", " (set-cookie with "\n"). */
  readonly headers: Readonly<Record<string, string>>
  /** The body, or null when it was not kept (over the size cap, or not kept for this mode). */
  readonly body: Buffer | null
  /** Only the first bytes were kept: `body` is a prefix of the answer. */
  readonly truncated: boolean
  /** The answer ended cleanly (false: cut by the upstream, a timeout or an idle limit). */
  readonly complete: boolean
  /** SSE frames seen (`text/event-stream` only). */
  readonly events?: number
  /** From sending the request to the last body byte. */
  readonly durationMs: number
  /** To the first body byte; -1 when none came. */
  readonly ttfbMs: number
}

/** One mirrored request and its answers. */
export interface Pair {
  /** The route group (outcomes/route-groups), "" when grouping is off. */
  readonly route: string
  readonly method: string
  /** The request target as the client sent it (path and query). */
  readonly path: string
  readonly blue: Captured
  readonly green: Captured
  /** Another blue target's answer to the same request: what differs between it and `blue` is noise. */
  readonly blueTwin?: Captured
}

/** A content-type value's media type, lower-case, without parameters ("" when absent). */
export function mediaTypeOf(contentType: string | undefined): string {
  const value = contentType ?? ''
  const semi = value.indexOf(';')
  return (semi < 0 ? value : value.slice(0, semi)).trim().toLowerCase()
}

/** The media type of an answer (mediaTypeOf its content-type). */
export function mediaType(c: Captured): string {
  return mediaTypeOf(c.headers['content-type'])
}

/** `application/json` or any `+json` type. */
export function isJsonType(c: Captured): boolean {
  const type = mediaType(c)
  return type === 'application/json' || type.endsWith('+json')
}

/** A Server-Sent Events stream. */
export function isSse(c: Captured): boolean {
  return mediaType(c) === 'text/event-stream'
}

/** Media types of answers that stream by nature (events, tokens, lines): judged on framing and completion, never by bytes. */
const STREAM_TYPES: ReadonlySet<string> = new Set(['text/event-stream', 'application/x-ndjson', 'application/ndjson', 'application/jsonl', 'application/x-jsonlines', 'application/stream+json'])

/**
 * A streamed answer in the comparison's sense: an event or line stream by its media type. An
 * answer that merely came chunked (no content-length) is not one: once whole, its body is compared.
 */
export function isStream(c: Captured): boolean {
  return isStreamType(mediaType(c))
}

/** A media type (mediaTypeOf) that streams by nature. */
export function isStreamType(type: string): boolean {
  return STREAM_TYPES.has(type)
}

/** Whether the whole body is at hand: captured, not cut by the cap, ended cleanly. */
export function hasWholeBody(c: Captured): c is Captured & { readonly body: Buffer } {
  return c.body !== null && !c.truncated && c.complete
}

/** The parsed body when it is whole and JSON-typed; undefined otherwise (unparseable included). */
export function jsonBody(c: Captured): unknown {
  if (!hasWholeBody(c) || !isJsonType(c)) return undefined
  try {
    return JSON.parse(c.body.toString('utf8')) as unknown
  } catch {
    return undefined
  }
}
