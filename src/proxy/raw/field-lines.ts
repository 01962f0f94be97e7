import type { IncomingHttpHeaders } from 'node:http'
import { badHead, type HeadError } from './head-types.js'
import { isForwardingField } from '../headers.js'
import { addHeader, lowerFieldName } from './known-fields.js'

/**
 * Field lines (RFC 9112 §5), read from a head decoded once as latin1 by char-code loops. Shared
 * by request heads, response heads and chunked trailers; every line must end in CRLF. Each
 * refusal carries the code llhttp gives the same line (its first problem in byte order).
 */

/** 1 for the bytes a token (RFC 9110 §5.6.2 tchar) may hold. */
export const TCHAR = new Uint8Array(256)
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1
for (let c = 48; c <= 57; c++) TCHAR[c] = 1
for (let c = 65; c <= 90; c++) TCHAR[c] = 1
for (let c = 97; c <= 122; c++) TCHAR[c] = 1

/** What the field lines say about framing and the connection, gathered in the one pass. */
export class FieldFacts {
  readonly rawHeaders: string[] = []
  /** The fields by lowercased name, built as they are read when `eager`; else {} (see headersOf). */
  readonly headers: IncomingHttpHeaders = {}
  /** -1 when absent. */
  contentLength = -1
  /** The (trimmed) value of the Transfer-Encoding field, when there is one. */
  transferEncoding: string | undefined = undefined
  hosts = 0
  close = false
  keepAlive = false
  upgradeToken = false
  upgradeField = false
  expectContinue = false
  /** Bytes node's parser counts against maxHeaderSize: names and values (from the first non-OWS byte). */
  counted = 0
  /**
   * Build `headers` in the pass (with `gather`). A request's are read by routing; a response's
   * only by the mirror and tests (the engine passes its text on), so theirs are made from
   * rawHeaders on first read: a headers object is a dictionary keyed by every field name.
   */
  readonly eager: boolean
  /** Gather rawHeaders (and, when eager, headers) in the pass; a response head is read again for them when asked (ParsedResponseHead). */
  readonly gather: boolean
  /**
   * Set: the head is to be passed on with the fields of these (lowercased) names dropped;
   * `passOn(s)` gives the head's text from `passFrom` without them.
   */
  readonly drop: ReadonlySet<string> | undefined
  /** Some field name came twice (or is an inherited property's, `constructor`): `headers` joined them. */
  repeated = false
  /** Where the text not yet added to `#passed` starts. */
  passFrom = 0
  #passed = ''
  /** A Connection (or Proxy-Connection) token other than close, keep-alive and upgrade: it names a field to drop. */
  connectionNames = false
  /** A request's: forwarding fields beside the trio (isForwardingField) are dropped too; a trusted peer's are added back. */
  readonly forwarding: boolean
  /** Some forwarding field was dropped (with `forwarding`). */
  forwardingDropped = false
  /** A Keep-Alive field's `timeout=N` (an answer's: how long its server keeps the connection idle), in ms; 0 when none. */
  keepAliveMs = 0

  constructor(options: { readonly eager?: boolean; readonly gather?: boolean; readonly drop?: ReadonlySet<string>; readonly forwarding?: boolean } = {}) {
    this.eager = options.eager ?? true
    this.gather = options.gather ?? true
    this.drop = options.drop
    this.forwarding = options.forwarding ?? false
  }

  /** Leaves s[from, to) (a field line) out of what is passed on. */
  dropLine(s: string, from: number, to: number): void {
    if (from > this.passFrom) this.#passed += s.slice(this.passFrom, from)
    this.passFrom = to
  }

  /** The text of s from where passing began, the dropped lines left out (s ends with the last field line). */
  passOn(s: string): string {
    return this.passFrom === 0 && this.#passed === '' ? s : this.#passed + s.slice(this.passFrom)
  }
}

/** Where the parts of the field line read last lie: one object, reused, so no allocation per line. */
export const fieldLine = { colon: 0, valueStart: 0, valueEnd: 0, underscore: false }

/** Checks the field line s[pos, cr) (cr: its CR) and notes its parts in `fieldLine`; returns the error. */
export function readFieldLine(s: string, pos: number, cr: number): HeadError | undefined {
  let i = pos
  let underscore = false
  for (; i < cr; i++) {
    const c = s.charCodeAt(i)
    if (TCHAR[c] === 1) {
      if (c === 95) underscore = true
    } else if (c === 58) break
    else return nameError(c, i === pos)
  }
  if (i === cr) return badHead('A field line without a colon', 'HPE_INVALID_HEADER_TOKEN')
  if (i === pos) return badHead('An empty field name', 'HPE_INVALID_HEADER_TOKEN')
  fieldLine.colon = i
  fieldLine.underscore = underscore
  i++
  while (i < cr && (s.charCodeAt(i) === 32 || s.charCodeAt(i) === 9)) i++
  fieldLine.valueStart = i
  let valueEnd = i
  for (; i < cr; i++) {
    const c = s.charCodeAt(i)
    // VCHAR and obs-text; SP and HTAB inside a value; no other control
    if (c > 32 && c !== 127) valueEnd = i + 1
    else if (c !== 32 && c !== 9) return valueError(c, i > fieldLine.valueStart)
  }
  fieldLine.valueEnd = valueEnd
  return undefined
}

/** llhttp: any byte but a tchar before the colon is HPE_INVALID_HEADER_TOKEN. */
function nameError(c: number, first: boolean): HeadError {
  if (first && (c === 32 || c === 9)) return badHead('A field line starting with whitespace (obs-fold)', 'HPE_INVALID_HEADER_TOKEN')
  if (c === 32 || c === 9) return badHead('Whitespace between a field name and its colon', 'HPE_INVALID_HEADER_TOKEN')
  if (c === 10) return badHead('A bare LF in a field name', 'HPE_INVALID_HEADER_TOKEN')
  return badHead(`Invalid byte 0x${c.toString(16).padStart(2, '0')} in a field name`, 'HPE_INVALID_HEADER_TOKEN')
}

/** llhttp: a bare LF once the value has begun is HPE_CR_EXPECTED; before it, and any other control, HPE_INVALID_HEADER_TOKEN. */
function valueError(c: number, valueBegun: boolean): HeadError {
  if (c === 10) return badHead('A bare LF in a field value', valueBegun ? 'HPE_CR_EXPECTED' : 'HPE_INVALID_HEADER_TOKEN')
  if (c === 0) return badHead('NUL in a field line', 'HPE_INVALID_HEADER_TOKEN')
  return badHead(`Control byte 0x${c.toString(16).padStart(2, '0')} in a field line`, 'HPE_INVALID_HEADER_TOKEN')
}

/**
 * The error for a CR no LF follows, ending the field line just read by readFieldLine (valid up
 * to it): llhttp's HPE_LF_EXPECTED once a value has begun, else HPE_STRICT.
 */
export function bareCrError(cr: number): HeadError {
  return badHead('A bare CR in a field line', fieldLine.valueStart < cr ? 'HPE_LF_EXPECTED' : 'HPE_STRICT')
}

/**
 * Reads the field lines of s from `pos` to its end (s ends with the last line's CRLF) into
 * `facts`; returns the first problem found.
 */
export function readFieldLines(s: string, pos: number, facts: FieldFacts): HeadError | undefined {
  const length = s.length
  const first = pos
  while (pos < length) {
    const cr = s.indexOf('\r', pos)
    const c = s.charCodeAt(pos)
    // llhttp: whitespace opening the first field line is HPE_UNEXPECTED_SPACE (later, obs-fold: a bad token).
    if (pos === first && (c === 32 || c === 9)) return badHead('A field line starting with whitespace (obs-fold)', 'HPE_UNEXPECTED_SPACE')
    // A CR opening a line is the end of the head: llhttp wants its LF (HPE_STRICT).
    if (cr === pos) return badHead('A bare CR in a field line', 'HPE_STRICT')
    const error = readFieldLine(s, pos, cr)
    if (error !== undefined) return error
    if (s.charCodeAt(cr + 1) !== 10) return bareCrError(cr)
    const { colon, valueStart, valueEnd } = fieldLine
    const name = s.slice(pos, colon)
    facts.counted += colon - pos + cr - valueStart
    const lower = lowerFieldName(name)
    // llhttp takes these as any field; the name is what we refuse, so HPE_INVALID_HEADER_TOKEN.
    if (fieldLine.underscore && isFramingLookalike(lower)) return badHead(`The field name "${name}" reads as a framing field`, 'HPE_INVALID_HEADER_TOKEN')
    const problem = noteField(facts, lower, s, valueStart, valueEnd, colon, cr)
    if (problem !== undefined) return problem
    if (facts.drop?.has(lower) === true) facts.dropLine(s, pos, cr + 2)
    else if (facts.forwarding && isForwardingField(lower)) {
      facts.dropLine(s, pos, cr + 2)
      facts.forwardingDropped = true
    }
    if (facts.gather) {
      const value = s.slice(valueStart, valueEnd)
      facts.rawHeaders.push(name, value)
      if (facts.eager && !addHeader(facts.headers, lower, value)) facts.repeated = true
    }
    pos = cr + 2
  }
  return undefined
}

/** `Content_Length`, `Transfer_Encoding`, `Ho_st`: names some servers read as the real one. */
export function isFramingLookalike(lower: string): boolean {
  const bare = lower.replaceAll('_', '').replaceAll('-', '')
  return bare === 'contentlength' || bare === 'transferencoding' || bare === 'host'
}

/**
 * Notes what a field means for framing and the connection; returns a problem with it. As llhttp,
 * Content-Length and Transfer-Encoding together fail at the second of them: HPE_INVALID_CONTENT_LENGTH
 * or HPE_INVALID_TRANSFER_ENCODING.
 */
function noteField(facts: FieldFacts, lower: string, s: string, valueStart: number, valueEnd: number, colon: number, cr: number): HeadError | undefined {
  switch (lower.length) {
    case 4:
      if (lower === 'host') facts.hosts++
      break
    case 6:
      if (lower === 'expect' && valueEnd - valueStart === 12 && s.slice(valueStart, valueEnd).toLowerCase() === '100-continue') facts.expectContinue = true
      break
    case 7:
      if (lower === 'upgrade' && valueEnd > valueStart) facts.upgradeField = true
      break
    case 10:
      if (lower === 'connection') return connectionTokens(facts, s.slice(valueStart, valueEnd))
      if (lower === 'keep-alive') facts.keepAliveMs = keepAliveTimeoutMs(s.slice(valueStart, valueEnd))
      break
    case 14:
      if (lower === 'content-length') return contentLength(facts, s.slice(valueStart, valueEnd), hasTab(s, colon, cr))
      break
    case 16:
      // llhttp reads Proxy-Connection as Connection; so do we, not to keep alive what node would close.
      if (lower === 'proxy-connection') return connectionTokens(facts, s.slice(valueStart, valueEnd))
      break
    case 17:
      if (lower !== 'transfer-encoding') break
      if (facts.contentLength !== -1) return badHead('Content-Length and Transfer-Encoding together', 'HPE_INVALID_TRANSFER_ENCODING')
      // llhttp joins repeated fields (`chunked` then refused as not last); a tab it takes as OWS.
      if (facts.transferEncoding !== undefined) return badHead('More than one Transfer-Encoding field', 'HPE_INVALID_TRANSFER_ENCODING')
      // HTAB as OWS is valid, but an upstream that does not trim it would not see `chunked`.
      if (hasTab(s, colon, cr)) return badHead('A tab in the Transfer-Encoding field', 'HPE_INVALID_TRANSFER_ENCODING')
      facts.transferEncoding = s.slice(valueStart, valueEnd)
      break
  }
  return undefined
}

/** `timeout=N` of a Keep-Alive field (`timeout=5, max=100`: RFC 2068 §19.7.1.1), in ms; 0 when absent or not a number. */
function keepAliveTimeoutMs(value: string): number {
  const at = value.toLowerCase().indexOf('timeout=')
  const seconds = at === -1 ? 0 : Number.parseInt(value.slice(at + 8), 10)
  return seconds > 0 ? seconds * 1000 : 0
}

function hasTab(s: string, from: number, to: number): boolean {
  const tab = s.indexOf('\t', from)
  return tab !== -1 && tab < to
}

const MAX_LENGTH_DIGITS = 16

/** llhttp: a second Content-Length is HPE_UNEXPECTED_CONTENT_LENGTH, a bad one HPE_INVALID_CONTENT_LENGTH (tabs, 17+ digits, 2^53 and more: ours). */
function contentLength(facts: FieldFacts, value: string, tab: boolean): HeadError | undefined {
  if (facts.transferEncoding !== undefined) return badHead('Content-Length and Transfer-Encoding together', 'HPE_INVALID_CONTENT_LENGTH')
  if (facts.contentLength !== -1) return badHead('More than one Content-Length field', 'HPE_UNEXPECTED_CONTENT_LENGTH')
  if (tab) return badHead('A tab in the Content-Length field', 'HPE_INVALID_CONTENT_LENGTH')
  if (value === '') return badHead('An empty Content-Length', 'HPE_INVALID_CONTENT_LENGTH')
  if (value.length > MAX_LENGTH_DIGITS) return badHead('A Content-Length too large', 'HPE_INVALID_CONTENT_LENGTH')
  let n = 0
  for (let i = 0; i < value.length; i++) {
    const d = value.charCodeAt(i) - 48
    if (d < 0 || d > 9) return badHead('A Content-Length that is not a number of digits', 'HPE_INVALID_CONTENT_LENGTH')
    n = n * 10 + d
  }
  if (n > Number.MAX_SAFE_INTEGER) return badHead('A Content-Length too large', 'HPE_INVALID_CONTENT_LENGTH')
  facts.contentLength = n
  return undefined
}

/**
 * Notes the `close`, `keep-alive` and `upgrade` tokens of a Connection list (case-insensitive).
 * A token naming Content-Length or Host is refused: the next hop must get the field (RFC 9110
 * §7.6.1 forbids sending it as a connection option), and dropping Content-Length while the body
 * goes on would let that body be read as the next request.
 */
function connectionTokens(facts: FieldFacts, value: string): HeadError | undefined {
  const n = value.length
  let i = 0
  while (i < n) {
    const c = value.charCodeAt(i)
    if (c === 44 || c === 32 || c === 9) {
      i++
      continue
    }
    let j = i
    while (j < n && value.charCodeAt(j) !== 44) j++
    let k = j
    while (value.charCodeAt(k - 1) === 32 || value.charCodeAt(k - 1) === 9) k--
    const length = k - i
    const token = length === 4 || length === 5 || length === 7 || length === 10 || length === 14 ? value.slice(i, k).toLowerCase() : ''
    if (token === 'close') facts.close = true
    else if (token === 'keep-alive') facts.keepAlive = true
    else if (token === 'upgrade') facts.upgradeToken = true
    else if (token === 'content-length' || token === 'host') return badHead(`A Connection field naming ${value.slice(i, k)}, which the next hop needs`, 'HPE_INVALID_HEADER_TOKEN')
    else if (length > 0) facts.connectionNames = true
    i = j
  }
  return undefined
}
