import type { IncomingHttpHeaders } from 'node:http'
import { SKIP_ON_RESPONSE } from '../headers.js'
import { FieldFacts, readFieldLines } from './field-lines.js'
import { headersOf } from './known-fields.js'
import { brokenHeadText, findHeadEnd, firstBareLineEnd, headOverLimit, headTooLarge, isDigit } from './head-scan.js'
import { badHead, Framing, isHeadError, type HeadError, type ResponseHead } from './head-types.js'

/**
 * Parses a response head in buf[start, end): `HTTP/1.x SP 3DIGIT [SP reason] CRLF`, field
 * lines, CRLF. `method` is the request's (a HEAD response has no body; a 2xx to CONNECT is a
 * tunnel). null while the head is not complete (and not over maxHeaderSize).
 */
export function parseResponseHead(buf: Buffer, start: number, end: number, maxHeaderSize: number, method: string): ResponseHead | HeadError | null {
  const headEnd = findHeadEnd(buf, start, end)
  if (headEnd !== -1) return readResponseHead(buf.toString('latin1', start, headEnd + 2), headEnd + 4 - start, maxHeaderSize, method)
  const over = headOverLimit(buf, start, start, end, maxHeaderSize, false)
  if (over !== null) return over
  const bare = firstBareLineEnd(buf, start, end)
  if (bare === -1) return null
  const head = readResponseHead(brokenHeadText(buf, start, bare), end - start, maxHeaderSize, method)
  return isHeadError(head) ? head : badHead('A bare LF or CR in the head', 'HPE_STRICT')
}

/** Reads the head s (to the CRLF ending its last field line), the status line in byte order as llhttp. */
function readResponseHead(s: string, headLength: number, maxHeaderSize: number, method: string): ResponseHead | HeadError {
  const lineEnd = s.indexOf('\r')
  if (!s.startsWith('HTTP/')) return badHead('A status line not starting with HTTP/', 'HPE_INVALID_CONSTANT')
  if (!isDigit(s.charCodeAt(5)) || s.charCodeAt(6) !== 46 || !isDigit(s.charCodeAt(7))) return badHead('A malformed HTTP version', 'HPE_INVALID_VERSION')
  const major = s.charCodeAt(5) - 48
  const minorDigit = s.charCodeAt(7) - 48
  if (major !== 1 || minorDigit > 1) return badHead(`HTTP/${major}.${minorDigit} is not supported`, 'HPE_INVALID_VERSION')
  if (s.charCodeAt(8) !== 32) return badHead('No SP after the HTTP version', 'HPE_INVALID_VERSION')
  const c0 = s.charCodeAt(9)
  const c1 = s.charCodeAt(10)
  const c2 = s.charCodeAt(11)
  // A status under 100 llhttp takes; we refuse it as a bad status.
  if (!isDigit(c0) || !isDigit(c1) || !isDigit(c2) || c0 === 48) return badHead('A status code not of three digits from 100', 'HPE_INVALID_STATUS')
  const status = (c0 - 48) * 100 + (c1 - 48) * 10 + (c2 - 48)
  // llhttp takes `HTTP/1.1 200` with no SP before an empty reason; so do we.
  if (lineEnd > 12 && s.charCodeAt(12) !== 32) return badHead('No SP after the status code', 'HPE_INVALID_STATUS')
  for (let i = 13; i < lineEnd; i++) {
    const c = s.charCodeAt(i)
    if (c === 10) return badHead('A bare LF in the status line', 'HPE_CR_EXPECTED')
    // llhttp takes other controls in a reason; we refuse them as a bad status line.
    if ((c < 32 && c !== 9) || c === 127) return badHead('A control byte in the reason phrase', 'HPE_INVALID_STATUS')
  }
  if (s.charCodeAt(lineEnd + 1) !== 10) return badHead('A bare CR ending the status line', 'HPE_STRICT')
  const minor = minorDigit === 1 ? 1 : 0
  const reason = lineEnd > 13 ? s.slice(13, lineEnd) : ''

  const facts = new FieldFacts({ gather: false, drop: SKIP_ON_RESPONSE })
  // An HTTP/1.1 status line with its reason goes on as it came; another is written anew.
  const sameStatusLine = minor === 1 && lineEnd > 12
  facts.passFrom = sameStatusLine ? 0 : lineEnd + 2
  const error = readFieldLines(s, lineEnd + 2, facts)
  if (error !== undefined) return error
  const tooLarge = headTooLarge(facts.counted + reason.length, headLength, maxHeaderSize)
  if (tooLarge !== undefined) return tooLarge

  const te = facts.transferEncoding
  // RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 message means its framing is faulty (llhttp takes it).
  if (te !== undefined && minor === 0) return badHead('Transfer-Encoding in an HTTP/1.0 response', 'HPE_INVALID_TRANSFER_ENCODING')
  let framing: Framing = Framing.UntilClose
  let contentLength = 0
  if (method === 'HEAD' || status < 200 || status === 204 || status === 304 || (method === 'CONNECT' && status < 300)) {
    framing = Framing.None
  } else if (te !== undefined) {
    // Only chunked, as in a request. llhttp reads another list until close, or as chunks when
    // chunked ends it; either way the client would get the body still coded (gzip, ...), its name
    // dropped with the hop-by-hop field: refused, as nginx refuses "unknown Transfer-Encoding".
    if (te.length !== 7 || te.toLowerCase() !== 'chunked') return badHead(`A transfer coding other than chunked (${te})`, 'HPE_INVALID_TRANSFER_ENCODING')
    framing = Framing.Chunked
  } else if (facts.contentLength !== -1) {
    contentLength = facts.contentLength
    framing = contentLength === 0 ? Framing.None : Framing.Length
  }
  const keepAlive = framing !== Framing.UntilClose && !facts.close && (minor === 1 || facts.keepAlive)
  // A Connection field naming other fields: those are dropped from rawHeaders (headers.ts).
  const passOn = facts.connectionNames ? undefined : `${sameStatusLine ? '' : `HTTP/1.1 ${status} ${reason}\r\n`}${facts.passOn(s)}`
  return new ParsedResponseHead(status, reason, minor, s, lineEnd + 2, passOn, framing, contentLength, keepAlive, facts.keepAliveMs, headLength)
}

/**
 * A response head as read. Its text is kept, and its rawHeaders and headers are read from it on
 * first use: the engine passes the head on as text (`passOn`), and making a string of each name
 * and value, a headers object, then a new head from them, cost ~9 % of c50's req/s (alternating hand runs).
 */
class ParsedResponseHead implements ResponseHead {
  #rawHeaders: string[] | undefined = undefined
  #headers: IncomingHttpHeaders | undefined = undefined

  constructor(
    readonly status: number,
    readonly reason: string,
    readonly minor: 0 | 1,
    readonly text: string,
    readonly fieldsAt: number,
    readonly passOn: string | undefined,
    readonly framing: Framing,
    readonly contentLength: number,
    readonly keepAlive: boolean,
    readonly keepAliveMs: number,
    readonly headLength: number,
  ) {}

  get rawHeaders(): string[] {
    if (this.#rawHeaders === undefined) {
      // Read once already without a problem: this read finds none either.
      const facts = new FieldFacts({ eager: false })
      readFieldLines(this.text, this.fieldsAt, facts)
      this.#rawHeaders = facts.rawHeaders
    }
    return this.#rawHeaders
  }

  get headers(): IncomingHttpHeaders {
    return (this.#headers ??= headersOf(this.rawHeaders))
  }
}
