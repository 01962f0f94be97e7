/**
 * Answers compressed on the wire (`content-encoding: gzip`, `deflate`, `br`) are compared by
 * what they say, not by their compressed bytes: two servers, or two versions of one, compress
 * the same JSON differently. Decoding is bounded (at most `maxBytes` out, so a small body
 * cannot expand without end); a body that does not decode, or is not whole, stays as it came.
 */
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib'
import type { Captured, Pair } from './captured.js'

const DECODERS: Readonly<Record<string, (body: Buffer, options: { maxOutputLength: number }) => Buffer>> = {
  gzip: gunzipSync,
  'x-gzip': gunzipSync,
  deflate: inflateSync,
  br: brotliDecompressSync,
}

/** `c` with its body decoded when it is whole and its one content coding is known; else `c` itself. */
export function decodedAnswer(c: Captured, maxBytes: number): Captured {
  const coding = c.headers['content-encoding']?.trim().toLowerCase()
  if (coding === undefined || coding === '' || coding === 'identity' || c.body === null || c.truncated || !c.complete) return c
  const decode = DECODERS[coding]
  if (decode === undefined) return c
  try {
    return { ...c, body: decode(c.body, { maxOutputLength: Math.max(1, maxBytes) }) }
  } catch {
    // Corrupt, or larger than allowed decoded: compared as it came (a byte comparison).
    return c
  }
}

/** Every answer of the pair decoded (decodedAnswer). */
export function decodedPair(pair: Pair, maxBytes: number): Pair {
  const base = { ...pair, blue: decodedAnswer(pair.blue, maxBytes), green: decodedAnswer(pair.green, maxBytes) }
  return pair.blueTwin === undefined ? base : { ...base, blueTwin: decodedAnswer(pair.blueTwin, maxBytes) }
}
