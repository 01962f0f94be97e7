import type { IncomingHttpHeaders } from 'node:http'
import { randomUUID } from 'node:crypto'
import { bucketOf } from './hash.js'
import { compileKeys, readCookie, type KeyExtractor } from './sticky.js'
import type { Color, RoutingTable } from './types.js'

/** What the router needs from the config: key order, assigned cookie and override header. */
export interface RoutingPolicy {
  readonly keys: readonly string[]
  /** Cookie assigned to keyless clients; "" turns assignment off. */
  readonly cookie: string
  readonly cookieMaxAgeSeconds: number
  readonly overrideHeader: string
}

/** A routing decision. `setCookie` is a Set-Cookie value when a sticky cookie was assigned. */
export interface Route {
  readonly color: Color
  readonly setCookie: string | undefined
}

const PLAIN: Readonly<Record<Color, Route>> = Object.freeze({
  blue: Object.freeze({ color: 'blue', setCookie: undefined }),
  green: Object.freeze({ color: 'green', setCookie: undefined }),
})

/** Picks a colour for a key: green when its bucket is below the table's green buckets. */
export function pickColor(table: RoutingTable, key: string): Color {
  return bucketOf(key) < table.greenBuckets ? 'green' : 'blue'
}

/**
 * The one upstream choice shared by the HTTP and WebSocket paths. Pure apart from minting a
 * random id for a keyless client; synchronous; allocates nothing unless it assigns a cookie.
 */
export class Router {
  readonly #extract: KeyExtractor
  readonly #cookie: string
  readonly #cookieSuffix: string
  readonly #override: string

  constructor(policy: RoutingPolicy) {
    this.#extract = compileKeys(policy.keys)
    this.#cookie = policy.cookie
    this.#cookieSuffix = `; Path=/; Max-Age=${policy.cookieMaxAgeSeconds}; HttpOnly; SameSite=Lax`
    this.#override = policy.overrideHeader.toLowerCase()
  }

  /** Routes one request against a snapshot. */
  route(table: RoutingTable, headers: IncomingHttpHeaders, remoteAddress: string | undefined): Route {
    const forced = this.#override === '' ? undefined : headers[this.#override]
    if (forced === 'blue' || forced === 'green') return PLAIN[forced]

    let key = this.#extract(headers, remoteAddress)
    if (key === undefined && this.#cookie !== '') {
      key = readCookie(headers.cookie, this.#cookie)
      if (key === undefined) {
        const id = randomUUID()
        return { color: pickColor(table, id), setCookie: `${this.#cookie}=${id}${this.#cookieSuffix}` }
      }
    }
    return PLAIN[pickColor(table, key ?? remoteAddress ?? '')]
  }
}
