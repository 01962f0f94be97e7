import { BUCKETS } from './types.js'

/**
 * A stable 32-bit hash of a string: FNV-1a over UTF-16 code units, then murmur3's
 * fmix32 finalizer so that keys differing in one character spread over the whole range.
 * The result never depends on the process, the platform or the Node version.
 */
export function hash32(key: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/** The bucket (0..9999) a sticky key falls into. Fixed for a key forever. */
export function bucketOf(key: string): number {
  return hash32(key) % BUCKETS
}
