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
