/**
 * Captures one upstream answer for the shadow comparison (src/shadow/captured.ts): its head,
 * its body up to a cap, its framing, how it ended, SSE frames and timings. Used for blue's
 * answer (fed by the client's exchange as it streams, never delaying it) and for the shadows'.
 */
import type { IncomingHttpHeaders } from 'node:http'
import { isStreamType, mediaTypeOf, type Captured } from '../shadow/captured.js'

/** Repeated headers are joined with ", ", set-cookie with "\n" (its values may hold commas). */
function joinerOf(lowerName: string): string {
  return lowerName === 'set-cookie' ? '\n' : ', '
}

/** Lower-case names; repeated headers joined. */
function flatHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {}
  for (const name of Object.keys(headers)) {
    const value = headers[name]
    if (value === undefined) continue
    const lower = name.toLowerCase()
    out[lower] = typeof value === 'string' ? value : value.join(joinerOf(lower))
  }
  return out
}

/** The same from flat name/value pairs as they came on the wire (the socket engine's). */
function flatRawHeaders(rawHeaders: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {}
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const lower = rawHeaders[i]!.toLowerCase()
    // Own keys only: a header named like an Object member (`constructor`) is a header like any other.
    out[lower] = Object.hasOwn(out, lower) ? `${out[lower]!}${joinerOf(lower)}${rawHeaders[i + 1]!}` : rawHeaders[i + 1]!
  }
  return out
}

export class AnswerCapture {
  readonly #startedAt: number
  readonly #cap: number
  readonly #onDone: () => void
  #status = 0
  #headers: Record<string, string> = {}
  #chunks: Buffer[] = []
  #size = 0
  #truncated = false
  /** An event or line stream by its media type: its bytes are never compared, so none are kept. */
  #stream = false
  #sse = false
  #events = 0
  /** The last byte seen ended a line (an empty line next is the end of an SSE frame). */
  #atLineStart = false
  #ttfbMs = -1
  #durationMs = -1
  #complete = false
  #done = false

  /** `cap`: body bytes kept (0 keeps none); `onDone` runs once, when the answer ended either way. */
  constructor(startedAt: number, cap: number, onDone: () => void) {
    this.#startedAt = startedAt
    this.#cap = cap
    this.#onDone = onDone
  }

  get done(): boolean {
    return this.#done
  }

  /** The answer's head: headers as node and undici give them, or as flat name/value pairs. */
  head(status: number, headers: IncomingHttpHeaders | readonly string[]): void {
    if (this.#done) return
    this.#status = status
    this.#headers = Array.isArray(headers) ? flatRawHeaders(headers) : flatHeaders(headers as IncomingHttpHeaders)
    const type = mediaTypeOf(this.#headers['content-type'])
    this.#stream = isStreamType(type)
    this.#sse = type === 'text/event-stream'
  }

  data(chunk: Buffer): void {
    if (this.#done) return
    if (this.#ttfbMs < 0 && chunk.length > 0) this.#ttfbMs = performance.now() - this.#startedAt
    // A stream is judged on its frames and its end, never its bytes: none are kept.
    if (this.#stream) {
      if (this.#sse) this.#countEvents(chunk)
      return
    }
    if (this.#truncated) return
    const room = this.#cap - this.#size
    if (chunk.length > room) {
      this.#truncated = true
      if (room > 0) this.#chunks.push(Buffer.from(chunk.subarray(0, room)))
      this.#size = this.#cap
      return
    }
    // A copy: the exchange hands the same buffer on to the client's socket.
    this.#chunks.push(Buffer.from(chunk))
    this.#size += chunk.length
  }

  /** The answer ended: cleanly (`complete`) or not. `status` stands in when no head came (our own error answer). */
  end(complete: boolean, status?: number): void {
    if (this.#done) return
    this.#done = true
    if (this.#status === 0) this.#status = status ?? 502
    this.#complete = complete
    this.#durationMs = performance.now() - this.#startedAt
    if (this.#ttfbMs < 0 && complete) this.#ttfbMs = this.#durationMs
    this.#onDone()
  }

  captured(keepBody: boolean): Captured {
    const body = keepBody && !this.#stream ? Buffer.concat(this.#chunks, this.#size) : null
    return {
      status: this.#status,
      headers: this.#headers,
      body,
      truncated: this.#truncated,
      complete: this.#complete,
      ...(this.#sse ? { events: this.#events } : {}),
      durationMs: this.#durationMs,
      ttfbMs: this.#ttfbMs,
    }
  }

  /** Counts blank lines (the end of an SSE frame), CRs ignored, across chunk boundaries. */
  #countEvents(chunk: Buffer): void {
    let atLineStart = this.#atLineStart
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i]!
      if (byte === 0x0a) {
        if (atLineStart) this.#events++
        atLineStart = true
      } else if (byte !== 0x0d) {
        atLineStart = false
      }
    }
    this.#atLineStart = atLineStart
  }
}
