import { randomBytes } from 'node:crypto'

/**
 * WebSocket framing (RFC 6455 §5.2), only as far as a byte tunnel needs it: where each frame
 * ends, so that the proxy can put a close frame between two frames instead of inside one.
 * Payloads are never unmasked or decoded.
 */

/** The longest frame header: 2 bytes, a 64-bit length and a 4-byte masking key. */
export const MAX_HEADER_LENGTH = 14

/** Opcode of a close frame. */
export const OPCODE_CLOSE = 0x8

/** Close status 1001: the endpoint is going away. */
export const CLOSE_GOING_AWAY = 1001

/** A close frame's payload holds at most 125 bytes: the 2-byte code and a reason. */
const MAX_CLOSE_REASON_BYTES = 123

/** One parsed frame header. */
export interface FrameHeader {
  readonly fin: boolean
  readonly opcode: number
  readonly masked: boolean
  /** 2 to 14 bytes. */
  readonly headerLength: number
  /** Not a safe integer when the header declares an impossible (>= 2^53) length. */
  readonly payloadLength: number
}

/** The header at `offset` of `bytes`, or undefined when it is not complete there yet. */
export function parseFrameHeader(bytes: Uint8Array, offset = 0, end = bytes.length): FrameHeader | undefined {
  if (end - offset < 2) return undefined
  const first = bytes[offset]!
  const second = bytes[offset + 1]!
  const masked = (second & 0x80) !== 0
  const length7 = second & 0x7f
  const extended = length7 === 126 ? 2 : length7 === 127 ? 8 : 0
  const headerLength = 2 + extended + (masked ? 4 : 0)
  if (end - offset < headerLength) return undefined
  let payloadLength = length7
  if (extended === 2) {
    payloadLength = (bytes[offset + 2]! << 8) | bytes[offset + 3]!
  } else if (extended === 8) {
    let high = 0
    let low = 0
    for (let i = 0; i < 4; i++) high = high * 256 + bytes[offset + 2 + i]!
    for (let i = 0; i < 4; i++) low = low * 256 + bytes[offset + 6 + i]!
    // Beyond 2^53 the sum is no longer exact, and no longer a safe integer either.
    payloadLength = high >= 0x200000 ? Number.MAX_SAFE_INTEGER + 1 : high * 0x1_0000_0000 + low
  }
  return { fin: (first & 0x80) !== 0, opcode: first & 0x0f, masked, headerLength, payloadLength }
}

/**
 * Follows the frames of one direction of a WebSocket stream across arbitrary chunk splits.
 * Costs one header parse per frame; payload bytes are only counted.
 */
export class FrameScanner {
  readonly #header = new Uint8Array(MAX_HEADER_LENGTH)
  /** Bytes of the current frame's header collected so far; 0 between headers. */
  #headerBytes = 0
  /** Payload bytes of the current frame still to come. */
  #remaining = 0
  #lost = false
  #closeSeen = false

  /** True between two frames, where a new frame may be inserted. */
  get atBoundary(): boolean {
    return !this.#lost && this.#headerBytes === 0 && this.#remaining === 0
  }

  /** True once a header declared an impossible length: frame boundaries are unknown from there. */
  get lost(): boolean {
    return this.#lost
  }

  /** True once a close frame has started in this direction. */
  get closeSeen(): boolean {
    return this.#closeSeen
  }

  /**
   * Follows `chunk` and returns how many of its bytes were consumed: all of them, or, with
   * `untilBoundary`, only up to the first frame boundary (0 when already at one).
   */
  scan(chunk: Uint8Array, untilBoundary: boolean): number {
    const end = chunk.length
    if (untilBoundary && this.atBoundary) return 0
    let i = 0
    while (i < end && !this.#lost) {
      if (this.#remaining > 0) {
        const take = Math.min(this.#remaining, end - i)
        this.#remaining -= take
        i += take
        if (this.#remaining === 0 && untilBoundary) return i
        continue
      }
      i = this.#readHeader(chunk, i, end)
      if (untilBoundary && this.atBoundary) return i
    }
    return end
  }

  // Collects header bytes from chunk[i..end); returns the index after the last one taken.
  #readHeader(chunk: Uint8Array, i: number, end: number): number {
    const header = this.#header
    // A whole header inside the chunk, the common case: parse it in place.
    if (this.#headerBytes === 0) {
      const parsed = parseFrameHeader(chunk, i, end)
      if (parsed !== undefined) {
        this.#begin(parsed)
        return i + parsed.headerLength
      }
    }
    while (i < end) {
      header[this.#headerBytes++] = chunk[i++]!
      const parsed = this.#headerBytes >= 2 ? parseFrameHeader(header, 0, this.#headerBytes) : undefined
      if (parsed !== undefined) {
        this.#headerBytes = 0
        this.#begin(parsed)
        break
      }
    }
    return i
  }

  #begin(header: FrameHeader): void {
    if (header.opcode === OPCODE_CLOSE) this.#closeSeen = true
    if (!Number.isSafeInteger(header.payloadLength)) this.#lost = true
    else this.#remaining = header.payloadLength
  }
}

/**
 * A close frame with `code` and `reason` (at most 123 bytes of UTF-8). Frames from a client
 * must be masked (RFC 6455 §5.3), with a fresh random key; frames from a server must not be.
 */
export function closeFrame(code: number, reason: string, masked: boolean): Buffer {
  const text = Buffer.from(reason, 'utf8')
  // Cutting could split a character, and peers reject a reason that is not valid UTF-8.
  if (text.length > MAX_CLOSE_REASON_BYTES) throw new RangeError(`a close reason holds at most ${MAX_CLOSE_REASON_BYTES} bytes`)
  const payloadLength = 2 + text.length
  const headerLength = masked ? 6 : 2
  const frame = Buffer.alloc(headerLength + payloadLength)
  frame[0] = 0x80 | OPCODE_CLOSE
  frame[1] = (masked ? 0x80 : 0) | payloadLength
  frame.writeUInt16BE(code, headerLength)
  text.copy(frame, headerLength + 2)
  if (masked) {
    const key = randomBytes(4)
    key.copy(frame, 2)
    for (let i = 0; i < payloadLength; i++) frame[headerLength + i] = frame[headerLength + i]! ^ key[i & 3]!
  }
  return frame
}
