import { bareCrError, fieldLine, isFramingLookalike, readFieldLine, TCHAR } from './field-lines.js'
import type { ParseProblem } from './head-types.js'

/** Bytes a chunk-size line may hold past its size (its extensions): llhttp has no bound. */
export const MAX_CHUNK_EXTENSIONS = 4096
const MAX_SIZE_DIGITS = 16

const enum State {
  SizeStart,
  Size,
  ExtNameStart,
  ExtName,
  ExtValueStart,
  ExtToken,
  ExtQuoted,
  ExtQuotedPair,
  ExtAfterQuoted,
  SizeLf,
  Data,
  DataCr,
  DataLf,
  TrailerStart,
  TrailerLine,
  TrailerLf,
  FinalLf,
  Done,
  Failed,
}

/** Hex digit values; -1 for any other byte. */
const HEX = new Int8Array(256).fill(-1)
for (let c = 0; c < 10; c++) HEX[48 + c] = c
for (let c = 0; c < 6; c++) HEX[65 + c] = HEX[97 + c] = 10 + c

/** A problem with its llhttp code. */
function bad(error: string, code: string): ParseProblem {
  return { error, code }
}

/** Past the limits llhttp lacks: as node's own refusal (extensions) or llhttp's nearest (sizes). */
const SIZE_TOO_LARGE = bad('A chunk size too large', 'HPE_INVALID_CHUNK_SIZE')
const EXTENSIONS_TOO_LONG = bad('Chunk extensions longer than the limit', 'HPE_CHUNK_EXTENSIONS_OVERFLOW')
const TRAILERS_TOO_LARGE = bad('The trailer section is larger than the limit', 'HPE_HEADER_OVERFLOW')

/** qdtext (RFC 9110 §5.6.4): HTAB, SP, VCHAR but `"` and `\`, obs-text. */
function isQdtext(c: number): boolean {
  return c === 9 || (c >= 32 && c !== 34 && c !== 92 && c !== 127)
}

/**
 * Scans a chunked body (RFC 9112 §7.1) as it streams, so it can be forwarded byte for byte
 * (never re-encoded). Strict: CRLF line ends only, 1*16HEXDIG sizes no larger than
 * Number.MAX_SAFE_INTEGER, extensions `;name[=token|quoted-string]` without whitespace (as
 * llhttp), trailer fields with the rules of header fields, none of them a framing field.
 */
export class ChunkedFraming {
  error: string | undefined = undefined
  /**
   * Set with `error`: llhttp's code for the problem (HPE_INVALID_CHUNK_SIZE; HPE_STRICT,
   * HPE_CR_EXPECTED or HPE_LF_EXPECTED for line ends and extensions; the field codes for trailers).
   */
  errorCode: string | undefined = undefined
  /** Chunk-data bytes seen so far (for body size limits). */
  dataBytes = 0
  /** Trailer fields as [name, value, ...], like rawHeaders; filled once the trailers are read. */
  readonly rawTrailers: string[] = []
  /** When set, told where each run of chunk data lies in the bytes fed (to de-chunk a body). */
  onData: ((buf: Buffer, start: number, end: number) => void) | undefined = undefined
  readonly #maxTrailerSize: number
  #state = State.SizeStart
  #size = 0
  #digits = 0
  #lineBytes = 0
  #trailerBytes = 0
  #line = ''

  constructor(maxTrailerSize: number) {
    this.#maxTrailerSize = maxTrailerSize
  }

  /**
   * Feeds buf[start, end). Returns the index just past the body's last byte when it ends in this
   * range; -1 when all of it belongs to the body and more is needed; -2 on a framing error
   * (then `error` names it and `errorCode` gives llhttp's code). Works for any split of the bytes, down to one byte a piece.
   */
  feed(buf: Buffer, start: number, end: number): number {
    let i = start
    while (i < end) {
      const state = this.#state
      if (state === State.Data) {
        const n = Math.min(this.#size, end - i)
        if (this.onData !== undefined && n > 0) this.onData(buf, i, i + n)
        i += n
        this.#size -= n
        this.dataBytes += n
        if (this.#size === 0) this.#state = State.DataCr
        continue
      }
      if (state === State.TrailerLine) {
        const view = end === buf.length ? buf : buf.subarray(0, end)
        const cr = view.indexOf(13, i)
        const stop = cr === -1 ? end : cr
        const lf = view.indexOf(10, i)
        if (lf !== -1 && lf < stop) {
          // Checked as a line ending in that LF: its code depends on where it falls (name or value).
          const line = `${this.#line}${buf.toString('latin1', i, lf + 1)}`
          return this.#fail(this.#trailer(line) ?? bad('A bare LF in a trailer field', 'HPE_CR_EXPECTED'))
        }
        if (!this.#countTrailer(stop - i)) return this.#fail(TRAILERS_TOO_LARGE)
        this.#line += buf.toString('latin1', i, stop)
        i = stop
        if (stop < end) {
          this.#state = State.TrailerLf
          i++
        }
        continue
      }
      if (state === State.Done) return this.#fail(bad('Bytes fed after the end of the body', 'HPE_INTERNAL'))
      if (state === State.Failed) return -2
      const problem = this.#step(buf[i]!)
      if (problem !== undefined) return this.#fail(problem)
      i++
      if (this.#state === State.Done) return i
    }
    return -1
  }

  #fail(problem: ParseProblem): number {
    if (this.error === undefined) {
      this.error = problem.error
      this.errorCode = problem.code
    }
    this.#state = State.Failed
    return -2
  }

  #countTrailer(n: number): boolean {
    this.#trailerBytes += n
    return this.#trailerBytes <= this.#maxTrailerSize
  }

  /** One byte outside chunk data and trailer lines; returns the problem with it. */
  #step(c: number): ParseProblem | undefined {
    switch (this.#state) {
      case State.SizeStart:
      case State.Size: {
        const d = HEX[c]!
        if (d >= 0) {
          this.#size = this.#size * 16 + d
          if (++this.#digits > MAX_SIZE_DIGITS || this.#size > Number.MAX_SAFE_INTEGER) return SIZE_TOO_LARGE
          this.#state = State.Size
          return undefined
        }
        if (this.#state === State.SizeStart) return bad('A chunk size that is not hex', 'HPE_INVALID_CHUNK_SIZE')
        if (c === 59 /* ; */) return this.#extension(State.ExtNameStart)
        if (c === 13) return this.#to(State.SizeLf)
        return c === 10 ? bad('A bare LF after a chunk size', 'HPE_CR_EXPECTED') : bad('Invalid byte in a chunk size', 'HPE_INVALID_CHUNK_SIZE')
      }
      // llhttp (strict) refuses any malformed extension with HPE_STRICT.
      case State.ExtNameStart:
        return TCHAR[c] === 1 ? this.#extension(State.ExtName) : bad('Invalid chunk extension name', 'HPE_STRICT')
      case State.ExtName:
        if (TCHAR[c] === 1) return this.#extension(State.ExtName)
        if (c === 61 /* = */) return this.#extension(State.ExtValueStart)
        return this.#afterExtension(c)
      case State.ExtValueStart:
        if (c === 34 /* " */) return this.#extension(State.ExtQuoted)
        return TCHAR[c] === 1 ? this.#extension(State.ExtToken) : bad('Invalid chunk extension value', 'HPE_STRICT')
      case State.ExtToken:
        return TCHAR[c] === 1 ? this.#extension(State.ExtToken) : this.#afterExtension(c)
      case State.ExtQuoted:
        if (c === 34) return this.#extension(State.ExtAfterQuoted)
        if (c === 92 /* \ */) return this.#extension(State.ExtQuotedPair)
        return isQdtext(c) ? this.#extension(State.ExtQuoted) : bad('Invalid byte in a quoted chunk extension', 'HPE_STRICT')
      case State.ExtQuotedPair:
        return (c === 9 || c >= 32) && c !== 127 ? this.#extension(State.ExtQuoted) : bad('Invalid byte in a quoted chunk extension', 'HPE_STRICT')
      case State.ExtAfterQuoted:
        return this.#afterExtension(c)
      case State.SizeLf:
        if (c !== 10) return bad('A bare CR after a chunk size', 'HPE_STRICT')
        this.#lineBytes = 0
        this.#digits = 0
        return this.#to(this.#size === 0 ? State.TrailerStart : State.Data)
      case State.DataCr:
        if (c === 13) return this.#to(State.DataLf)
        return c === 10 ? bad('A bare LF after chunk data', 'HPE_CR_EXPECTED') : bad('Chunk data longer than its size, or no CRLF after it', 'HPE_STRICT')
      case State.DataLf:
        return c === 10 ? this.#to(State.SizeStart) : bad('A bare CR after chunk data', 'HPE_STRICT')
      case State.TrailerStart:
        if (c === 13) return this.#to(State.FinalLf)
        if (c === 10) return bad('A bare LF in the trailer section', 'HPE_INVALID_HEADER_TOKEN')
        if (!this.#countTrailer(1)) return TRAILERS_TOO_LARGE
        this.#line = String.fromCharCode(c)
        return this.#to(State.TrailerLine)
      case State.TrailerLf: {
        if (c !== 10) {
          // The line up to the CR first (as llhttp meets it), then the CR: HPE_LF_EXPECTED or HPE_STRICT.
          const problem = readFieldLine(this.#line, 0, this.#line.length) ?? bareCrError(this.#line.length)
          return bad(`${problem.error} (trailer)`, problem.code)
        }
        if (!this.#countTrailer(2)) return TRAILERS_TOO_LARGE
        return this.#trailer(this.#line) ?? this.#to(State.TrailerStart)
      }
      case State.FinalLf:
        return c === 10 ? this.#to(State.Done) : bad('A bare CR at the end of the trailer section', 'HPE_STRICT')
      default:
        return bad('Unexpected chunked framing state', 'HPE_INTERNAL')
    }
  }

  #to(state: State): undefined {
    this.#state = state
    return undefined
  }

  /** One more byte of a chunk-size line's extensions, then `state`. */
  #extension(state: State): ParseProblem | undefined {
    if (++this.#lineBytes > MAX_CHUNK_EXTENSIONS) return EXTENSIONS_TOO_LONG
    this.#state = state
    return undefined
  }

  /** After a complete extension (or a name alone): another one, or the line's end. */
  #afterExtension(c: number): ParseProblem | undefined {
    if (c === 59) return this.#extension(State.ExtNameStart)
    if (c === 13) return this.#to(State.SizeLf)
    if (c === 32 || c === 9) return bad('Whitespace in chunk extensions', 'HPE_STRICT')
    return c === 10 ? bad('A bare LF after chunk extensions', 'HPE_CR_EXPECTED') : bad('Invalid byte in chunk extensions', 'HPE_STRICT')
  }

  /**
   * Checks one trailer field line and keeps it; returns the problem with it. llhttp refuses a
   * Content-Length or Transfer-Encoding trailer (after `chunked`) with those fields' codes; a Host
   * or look-alike it takes, and we refuse as a bad field name.
   */
  #trailer(line: string): ParseProblem | undefined {
    const problem = readFieldLine(line, 0, line.length)
    if (problem !== undefined) return bad(`${problem.error} (trailer)`, problem.code)
    const name = line.slice(0, fieldLine.colon)
    const lower = name.toLowerCase()
    if (lower === 'content-length') return bad(`A ${name} trailer field`, 'HPE_INVALID_CONTENT_LENGTH')
    if (lower === 'transfer-encoding') return bad(`A ${name} trailer field`, 'HPE_INVALID_TRANSFER_ENCODING')
    if (lower === 'host' || (fieldLine.underscore && isFramingLookalike(lower))) return bad(`A ${name} trailer field`, 'HPE_INVALID_HEADER_TOKEN')
    this.rawTrailers.push(name, line.slice(fieldLine.valueStart, fieldLine.valueEnd))
    return undefined
  }
}
