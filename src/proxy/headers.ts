import type { IncomingHttpHeaders } from 'node:http'
import type { Color } from '../routing/types.js'

/** The response header naming the colour that served a request. */
export const COLOR_HEADER = 'x-switchyard-color'

/** Headers that describe one connection rather than the message (RFC 9110 §7.6.1, plus legacy ones). */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
])

// The proxy writes these itself; `expect` is answered by node:http and undici refuses it.
export const SKIP_ON_REQUEST: ReadonlySet<string> = new Set([
  ...HOP_BY_HOP,
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'expect',
])

/** Fields of an upstream's answer the proxy does not pass on (it writes its own colour header). */
export const SKIP_ON_RESPONSE: ReadonlySet<string> = new Set([...HOP_BY_HOP, COLOR_HEADER])

/**
 * Forwarding fields beside the X-Forwarded-* trio the proxy sets: RFC 7239's Forwarded,
 * X-Real-IP, and the rest of X-Forwarded-* (-Port, -Prefix, -Server, -Uri, -Ssl, ...). Apps read
 * them (Spring prefers Forwarded to X-Forwarded-For; X-Forwarded-Prefix moves the links it
 * writes), so from a peer not in trustedProxies they are dropped, as Traefik drops them: else a
 * client would tell the app its own address, scheme or path. A trusted proxy's go up as sent.
 */
export function isForwardingField(lower: string): boolean {
  return lower.length >= 9 && (lower.startsWith('x-forwarded-') || lower === 'forwarded' || lower === 'x-real-ip')
}

/** Appends to `out` the forwarding fields (isForwardingField, the trio aside) of `rawHeaders`, as sent: a trusted peer's. */
export function trustedForwarding(out: string[], rawHeaders: readonly string[]): void {
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const lower = rawHeaders[i]!.toLowerCase()
    if (isForwardingField(lower) && !SKIP_ON_REQUEST.has(lower)) out.push(rawHeaders[i]!, rawHeaders[i + 1]!)
  }
}

/**
 * The extra header names a Connection header declares hop-by-hop (lowercased), or undefined
 * when it lists none beyond the standard ones, which is the common case and allocates nothing.
 */
export function connectionListed(value: string | string[] | undefined): readonly string[] | undefined {
  if (value === undefined) return undefined
  const joined = typeof value === 'string' ? value : value.join(',')
  if (joined === 'keep-alive' || joined === 'close' || joined === 'Keep-Alive') return undefined
  let names: string[] | undefined
  let start = 0
  while (start <= joined.length) {
    let end = joined.indexOf(',', start)
    if (end === -1) end = joined.length
    const name = joined.slice(start, end).trim().toLowerCase()
    if (name !== '' && name !== 'close' && !HOP_BY_HOP.has(name)) (names ??= []).push(name)
    start = end + 1
  }
  return names
}

/**
 * Whether an Upgrade header offers h2c. RFC 9113 retired that upgrade; tunnelled, it would let
 * one client speak HTTP/2 to the upstream past routing and every per-request check ("h2c
 * smuggling"), so the request goes on as HTTP/1.1 without it, as nginx sends it by default.
 */
export function offersH2c(value: string | string[] | undefined): boolean {
  if (value === undefined) return false
  return (typeof value === 'string' ? value : value.join(',')).split(',').some((token) => token.trim().toLowerCase() === 'h2c')
}

/**
 * A field a Connection header names that the next hop needs (content-length, host), else
 * undefined: such a message is refused rather than sent on without it (see field-lines.ts).
 */
export function connectionDropsNeeded(value: string | string[] | undefined): string | undefined {
  return connectionListed(value)?.find((name) => name === 'content-length' || name === 'host')
}

/**
 * The headers to send upstream, as a flat [name, value, ...] list: the client's headers minus
 * hop-by-hop ones (Host kept as sent) and the X-Forwarded-* trio; from an ordinary peer, the
 * other forwarding fields too (isForwardingField). From an ordinary peer the trio is replaced:
 * X-Forwarded-For is the peer's address, X-Forwarded-Proto this connection's scheme (`tls`),
 * X-Forwarded-Host the Host. From a trusted proxy (`trustedPeer`) they are
 * kept as it sent them, the peer's address appended to X-Forwarded-For, and only a missing
 * -Proto or -Host is filled in.
 */
export function upstreamRequestHeaders(
  headers: IncomingHttpHeaders,
  remoteAddress: string | undefined,
  tls = false,
  trustedPeer = false,
): string[] {
  const listed = connectionListed(headers.connection)
  const out: string[] = []
  for (const name in headers) {
    if (SKIP_ON_REQUEST.has(name) || (listed !== undefined && listed.includes(name)) || (!trustedPeer && isForwardingField(name))) continue
    const value = headers[name]
    if (typeof value === 'string') {
      out.push(name, value)
    } else if (value !== undefined) {
      for (const item of value) out.push(name, item)
    }
  }
  return forwardedFields(out, headers, remoteAddress, tls, trustedPeer)
}

/** Appends to `out` the X-Forwarded-* trio upstreamRequestHeaders sends (see there); returns `out`. */
export function forwardedFields(out: string[], headers: IncomingHttpHeaders, remoteAddress: string | undefined, tls: boolean, trustedPeer: boolean): string[] {
  if (trustedPeer) {
    const prior = joined(headers['x-forwarded-for'])
    if (remoteAddress !== undefined) out.push('x-forwarded-for', prior === undefined ? remoteAddress : `${prior}, ${remoteAddress}`)
    else if (prior !== undefined) out.push('x-forwarded-for', prior)
    const proto = joined(headers['x-forwarded-proto'])
    out.push('x-forwarded-proto', proto ?? (tls ? 'https' : 'http'))
    const host = joined(headers['x-forwarded-host']) ?? headers.host
    if (host !== undefined) out.push('x-forwarded-host', host)
    return out
  }
  if (remoteAddress !== undefined) out.push('x-forwarded-for', remoteAddress)
  out.push('x-forwarded-proto', tls ? 'https' : 'http')
  if (headers.host !== undefined) out.push('x-forwarded-host', headers.host)
  return out
}

/** A header's value as one string (repeated ones joined), or undefined when absent or empty. */
function joined(value: string | string[] | undefined): string | undefined {
  if (value === undefined || value.length === 0) return undefined
  return typeof value === 'string' ? value : value.join(', ')
}

/**
 * The headers to send the client, as a flat list for `res.writeHead`: the upstream's minus
 * hop-by-hop ones, plus the colour and the router's Set-Cookie next to the upstream's own.
 */
export function clientResponseHeaders(
  headers: IncomingHttpHeaders,
  color: Color,
  setCookie: string | undefined,
): Array<string | string[]> {
  const listed = connectionListed(headers.connection)
  const out: Array<string | string[]> = []
  for (const name in headers) {
    if (SKIP_ON_RESPONSE.has(name) || (listed !== undefined && listed.includes(name))) continue
    const value = headers[name]
    if (value !== undefined) out.push(name, value)
  }
  out.push(COLOR_HEADER, color)
  if (setCookie !== undefined) out.push('set-cookie', setCookie)
  return out
}

const COLOR_LINES: Readonly<Record<Color, string>> = { blue: `${COLOR_HEADER}: blue\r\n`, green: `${COLOR_HEADER}: green\r\n` }

/**
 * A response head for a raw socket from `passOn` (ResponseHead.passOn: status line and fields
 * to keep, as text) with the colour, Set-Cookie and `extra` lines added.
 */
export function passedResponseHead(passOn: string, color: Color, setCookie: string | undefined, extra: string): string {
  return setCookie === undefined ? `${passOn}${COLOR_LINES[color]}${extra}\r\n` : `${passOn}${COLOR_LINES[color]}set-cookie: ${setCookie}\r\n${extra}\r\n`
}

/**
 * A serialized response head for a raw socket (the WebSocket path, and the socket engine when
 * text alone cannot be passed on): status line, the upstream's raw headers minus hop-by-hop
 * ones, then passedResponseHead's lines.
 */
export function rawResponseHead(
  statusCode: number,
  statusMessage: string,
  rawHeaders: readonly string[],
  color: Color,
  setCookie: string | undefined,
  extra: string,
): string {
  let listed: readonly string[] | undefined
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.toLowerCase() === 'connection') listed = connectionListed(rawHeaders[i + 1])
  }
  let head = `HTTP/1.1 ${statusCode} ${statusMessage}\r\n`
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!
    const lower = name.toLowerCase()
    if (SKIP_ON_RESPONSE.has(lower) || (listed !== undefined && listed.includes(lower))) continue
    head += `${name}: ${rawHeaders[i + 1]!}\r\n`
  }
  return passedResponseHead(head, color, setCookie, extra)
}
