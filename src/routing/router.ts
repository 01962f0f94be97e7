import type { IncomingHttpHeaders } from 'node:http'
import { randomUUID } from 'node:crypto'
import { bucketOf } from './hash.js'
import { previewLanding, type PreviewLanding, type PreviewSigner } from './preview.js'
import { compileKeys, readCookie, type KeyExtractor } from './sticky.js'
import type { Color, RoutingTable } from './types.js'

/** SameSite of the assigned cookie; `auto` is None over HTTPS (cross-site logins keep it), else Lax. */
export type SameSite = 'Lax' | 'Strict' | 'None' | 'auto'

/** What the router needs from the config: key order, assigned cookie, override header and previews. */
export interface RoutingPolicy {
  readonly keys: readonly string[]
  /** Cookie assigned to keyless clients; "" turns assignment off. */
  readonly cookie: string
  readonly cookieMaxAgeSeconds: number
  readonly cookieSameSite?: SameSite
  /** `auto`: Secure when the client came over HTTPS. */
  readonly cookieSecure?: 'auto' | 'always' | 'never'
  readonly overrideHeader: string
  /** Checks preview cookies; none: previews are off. */
  readonly preview?: PreviewSigner | undefined
  /** The cookie a preview link sets. */
  readonly previewCookie?: string
  /** Clock for cookie refresh and preview expiry (tests). */
  readonly now?: () => number
}

/**
 * A routing decision. `setCookie` is a Set-Cookie value when a sticky cookie was assigned or
 * refreshed; `reject` is a message to answer with 400 instead of proxying.
 */
export interface Route {
  readonly color: Color
  readonly setCookie: string | undefined
  readonly reject?: string
  /** A blue request whose sticky key is sampled for mirroring: its shadow also goes to green. */
  readonly mirror?: boolean
}

const PLAIN: Readonly<Record<Color, Route>> = Object.freeze({
  blue: Object.freeze({ color: 'blue', setCookie: undefined }),
  green: Object.freeze({ color: 'green', setCookie: undefined }),
})
const MIRRORED: Route = Object.freeze({ color: 'blue', setCookie: undefined, mirror: true })

/** Picks a colour for a key: green when its bucket (salted by the release) is below the table's green buckets. */
export function pickColor(table: RoutingTable, key: string): Color {
  return bucketOf(key, table.seed) < table.greenBuckets ? 'green' : 'blue'
}

/**
 * Whether a blue request with this key is mirrored: its bucket under the mirror's own seed is
 * below the mirror share. By key, so a user's whole session is mirrored or none of it.
 */
export function isMirrored(table: RoutingTable, key: string): boolean {
  return table.mirrorBuckets > 0 && bucketOf(key, table.mirrorSeed) < table.mirrorBuckets
}

/** The route of a key: its colour, and for blue whether it is mirrored. Allocates nothing. */
function keyed(table: RoutingTable, key: string): Route {
  const color = pickColor(table, key)
  return color === 'blue' && isMirrored(table, key) ? MIRRORED : PLAIN[color]
}

/** The route of a key that also sets (or refreshes) the assigned cookie. */
function keyedWithCookie(table: RoutingTable, key: string, setCookie: string): Route {
  const color = pickColor(table, key)
  return color === 'blue' && isMirrored(table, key) ? { color, setCookie, mirror: true } : { color, setCookie }
}

/** The id in an assigned cookie value `<id>.<issued, epoch seconds base 36>` (older values are the id alone). */
function cookieId(value: string): string {
  const dot = value.lastIndexOf('.')
  return dot === -1 ? value : value.slice(0, dot)
}

/** When an assigned cookie was issued (epoch seconds); 0 for values without a stamp. */
function cookieIssued(value: string): number {
  const dot = value.lastIndexOf('.')
  if (dot === -1) return 0
  const issued = parseInt(value.slice(dot + 1), 36)
  return Number.isFinite(issued) ? issued : 0
}

/**
 * A cross-site request that would not have carried a SameSite=Lax cookie (a form POST from an
 * identity provider, a cross-site fetch): minting a cookie here would overwrite the one the
 * browser holds. Top-level GET navigations do carry Lax cookies, so they may be assigned.
 */
function withheldCrossSite(headers: IncomingHttpHeaders, method: string | undefined): boolean {
  if (headers['sec-fetch-site'] !== 'cross-site') return false
  return !(headers['sec-fetch-mode'] === 'navigate' && (method === 'GET' || method === 'HEAD'))
}

/**
 * The one upstream choice shared by the HTTP and WebSocket paths. Order: the override header
 * (QA), a valid preview cookie, the assigned cookie once a client has it (so nothing an app
 * does later — a session cookie appearing or rotating at login — moves the user), the
 * configured keys, and else a newly assigned cookie. The assigned cookie slides: an active
 * user's is re-issued (same id) once half its Max-Age has passed. Synchronous; allocates
 * nothing on the common path.
 */
export class Router {
  readonly #extract: KeyExtractor
  readonly #cookie: string
  readonly #maxAge: number
  /** Set-Cookie suffixes: [plain, secure]. */
  readonly #suffix: readonly [string, string]
  readonly #override: string
  readonly #preview: PreviewSigner | undefined
  readonly #previewCookie: string
  readonly #now: () => number

  constructor(policy: RoutingPolicy) {
    this.#extract = compileKeys(policy.keys)
    this.#cookie = policy.cookie
    this.#maxAge = policy.cookieMaxAgeSeconds
    const sameSite = policy.cookieSameSite ?? 'auto'
    const secureMode = policy.cookieSecure ?? 'auto'
    const suffix = (overHttps: boolean): string => {
      const secure = secureMode === 'always' || (secureMode === 'auto' && overHttps)
      const site = sameSite === 'auto' ? (secure ? 'None' : 'Lax') : sameSite
      return `; Path=/; Max-Age=${policy.cookieMaxAgeSeconds}; HttpOnly; SameSite=${site}${secure ? '; Secure' : ''}`
    }
    this.#suffix = [suffix(false), suffix(true)]
    this.#override = policy.overrideHeader.toLowerCase()
    this.#preview = policy.preview
    this.#previewCookie = policy.previewCookie ?? 'sy_preview'
    this.#now = policy.now ?? Date.now
  }

  /**
   * Routes one request against a snapshot. `remoteAddress` is the client's address (through
   * trusted proxies), `secure` whether the client reached us over HTTPS (directly or through a
   * trusted proxy's X-Forwarded-Proto).
   */
  route(table: RoutingTable, headers: IncomingHttpHeaders, remoteAddress: string | undefined, secure = false, method?: string): Route {
    if (this.#override !== '') {
      const forced = headers[this.#override]
      if (forced !== undefined) {
        if (forced === 'blue' || forced === 'green') return PLAIN[forced]
        const shown = String(forced).slice(0, 40)
        return { color: 'blue', setCookie: undefined, reject: `${this.#override} must be "blue" or "green", not ${JSON.stringify(shown)}` }
      }
    }
    if (this.#preview !== undefined) {
      const token = readCookie(headers.cookie, this.#previewCookie)
      if (token !== undefined) {
        const color = this.#preview.verify(token, this.#now())
        if (color !== undefined) return PLAIN[color]
      }
    }
    if (this.#cookie !== '') {
      const value = readCookie(headers.cookie, this.#cookie)
      if (value !== undefined) {
        const id = cookieId(value)
        const now = Math.floor(this.#now() / 1000)
        // Sliding: an active user's cookie never runs out under them.
        if (now - cookieIssued(value) < this.#maxAge / 2) return keyed(table, id)
        return keyedWithCookie(table, id, this.#setCookie(id, now, secure))
      }
    }
    const key = this.#extract(headers, remoteAddress)
    if (key !== undefined) return keyed(table, key)
    if (this.#cookie === '') return keyed(table, remoteAddress ?? '')
    const id = randomUUID()
    // A request that came without the cookie the browser may hold: route it, overwrite nothing.
    if (withheldCrossSite(headers, method)) return keyed(table, id)
    return keyedWithCookie(table, id, this.#setCookie(id, Math.floor(this.#now() / 1000), secure))
  }

  /** The answer to a preview link (PREVIEW_PATH); 403 when previews are off. */
  previewLanding(url: string, secure: boolean): PreviewLanding {
    if (this.#preview === undefined) return { status: 403, message: 'preview links are off' }
    return previewLanding(this.#preview, this.#previewCookie, url, this.#now(), secure)
  }

  #setCookie(id: string, issued: number, secure: boolean): string {
    return `${this.#cookie}=${id}.${issued.toString(36)}${this.#suffix[secure ? 1 : 0]}`
  }
}
