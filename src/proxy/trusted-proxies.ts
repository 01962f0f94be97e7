import type { IncomingHttpHeaders } from 'node:http'

/**
 * `proxy.trustedProxies`: the peers whose X-Forwarded-* headers are believed. A list of
 * addresses and CIDRs is compiled once into numbers; a request then costs one parse of the
 * peer's address (cached for a run of requests from the same peer) and a compare per entry.
 * IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`, as a dual-stack socket reports IPv4 peers)
 * are matched as the IPv4 address they carry, on either side.
 */

/** An IPv4 address as an unsigned 32-bit number, or undefined when `text` is not one. */
function parseV4(text: string, from = 0, to = text.length): number | undefined {
  let value = 0
  let part = 0
  let digits = 0
  let dots = 0
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i)
    if (c === 46) {
      if (digits === 0 || dots === 3) return undefined
      value = value * 256 + part
      part = 0
      digits = 0
      dots++
    } else if (c >= 48 && c <= 57) {
      // A leading zero reads as octal in some parsers: refuse it rather than guess.
      if (digits > 0 && part === 0) return undefined
      part = part * 10 + (c - 48)
      if (part > 255) return undefined
      digits++
    } else {
      return undefined
    }
  }
  if (dots !== 3 || digits === 0) return undefined
  return value * 256 + part
}

/** An IPv6 address as eight 16-bit groups (a zone `%eth0` is ignored), or undefined. */
function parseV6(text: string): Uint16Array | undefined {
  const zone = text.indexOf('%')
  const s = zone === -1 ? text : text.slice(0, zone)
  if (s.length < 2 || s.length > 45) return undefined
  const gap = s.indexOf('::')
  if (gap !== -1 && s.indexOf('::', gap + 1) !== -1) return undefined
  const head = gap === -1 ? s : s.slice(0, gap)
  const tail = gap === -1 ? '' : s.slice(gap + 2)
  const groups: number[] = []
  const tailGroups: number[] = []
  const read = (part: string, into: number[], last: boolean): boolean => {
    if (part === '') return true
    const pieces = part.split(':')
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i]!
      if (last && i === pieces.length - 1 && piece.includes('.')) {
        const v4 = parseV4(piece)
        if (v4 === undefined) return false
        into.push(Math.floor(v4 / 65536), v4 % 65536)
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(piece)) return false
        into.push(parseInt(piece, 16))
      }
    }
    return true
  }
  if (!read(head, groups, gap === -1) || !read(tail, tailGroups, true)) return undefined
  const count = groups.length + tailGroups.length
  if (gap === -1 ? count !== 8 : count > 7) return undefined
  const out = new Uint16Array(8)
  out.set(groups, 0)
  out.set(tailGroups, 8 - tailGroups.length)
  return out
}

/** The IPv4 address an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) carries, else undefined. */
function mappedV4(groups: Uint16Array): number | undefined {
  for (let i = 0; i < 5; i++) if (groups[i] !== 0) return undefined
  if (groups[5] !== 0xffff) return undefined
  return groups[6]! * 65536 + groups[7]!
}

/** A parsed address: IPv4 (mapped ones included) as a number, IPv6 as groups; undefined when invalid. */
export function parseAddress(text: string): number | Uint16Array | undefined {
  if (text.includes(':')) {
    const groups = parseV6(text)
    if (groups === undefined) return undefined
    return mappedV4(groups) ?? groups
  }
  return parseV4(text)
}

interface V6Range {
  readonly groups: Uint16Array
  readonly prefix: number
}

function v4Mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0
}

function v6Contains(range: V6Range, groups: Uint16Array): boolean {
  let bits = range.prefix
  for (let i = 0; i < 8 && bits > 0; i++, bits -= 16) {
    const mask = bits >= 16 ? 0xffff : (0xffff << (16 - bits)) & 0xffff
    if ((groups[i]! & mask) !== (range.groups[i]! & mask)) return false
  }
  return true
}

/** A compiled `proxy.trustedProxies` list. */
export class TrustedProxies {
  /** [network, mask] pairs, unsigned. */
  readonly #v4: ReadonlyArray<readonly [number, number]>
  readonly #v6: readonly V6Range[]
  #lastPeer = ''
  #lastTrusted = false

  private constructor(v4: Array<readonly [number, number]>, v6: V6Range[]) {
    this.#v4 = v4
    this.#v6 = v6
  }

  /**
   * Compiles addresses and CIDRs (`10.0.0.0/8`, `2001:db8::/32`, `::ffff:10.0.0.0/104`,
   * `192.0.2.7`); null for an empty list, so the request path can skip all of this. Throws an
   * Error naming the entry (`[1] "10.0.0.0/33" ...`) for the caller to prefix with its key.
   */
  static compile(entries: readonly string[]): TrustedProxies | null {
    if (entries.length === 0) return null
    const v4: Array<readonly [number, number]> = []
    const v6: V6Range[] = []
    entries.forEach((entry, i) => {
      const bad = (why: string) => new Error(`[${i}] "${entry}" ${why}`)
      const slash = entry.indexOf('/')
      const addressText = (slash === -1 ? entry : entry.slice(0, slash)).trim()
      const prefixText = slash === -1 ? undefined : entry.slice(slash + 1).trim()
      const address = parseAddress(addressText)
      if (address === undefined) throw bad('is not an IPv4 or IPv6 address or CIDR')
      const isMapped = typeof address === 'number' && addressText.includes(':')
      const max = typeof address === 'number' && !isMapped ? 32 : 128
      let prefix = max
      if (prefixText !== undefined) {
        if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > max) throw bad(`has an invalid prefix length (0 to ${max})`)
        prefix = Number(prefixText)
      }
      if (typeof address === 'number') {
        // ::ffff:a.b.c.d/N covers the IPv4 range a.b.c.d/(N - 96); shorter prefixes reach
        // outside the mapped space, which IPv4 peers never come from.
        const v4Prefix = isMapped ? prefix - 96 : prefix
        if (v4Prefix < 0) throw bad('covers more than the IPv4-mapped range ::ffff:0:0/96; write it as an IPv4 CIDR')
        const mask = v4Mask(v4Prefix)
        v4.push([(address & mask) >>> 0, mask])
      } else {
        v6.push({ groups: address, prefix })
      }
    })
    return new TrustedProxies(v4, v6)
  }

  /** Whether `address` (as a socket reports it, or from X-Forwarded-For) is a trusted proxy. */
  has(address: string | undefined): boolean {
    if (address === undefined) return false
    // Keep-alive connections from one balancer send many requests in a row.
    if (address === this.#lastPeer) return this.#lastTrusted
    const trusted = this.#match(address)
    this.#lastPeer = address
    this.#lastTrusted = trusted
    return trusted
  }

  #match(text: string): boolean {
    const address = parseAddress(text)
    if (address === undefined) return false
    if (typeof address === 'number') {
      for (const [network, mask] of this.#v4) if (((address & mask) >>> 0) === network) return true
      return false
    }
    for (const range of this.#v6) if (v6Contains(range, address)) return true
    return false
  }

  /**
   * The client's address behind trusted `peer`: X-Forwarded-For walked from the right, past
   * entries that are trusted proxies themselves (nginx's real_ip_recursive); the first that is
   * not is the client. An entry that is not an address stops the walk at the hop after it.
   */
  clientAddress(peer: string, forwardedFor: string | string[] | undefined): string {
    if (forwardedFor === undefined) return peer
    const chain = typeof forwardedFor === 'string' ? forwardedFor : forwardedFor.join(',')
    let client = peer
    let end = chain.length
    while (end > 0) {
      const comma = chain.lastIndexOf(',', end - 1)
      const entry = entryAddress(chain.slice(comma + 1, end))
      end = comma
      if (entry === '') continue
      if (entry === undefined) return client
      client = entry
      if (!this.has(entry)) return entry
    }
    return client
  }
}

/**
 * One X-Forwarded-For entry as a bare address: trimmed, with a port (`192.0.2.1:443`,
 * `[2001:db8::1]:443`) or brackets removed; '' when empty; undefined when not an address.
 */
function entryAddress(raw: string): string | undefined {
  const entry = raw.trim()
  if (entry === '') return ''
  let address = entry
  if (entry.startsWith('[')) {
    const close = entry.indexOf(']')
    if (close === -1) return undefined
    address = entry.slice(1, close)
  } else {
    const colon = entry.indexOf(':')
    if (colon !== -1 && colon === entry.lastIndexOf(':')) address = entry.slice(0, colon)
  }
  return parseAddress(address) === undefined ? undefined : address
}

/** Who a request came from, as the rest of the data path should see it. */
export interface ClientInfo {
  /** The client's address: the peer's, or from X-Forwarded-For when the peer is trusted. */
  readonly address: string | undefined
  /** The client reached us over HTTPS: this connection is TLS, or a trusted peer said so. */
  readonly secure: boolean
  /** The peer is a trusted proxy: its X-Forwarded-* headers are kept. */
  readonly trustedPeer: boolean
}

/** The first value of a header that may be a list (`https, http` -> `https`), lowercased. */
function firstToken(value: string | string[] | undefined): string | undefined {
  if (value === undefined) return undefined
  const text = typeof value === 'string' ? value : value[0]
  if (text === undefined) return undefined
  const comma = text.indexOf(',')
  return (comma === -1 ? text : text.slice(0, comma)).trim().toLowerCase()
}

/**
 * Resolves the client of one request from its peer address, its headers and whether the
 * connection is TLS. With `trust` null (no trusted proxies) it is the peer, as the request
 * path assumes without calling this.
 */
export function clientInfo(
  trust: TrustedProxies | null,
  peer: string | undefined,
  headers: IncomingHttpHeaders,
  tls: boolean,
): ClientInfo {
  if (trust === null || peer === undefined || !trust.has(peer)) return { address: peer, secure: tls, trustedPeer: false }
  const proto = firstToken(headers['x-forwarded-proto'])
  return {
    address: trust.clientAddress(peer, headers['x-forwarded-for']),
    secure: proto === undefined ? tls : proto === 'https',
    trustedPeer: true,
  }
}
