import { METHODS } from 'node:http'
import { SKIP_ON_REQUEST } from '../headers.js'
import { FieldFacts, readFieldLines, TCHAR } from './field-lines.js'
import { brokenHeadText, findHeadEnd, firstBareLineEnd, headOverLimit, headTooLarge, isDigit, isUriHost } from './head-scan.js'
import { badHead, Framing, headError, isHeadError, type HeadError, type RequestHead } from './head-types.js'

/** The methods llhttp knows (node:http's METHODS); llhttp refuses any other. */
const KNOWN_METHODS = new Set(METHODS)

/**
 * Parses a request head in buf[start, end): `token SP request-target SP HTTP/1.x CRLF`, field
 * lines, CRLF. null while the head is not complete (and not over maxHeaderSize).
 */
export function parseRequestHead(buf: Buffer, start: number, end: number, maxHeaderSize: number): RequestHead | HeadError | null {
  let from = start
  // RFC 9112 §2.2: empty lines before the request-line are ignored (llhttp skips them too).
  while (end - from >= 2 && buf[from] === 13 && buf[from + 1] === 10) from += 2
  const headEnd = findHeadEnd(buf, from, end)
  if (headEnd !== -1) return readRequestHead(buf.toString('latin1', from, headEnd + 2), headEnd + 4 - start, maxHeaderSize)
  const over = headOverLimit(buf, start, from, end, maxHeaderSize, true)
  if (over !== null) return over
  const bare = firstBareLineEnd(buf, from, end)
  if (bare === -1) return null
  const head = readRequestHead(brokenHeadText(buf, from, bare), end - start, maxHeaderSize)
  return isHeadError(head) ? head : badHead('A bare LF or CR in the head', 'HPE_STRICT')
}

/**
 * Reads the head s (from the request line to the CRLF ending the last field line); headLength:
 * its bytes in the buffer, leading empty lines and the final CRLFCRLF included. The request line
 * is checked in byte order, each problem with the code llhttp gives it where it meets it.
 */
function readRequestHead(s: string, headLength: number, maxHeaderSize: number): RequestHead | HeadError {
  const lineEnd = s.indexOf('\r')
  let i = 0
  while (TCHAR[s.charCodeAt(i)] === 1) i++
  const method = s.slice(0, i)
  if (method !== 'GET' && !KNOWN_METHODS.has(method)) return badHead(`Unknown method "${method}"`, 'HPE_INVALID_METHOD')
  if (s.charCodeAt(i) !== 32) return badHead('No SP after the method', 'HPE_INVALID_METHOD')

  const targetStart = i + 1
  const targetEnd = scanTarget(s, targetStart, lineEnd)
  if (targetEnd < 0) return badHead('A request target with a byte not visible ASCII', 'HPE_INVALID_URL')
  // llhttp skips more SPs before the target; we refuse them (a request line of one shape only).
  if (targetEnd === targetStart) return badHead('An empty request target', 'HPE_INVALID_URL')
  if (targetEnd === lineEnd) {
    // llhttp reads `GET /` CRLF as HTTP/0.9; we refuse it, naming the missing version.
    if (s.charCodeAt(lineEnd + 1) === 10) return badHead('A request line without an HTTP version', 'HPE_INVALID_VERSION')
    return badHead('A bare CR after the request target', 'HPE_INVALID_URL')
  }
  if (method !== 'CONNECT' && !isTargetForm(s, targetStart, targetEnd)) return badHead('A request target not in origin-, absolute-, authority- or asterisk-form', 'HPE_INVALID_URL')

  const v = targetEnd + 1
  if (!s.startsWith('HTTP/', v)) return badHead('No HTTP/ after the request target', 'HPE_INVALID_CONSTANT')
  if (!isDigit(s.charCodeAt(v + 5)) || s.charCodeAt(v + 6) !== 46 || !isDigit(s.charCodeAt(v + 7))) return badHead('A malformed HTTP version', 'HPE_INVALID_VERSION')
  const major = s.charCodeAt(v + 5) - 48
  const minorDigit = s.charCodeAt(v + 7) - 48
  // 400 as node answers (llhttp also takes 0.9 and 2.0, which we refuse alike).
  if (major !== 1 || minorDigit > 1) return badHead(`HTTP/${major}.${minorDigit} is not supported`, 'HPE_INVALID_VERSION')
  if (v + 8 !== lineEnd) return badHead('Bytes after the HTTP version', 'HPE_INVALID_VERSION')
  if (s.charCodeAt(lineEnd + 1) !== 10) return badHead('A bare CR ending the request line', 'HPE_STRICT')
  const minor = minorDigit === 1 ? 1 : 0
  if (targetEnd - targetStart >= maxHeaderSize) return headError('The request target is too long', 414, 'HPE_HEADER_OVERFLOW')

  const facts = new FieldFacts({ drop: SKIP_ON_REQUEST, forwarding: true })
  facts.passFrom = lineEnd + 2
  const error = readFieldLines(s, lineEnd + 2, facts)
  if (error !== undefined) return error
  const tooLarge = headTooLarge(facts.counted + targetEnd - targetStart, headLength, maxHeaderSize)
  if (tooLarge !== undefined) return tooLarge

  let framing: Framing = Framing.None
  let contentLength = 0
  const te = facts.transferEncoding
  // What llhttp refuses first, then what only we refuse.
  if (te !== undefined && (te.length !== 7 || te.toLowerCase() !== 'chunked')) {
    return badHead('Transfer-Encoding other than "chunked" is not supported', 'HPE_INVALID_TRANSFER_ENCODING')
  }
  // Refusals node does not make: the closest llhttp names (a bad field, a bad Transfer-Encoding).
  if (facts.hosts > 1) return badHead('The request has more than one Host header', 'HPE_INVALID_HEADER_TOKEN')
  if (facts.hosts === 0 && minor === 1) return badHead('An HTTP/1.1 request needs a Host header', 'HPE_INVALID_HEADER_TOKEN')
  if (facts.hosts === 1 && !isUriHost(facts.headers.host!)) return badHead('A Host that is not a host name or address and an optional port', 'HPE_INVALID_HEADER_TOKEN')
  if (te !== undefined && minor === 0) return badHead('Transfer-Encoding in an HTTP/1.0 request', 'HPE_INVALID_TRANSFER_ENCODING')
  if (te !== undefined) {
    framing = Framing.Chunked
  } else if (facts.contentLength > 0) {
    framing = Framing.Length
    contentLength = facts.contentLength
  }
  return {
    method,
    target: s.slice(targetStart, targetEnd),
    minor,
    rawHeaders: facts.rawHeaders,
    headers: facts.headers,
    framing,
    contentLength,
    // As llhttp: HTTP/1.1 unless `close`; HTTP/1.0 only with `keep-alive` (and here never with `close`).
    keepAlive: !facts.close && (minor === 1 || facts.keepAlive),
    upgrade: method === 'CONNECT' || (facts.upgradeToken && facts.upgradeField),
    expectContinue: facts.expectContinue,
    headLength,
    // Repeated fields go up joined (as node's engine sends them), Connection-named ones dropped: rebuilt from headers.
    passOn: facts.repeated || facts.connectionNames ? undefined : facts.passOn(s),
    forwardingDropped: facts.forwardingDropped,
  }
}

/**
 * Scans the request-target from `at` to the SP before the version (or the line's CR): visible
 * ASCII only. Returns the index of that SP or CR; -1 at any other byte (llhttp: HPE_INVALID_URL).
 */
function scanTarget(s: string, at: number, lineEnd: number): number {
  let i = at
  for (; i < lineEnd; i++) {
    const c = s.charCodeAt(i)
    if (c === 32) break
    if (c < 33 || c > 126) return -1
  }
  return i
}

/** Whether s[at, end) is in one of the forms llhttp accepts for a method other than CONNECT. */
function isTargetForm(s: string, at: number, end: number): boolean {
  const first = s.charCodeAt(at)
  if (first === 47 /* / */) return true
  if (first === 42 /* * */) return end === at + 1
  return isAbsoluteForm(s, at, end)
}

/** `scheme://...`: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) "://" (llhttp wants the `//`). */
function isAbsoluteForm(s: string, at: number, end: number): boolean {
  let i = at
  for (; i < end; i++) {
    const c = s.charCodeAt(i) | 0x20
    if (c >= 97 && c <= 122) continue
    if (i === at) return false
    const d = s.charCodeAt(i)
    if (d === 58 /* : */) break
    if (!((d >= 48 && d <= 57) || d === 43 || d === 45 || d === 46)) return false
  }
  return s.startsWith('://', i) && i + 3 < end
}
