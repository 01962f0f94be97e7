import { createHash, timingSafeEqual } from 'node:crypto'

/**
 * Checks `Authorization: Bearer <token>` in constant time: both sides are hashed to the same
 * length first, so neither the length nor a common prefix of the token leaks through timing.
 */
export function bearerChecker(token: string): (header: string | undefined) => boolean {
  const expected = createHash('sha256').update(token).digest()
  return (header) => {
    const given = header !== undefined && header.startsWith('Bearer ') ? header.slice(7).trim() : ''
    const digest = createHash('sha256').update(given).digest()
    return timingSafeEqual(digest, expected) && given.length > 0
  }
}
