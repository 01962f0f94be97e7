import { createHash, timingSafeEqual } from 'node:crypto'
import type { Caller } from '../control/port.js'

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

/** Failed bearer attempts one client address may make per window before it gets 429. */
export const AUTH_FAILURE_LIMIT = 10
/** The failed-auth window. */
export const AUTH_FAILURE_WINDOW_MS = 60_000
/** Addresses tracked at most; past this, expired windows are dropped, then the oldest. */
const MAX_TRACKED = 10_000

interface FailureWindow {
  readonly startedAt: number
  failures: number
}

/**
 * Counts failed bearer attempts per client address in fixed windows. Once an address reaches
 * the limit it is refused (429) until its window ends, whatever token it sends, so a token
 * cannot be guessed faster than `limit` tries a window. Other addresses are unaffected.
 */
export class AuthFailureLimiter {
  readonly #limit: number
  readonly #windowMs: number
  readonly #windows = new Map<string, FailureWindow>()

  constructor(limit = AUTH_FAILURE_LIMIT, windowMs = AUTH_FAILURE_WINDOW_MS) {
    this.#limit = limit
    this.#windowMs = windowMs
  }

  /** Seconds until `address` may try again; 0 when it is not blocked. */
  blockedFor(address: string, now = Date.now()): number {
    const window = this.#current(address, now)
    if (window === undefined || window.failures < this.#limit) return 0
    return Math.max(1, Math.ceil((window.startedAt + this.#windowMs - now) / 1000))
  }

  /** Notes one failed attempt; true when it is the one that reaches the limit (log it once). */
  failed(address: string, now = Date.now()): boolean {
    let window = this.#current(address, now)
    if (window === undefined) {
      if (this.#windows.size >= MAX_TRACKED) this.#prune(now)
      window = { startedAt: now, failures: 0 }
      this.#windows.set(address, window)
    }
    window.failures++
    return window.failures === this.#limit
  }

  #current(address: string, now: number): FailureWindow | undefined {
    const window = this.#windows.get(address)
    if (window === undefined) return undefined
    if (now - window.startedAt < this.#windowMs) return window
    this.#windows.delete(address)
    return undefined
  }

  #prune(now: number): void {
    for (const [address, window] of this.#windows) {
      if (now - window.startedAt >= this.#windowMs) this.#windows.delete(address)
    }
    // Still (nearly) full: forget the oldest tenth at once (Map keeps insertion order), so a
    // flood of new addresses costs one sweep per thousand of them, not one per address.
    const keep = MAX_TRACKED - MAX_TRACKED / 10
    for (const address of this.#windows.keys()) {
      if (this.#windows.size <= keep) break
      this.#windows.delete(address)
    }
  }
}

/** Requests whose bearer token passed the check, with the services it may change (null: all). */
const checked = new WeakMap<object, readonly string[] | null>()

/** The admin hook marks a request whose token it checked and accepted (`services`: a scoped token's). */
export function tokenAccepted(raw: object, services: readonly string[] | null = null): void {
  checked.set(raw, services)
}

/** The services a request's token may change: null for admin.token (or no auth at all), else a scoped token's list. */
export function tokenScope(raw: object): readonly string[] | null {
  return checked.get(raw) ?? null
}

/** What a bearer header is: admin.token, one of the scoped tokens (with its services), or neither. */
export type TokenCheck = (header: string | undefined) => { readonly services: readonly string[] | null } | undefined

/**
 * Checks a bearer header against admin.token and every scoped token (admin.tokens), each in
 * constant time, always all of them: how long the check takes says nothing about which
 * token, if any, was close. Undefined when no token is configured (no auth).
 */
export function tokenChecker(token: string | undefined, scoped: readonly { readonly token: string; readonly services: readonly string[] }[]): TokenCheck | undefined {
  if (token === undefined && scoped.length === 0) return undefined
  const full = token === undefined ? () => false : bearerChecker(token)
  const limited = scoped.map((s) => ({ check: bearerChecker(s.token), services: s.services }))
  return (header) => {
    let found: { readonly services: readonly string[] | null } | undefined = full(header) ? { services: null } : undefined
    for (const s of limited) if (s.check(header) && found === undefined) found = { services: s.services }
    return found
  }
}

/**
 * Who sent an admin request, as the log line of its change names it: `token` when its bearer
 * token passed the check (admin.token is set), else `anonymous` — a bearer header sent to a
 * switchyard without a token proves nothing — and the client's address.
 */
export function callerOf(request: { readonly raw: object; readonly ip: string }): Caller {
  return { auth: checked.has(request.raw) ? 'token' : 'anonymous', address: request.ip }
}
