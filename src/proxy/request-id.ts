import { randomBytes } from 'node:crypto'

/** The request header that names a request across the proxy's log and the upstream's. */
export const REQUEST_ID_HEADER = 'x-request-id'

/** The longest client-sent id kept; a longer one is replaced. */
export const MAX_REQUEST_ID_LENGTH = 128

/**
 * Whether a client's x-request-id is kept as it is: 1 to 128 visible ASCII characters (no
 * spaces, no control characters, nothing that could break a log line). A repeated header
 * arrives joined with ", " and so is replaced. O(length), bounded.
 */
export function validRequestId(value: string): boolean {
  const length = value.length
  if (length === 0 || length > MAX_REQUEST_ID_LENGTH) return false
  for (let i = 0; i < length; i++) {
    const c = value.charCodeAt(i)
    if (c < 0x21 || c > 0x7e) return false
  }
  return true
}

/**
 * Request ids for one process: a random prefix drawn once (12 base64url characters, 72 bits,
 * so processes, workers and restarts do not collide) and a counter, e.g. `q3V9xk0bT1aZ-1k2`.
 * One string concatenation per id: no random bytes per request.
 */
export class RequestIds {
  readonly #prefix: string
  #next = 0

  constructor(prefix = `${randomBytes(9).toString('base64url')}-`) {
    this.#prefix = prefix
  }

  /** The client's id when it is valid, else a new one. */
  of(incoming: string | string[] | undefined): string {
    if (typeof incoming === 'string' && validRequestId(incoming)) return incoming
    return this.#prefix + (++this.#next).toString(36)
  }
}

/**
 * Puts `id` into the upstream request's headers (a flat name/value list) unless the client sent
 * it: appended when the client sent none, in place of the client's when that one was replaced.
 */
export function forwardRequestId(upstream: string[], id: string, incoming: string | string[] | undefined): void {
  if (incoming === id) return
  if (incoming !== undefined) {
    for (let i = 0; i < upstream.length; i += 2) {
      if (upstream[i] !== REQUEST_ID_HEADER) continue
      upstream[i + 1] = id
      return
    }
  }
  upstream.push(REQUEST_ID_HEADER, id)
}
