import { describe, expect, it } from 'vitest'
import { closeFrame, FrameScanner, parseFrameHeader } from '../../src/proxy/ws-frames.js'

/** A frame with `payloadLength` bytes of payload (contents irrelevant), masked or not. */
function frame(payloadLength: number, masked: boolean, opcode = 0x2): Buffer {
  let header: Buffer
  if (payloadLength < 126) {
    header = Buffer.from([0x80 | opcode, payloadLength])
  } else if (payloadLength < 0x10000) {
    header = Buffer.alloc(4)
    header[0] = 0x80 | opcode
    header[1] = 126
    header.writeUInt16BE(payloadLength, 2)
  } else {
    header = Buffer.alloc(10)
    header[0] = 0x80 | opcode
    header[1] = 127
    header.writeBigUInt64BE(BigInt(payloadLength), 2)
  }
  if (masked) header[1] = header[1]! | 0x80
  const key = masked ? Buffer.from([1, 2, 3, 4]) : Buffer.alloc(0)
  return Buffer.concat([header, key, Buffer.alloc(payloadLength, 0xab)])
}

/** Feeds `bytes` in chunks of `size`, as a stopping tunnel reads them: frame end by frame end. */
function boundariesSeen(bytes: Buffer, size: number): number[] {
  const scanner = new FrameScanner()
  const seen: number[] = []
  for (let at = 0; at < bytes.length; at += size) {
    const chunk = bytes.subarray(at, Math.min(at + size, bytes.length))
    let offset = 0
    while (offset < chunk.length) {
      if (scanner.atBoundary) {
        // The next frame starts here: step into its header.
        expect(scanner.scan(chunk.subarray(offset), true)).toBe(0)
        scanner.scan(chunk.subarray(offset, offset + 1), false)
        offset += 1
        continue
      }
      offset += scanner.scan(chunk.subarray(offset), true)
      if (scanner.atBoundary) seen.push(at + offset)
    }
  }
  return seen
}

describe('parseFrameHeader', () => {
  it('reads a 7-bit length, unmasked and masked', () => {
    expect(parseFrameHeader(Buffer.from([0x81, 0x05]))).toEqual({ fin: true, opcode: 1, masked: false, headerLength: 2, payloadLength: 5 })
    expect(parseFrameHeader(Buffer.from([0x01, 0xfd, 1, 2, 3, 4]))).toEqual({
      fin: false,
      opcode: 1,
      masked: true,
      headerLength: 6,
      payloadLength: 125,
    })
  })

  it('reads a 16-bit length, unmasked and masked', () => {
    expect(parseFrameHeader(frame(126, false))).toMatchObject({ masked: false, headerLength: 4, payloadLength: 126 })
    expect(parseFrameHeader(frame(65_535, true))).toMatchObject({ masked: true, headerLength: 8, payloadLength: 65_535 })
  })

  it('reads a 64-bit length, unmasked and masked', () => {
    expect(parseFrameHeader(frame(65_536, false))).toMatchObject({ masked: false, headerLength: 10, payloadLength: 65_536 })
    expect(parseFrameHeader(frame(200_000, true))).toMatchObject({ masked: true, headerLength: 14, payloadLength: 200_000 })
    const huge = Buffer.from([0x82, 127, 0, 0, 0, 1, 0, 0, 0, 5])
    expect(parseFrameHeader(huge)?.payloadLength).toBe(2 ** 32 + 5)
  })

  it('answers undefined until the whole header is there', () => {
    expect(parseFrameHeader(Buffer.from([0x82]))).toBeUndefined()
    expect(parseFrameHeader(Buffer.from([0x82, 126, 0]))).toBeUndefined()
    expect(parseFrameHeader(frame(70_000, true).subarray(0, 13))).toBeUndefined()
    expect(parseFrameHeader(frame(70_000, true).subarray(0, 14))).toMatchObject({ payloadLength: 70_000 })
    // An offset and an end inside a larger buffer.
    const two = Buffer.concat([frame(3, false), frame(300, true)])
    expect(parseFrameHeader(two, 5)).toMatchObject({ headerLength: 8, payloadLength: 300 })
    expect(parseFrameHeader(two, 5, 8)).toBeUndefined()
  })
})

describe('FrameScanner', () => {
  const frames = [frame(0, false, 0x9), frame(5, true), frame(125, false), frame(126, true), frame(70_000, false), frame(2, true, 0x8)]
  const stream = Buffer.concat(frames)
  const ends: number[] = []
  for (let i = 0, at = 0; i < frames.length; i++) ends.push((at += frames[i]!.length))

  it('knows every frame boundary whatever the chunk size, headers split across chunks included', () => {
    for (const size of [1, 2, 3, 7, 13, 14, 15, 1000, stream.length]) {
      expect(boundariesSeen(stream, size), `chunks of ${size}`).toEqual(ends)
    }
  })

  it('stops at the end of the current frame when asked to', () => {
    const scanner = new FrameScanner()
    expect(scanner.atBoundary).toBe(true)
    expect(scanner.scan(stream, true)).toBe(0)
    // Half of the second frame's header (masked, 6 bytes) arrives with the first frame.
    expect(scanner.scan(stream.subarray(0, ends[0]! + 3), false)).toBe(ends[0]! + 3)
    expect(scanner.atBoundary).toBe(false)
    expect(scanner.scan(stream.subarray(ends[0]! + 3), true)).toBe(ends[1]! - ends[0]! - 3)
    expect(scanner.atBoundary).toBe(true)
  })

  it('notices a close frame', () => {
    const scanner = new FrameScanner()
    const closeAt = ends[4]!
    scanner.scan(stream.subarray(0, closeAt), false)
    expect(scanner.closeSeen).toBe(false)
    scanner.scan(stream.subarray(closeAt, closeAt + 1), false)
    expect(scanner.closeSeen).toBe(false)
    scanner.scan(stream.subarray(closeAt + 1), false)
    expect(scanner.closeSeen).toBe(true)
    expect(scanner.atBoundary).toBe(true)
  })

  it('gives up on a length no frame can have', () => {
    const scanner = new FrameScanner()
    scanner.scan(Buffer.from([0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 1, 9, 9]), false)
    expect(scanner.lost).toBe(true)
    expect(scanner.atBoundary).toBe(false)
  })
})

describe('closeFrame', () => {
  function unmask(bytes: Buffer): { code: number; reason: string } {
    const header = parseFrameHeader(bytes)!
    const payload = Buffer.from(bytes.subarray(header.headerLength))
    if (header.masked) {
      const key = bytes.subarray(header.headerLength - 4, header.headerLength)
      for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! ^ key[i & 3]!
    }
    return { code: payload.readUInt16BE(0), reason: payload.subarray(2).toString('utf8') }
  }

  it('builds an unmasked close for the client and a masked one for the upstream', () => {
    const toClient = closeFrame(1001, 'switchyard: colour drained', false)
    expect(parseFrameHeader(toClient)).toEqual({ fin: true, opcode: 8, masked: false, headerLength: 2, payloadLength: 28 })
    expect(unmask(toClient)).toEqual({ code: 1001, reason: 'switchyard: colour drained' })

    const toUpstream = closeFrame(1001, 'switchyard: colour drained', true)
    expect(parseFrameHeader(toUpstream)).toEqual({ fin: true, opcode: 8, masked: true, headerLength: 6, payloadLength: 28 })
    expect(unmask(toUpstream)).toEqual({ code: 1001, reason: 'switchyard: colour drained' })
    // A fresh key each time.
    const keys = new Set([1, 2, 3, 4, 5].map(() => closeFrame(1001, '', true).subarray(2, 6).toString('hex')))
    expect(keys.size).toBeGreaterThan(1)
  })

  it('refuses a reason longer than a control frame holds', () => {
    expect(() => closeFrame(1001, 'x'.repeat(124), false)).toThrow(RangeError)
    expect(closeFrame(1001, 'x'.repeat(123), false)).toHaveLength(127)
  })
})
