import { BUCKETS } from './types.js'

/** FNV-1a's offset basis: the seed of an unsalted hash. */
export const FNV_OFFSET = 0x811c9dc5

/**
 * The FNV-1a state after `salt` and a separator: hashing a key from this seed is hashing
 * `salt + ":" + key`, without building that string per request. "" gives the plain seed.
 */
export function saltSeed(salt: string): number {
  if (salt === '') return FNV_OFFSET
  let h = FNV_OFFSET
  for (let i = 0; i < salt.length; i++) {
    h ^= salt.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  h ^= 0x3a
  return Math.imul(h, 0x01000193) >>> 0
}

/**
 * A stable 32-bit hash of a string: FNV-1a over UTF-16 code units, then murmur3's
 * fmix32 finalizer so that keys differing in one character spread over the whole range.
 * The result never depends on the process, the platform or the Node version.
 */
export function hash32(key: string, seed: number = FNV_OFFSET): number {
  let h = seed
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

/** The bucket (0..9999) a sticky key falls into; fixed for a key within one release (seed). */
export function bucketOf(key: string, seed: number = FNV_OFFSET): number {
  return hash32(key, seed) % BUCKETS
}
