import { ChunkedFraming } from './chunked.js'
import { Framing } from './head-types.js'

/**
 * Where a message body ends in the bytes as they arrive, for one framing: a Content-Length
 * counted down, a chunked body scanned (ChunkedFraming), or everything until the connection
 * closes. The bytes themselves are never copied or re-encoded: `scan` only says how many of
 * them belong to the body.
 */
export class BodyFramer {
  readonly framing: Framing
  /** The body ended (its last byte was returned by `scan`). */
  done = false
  /** Set when a chunked body broke its framing: what is wrong, and llhttp's code for it. */
  error: string | undefined = undefined
  errorCode: string | undefined = undefined
  #left: number
  readonly #chunked: ChunkedFraming | undefined

  constructor(framing: Framing, contentLength: number, maxTrailerSize: number) {
    this.framing = framing
    this.#left = contentLength
    this.#chunked = framing === Framing.Chunked ? new ChunkedFraming(maxTrailerSize) : undefined
    if (framing === Framing.None || (framing === Framing.Length && contentLength === 0)) this.done = true
  }

  /**
   * Has a chunked body's data handed to `onData` run by run as `scan` reads it (its framing
   * dropped): for a client that does not speak chunked (HTTP/1.0).
   */
  dechunk(onData: (buf: Buffer, start: number, end: number) => void): void {
    if (this.#chunked !== undefined) this.#chunked.onData = onData
  }

  /** Body bytes seen so far (chunk data only, for a chunked body): for size limits. */
  get seen(): number {
    return this.#chunked?.dataBytes ?? 0
  }

  /**
   * How far the body reaches into buf[pos, end): returns the index where its bytes stop (`done`
   * tells whether the body ended there), or -1 on a framing error (`error` names it).
   */
  scan(buf: Buffer, pos: number, end: number): number {
    switch (this.framing) {
      case Framing.Length: {
        const stop = pos + Math.min(this.#left, end - pos)
        this.#left -= stop - pos
        if (this.#left === 0) this.done = true
        return stop
      }
      case Framing.Chunked: {
        const chunked = this.#chunked!
        const at = chunked.feed(buf, pos, end)
        if (at === -2) {
          this.error = chunked.error ?? 'A broken chunked body'
          this.errorCode = chunked.errorCode
          return -1
        }
        if (at === -1) return end
        this.done = true
        return at
      }
      case Framing.UntilClose:
        return end
      default:
        return pos
    }
  }
}
