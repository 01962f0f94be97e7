import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import type { Color } from './types.js'

/** Where the proxy answers preview links: a path no application uses. */
export const PREVIEW_PATH = '/.well-known/switchyard/preview'

/**
 * Signs and checks preview tokens: `<colour>.<expiry, epoch seconds in base 36>.<HMAC-SHA256>`.
 * A token names its colour and its end; whoever holds it sees that colour until then, and a
 * forged, altered or expired token is worth nothing. Verification is one HMAC, done only for
 * requests that carry a preview cookie.
 */
export class PreviewSigner {
  readonly #key: Buffer

  /** `secret` "" draws a random key: links then last until the process restarts. */
  constructor(secret: string) {
    this.#key = secret === '' ? randomBytes(32) : Buffer.from(secret, 'utf8')
  }

  /** A token for `color` that expires at `expiresAtMs`. */
  sign(color: Color, expiresAtMs: number): string {
    const body = `${color}.${Math.floor(expiresAtMs / 1000).toString(36)}`
    return `${body}.${this.#mac(body)}`
  }

  /** The colour a token grants now, or undefined when it is forged, malformed or expired. */
  verify(token: string, nowMs: number): Color | undefined {
    const last = token.lastIndexOf('.')
    const first = token.indexOf('.')
    if (first <= 0 || last <= first || token.length > 200) return undefined
    const color = token.slice(0, first)
    if (color !== 'blue' && color !== 'green') return undefined
    const expires = parseInt(token.slice(first + 1, last), 36)
    if (!Number.isFinite(expires) || expires * 1000 <= nowMs) return undefined
    const given = Buffer.from(token.slice(last + 1))
    const wanted = Buffer.from(this.#mac(token.slice(0, last)))
    return given.length === wanted.length && timingSafeEqual(given, wanted) ? color : undefined
  }

  /** When a valid token expires (epoch ms). */
  static expiresAt(token: string): number {
    const first = token.indexOf('.')
    const last = token.lastIndexOf('.')
    return parseInt(token.slice(first + 1, last), 36) * 1000
  }

  #mac(body: string): string {
    return createHmac('sha256', this.#key).update(body).digest('base64url')
  }
}

/** What the proxy answers on a preview link: where to go next, and the cookie to set. */
export interface PreviewLanding {
  readonly status: 302 | 403
  readonly location?: string
  readonly setCookie?: string
  readonly message: string
}

/**
 * The answer to `GET /.well-known/switchyard/preview?token=...[&to=/path]`: a valid token sets
 * the preview cookie until the token expires and redirects to `to` (a local path) or `/`;
 * `?clear` ends a preview. Anything else is 403 and sets nothing.
 */
export function previewLanding(signer: PreviewSigner, cookie: string, url: string, nowMs: number, secure: boolean): PreviewLanding {
  const query = new URLSearchParams(url.slice(url.indexOf('?') + 1 || url.length))
  const flags = `; Path=/; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`
  const to = query.get('to')
  // Only a local path: a preview link must not be an open redirect.
  const location = to !== null && to.startsWith('/') && !to.startsWith('//') && !to.startsWith('/\\') ? to : '/'
  if (query.has('clear')) return { status: 302, location, setCookie: `${cookie}=${flags}; Max-Age=0`, message: 'preview ended' }
  const token = query.get('token') ?? ''
  const color = signer.verify(token, nowMs)
  if (color === undefined) return { status: 403, message: 'this preview link is invalid or has expired; ask for a new one' }
  const maxAge = Math.max(1, Math.floor((PreviewSigner.expiresAt(token) - nowMs) / 1000))
  return { status: 302, location, setCookie: `${cookie}=${token}${flags}; Max-Age=${maxAge}`, message: `previewing ${color}` }
}
