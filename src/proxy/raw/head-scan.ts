import { headError, type HeadError } from './head-types.js'

const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1')

/**
 * node counts only targets, reasons, names and values against maxHeaderSize; the bytes it does
 * not count (method, version, line ends, OWS, leading empty lines) may add as much again and
 * 1 KiB: a head of more raw bytes is refused even when node's count stays under the limit.
 */
export function rawHeadLimit(maxHeaderSize: number): number {
  return 2 * maxHeaderSize + 1024
}

/** Index of the CRLFCRLF that ends the head in buf[from, end), or -1. */
export function findHeadEnd(buf: Buffer, from: number, end: number): number {
  return (end === buf.length ? buf : buf.subarray(0, end)).indexOf(CRLFCRLF, from)
}

/**
 * The error for a head not complete in buf[start, end) (its first line at `from`) once it is too
 * large; null while it may still grow. llhttp reports both (a long target too) as HPE_HEADER_OVERFLOW.
 */
export function headOverLimit(buf: Buffer, start: number, from: number, end: number, maxHeaderSize: number, request: boolean): HeadError | null {
  if (end - start < rawHeadLimit(maxHeaderSize)) return null
  const view = end === buf.length ? buf : buf.subarray(0, end)
  if (request && view.indexOf(13, from) === -1) return headError('The request line is too long', 414, 'HPE_HEADER_OVERFLOW')
  return headError('The head is larger than the limit', 431, 'HPE_HEADER_OVERFLOW')
}

/**
 * The index of the first bare LF or bare CR in buf[from, end), or -1: a head with one can
 * already not be valid (a client ending its lines so would never send the CRLFCRLF we wait for).
 */
export function firstBareLineEnd(buf: Buffer, from: number, end: number): number {
  const view = end === buf.length ? buf : buf.subarray(0, end)
  let bare = -1
  for (let lf = view.indexOf(10, from); lf !== -1; lf = view.indexOf(10, lf + 1)) {
    if (lf === from || buf[lf - 1] !== 13) {
      bare = lf
      break
    }
  }
  const limit = bare === -1 ? end : bare
  for (let cr = view.indexOf(13, from); cr !== -1 && cr + 1 < limit; cr = view.indexOf(13, cr + 1)) {
    if (buf[cr + 1] !== 10) return cr
  }
  return bare
}

/**
 * The text of a head that breaks at the bare LF or CR at `bare`, cut so that our parse meets the
 * break where llhttp does, in its context (and so names it with llhttp's code): a bare LF gets a
 * CRLF after it, a bare CR keeps the byte after it.
 */
export function brokenHeadText(buf: Buffer, from: number, bare: number): string {
  return buf[bare] === 10 ? `${buf.toString('latin1', from, bare + 1)}\r\n` : buf.toString('latin1', from, bare + 2)
}

/** The error for a complete head whose counted bytes reach the limit (node: count >= max). */
export function headTooLarge(counted: number, rawLength: number, maxHeaderSize: number): HeadError | undefined {
  if (counted >= maxHeaderSize || rawLength >= rawHeadLimit(maxHeaderSize)) return headError('The head is larger than the limit', 431, 'HPE_HEADER_OVERFLOW')
  return undefined
}

export function isDigit(c: number): boolean {
  return c >= 48 && c <= 57
}

/** Bytes of a reg-name (RFC 3986 §3.2.2: unreserved, pct-encoded, sub-delims) and of an IP literal's inside. */
const REG_NAME = new Uint8Array(128)
for (const c of "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~%!$&'()*+,;=") REG_NAME[c.charCodeAt(0)] = 1

/**
 * Whether a Host value is `uri-host [":" port]` (RFC 9110 §7.2): a name or IPv4 address of
 * reg-name bytes, or an [IP literal], then digits after a colon. Empty is allowed (a target
 * without an authority). Refused otherwise, as nginx refuses whitespace, slashes and controls:
 * services are matched by Host, and it goes upstream in X-Forwarded-Host.
 */
export function isUriHost(value: string): boolean {
  const n = value.length
  let i = 0
  if (value.charCodeAt(0) === 91 /* [ */) {
    const close = value.indexOf(']')
    if (close < 2) return false
    for (i = 1; i < close; i++) if (value.charCodeAt(i) !== 58 /* : */ && REG_NAME[value.charCodeAt(i)] !== 1) return false
    i = close + 1
  } else {
    for (; i < n; i++) {
      const c = value.charCodeAt(i)
      if (c === 58) break
      if (c > 127 || REG_NAME[c] !== 1) return false
    }
  }
  if (i === n) return true
  if (value.charCodeAt(i) !== 58) return false
  for (i++; i < n; i++) {
    const c = value.charCodeAt(i)
    if (c < 48 || c > 57) return false
  }
  return true
}
