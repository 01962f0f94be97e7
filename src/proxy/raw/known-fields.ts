import type { IncomingHttpHeaders } from 'node:http'

/**
 * Common field names, lowercased, as string literals: V8 keeps literals internalized, so the
 * headers object's property writes and our framing checks compare pointers instead of hashing a
 * fresh string per field (node's matchKnownFields does the same). Names as browsers and servers
 * send them (`Title-Case` or `lower-case`); any other casing takes the toLowerCase path.
 */
export function lowerFieldName(name: string): string {
  switch (name.length) {
    case 3:
      if (name === 'Age' || name === 'age') return 'age'
      break
    case 4:
      if (name === 'Host' || name === 'host') return 'host'
      if (name === 'Date' || name === 'date') return 'date'
      if (name === 'ETag' || name === 'etag') return 'etag'
      if (name === 'Vary' || name === 'vary') return 'vary'
      break
    case 6:
      if (name === 'Accept' || name === 'accept') return 'accept'
      if (name === 'Cookie' || name === 'cookie') return 'cookie'
      if (name === 'Expect' || name === 'expect') return 'expect'
      if (name === 'Origin' || name === 'origin') return 'origin'
      if (name === 'Server' || name === 'server') return 'server'
      break
    case 7:
      if (name === 'Referer' || name === 'referer') return 'referer'
      if (name === 'Upgrade' || name === 'upgrade') return 'upgrade'
      break
    case 8:
      if (name === 'Location' || name === 'location') return 'location'
      break
    case 10:
      if (name === 'User-Agent' || name === 'user-agent') return 'user-agent'
      if (name === 'Connection' || name === 'connection') return 'connection'
      if (name === 'Set-Cookie' || name === 'set-cookie') return 'set-cookie'
      break
    case 12:
      if (name === 'Content-Type' || name === 'content-type') return 'content-type'
      break
    case 13:
      if (name === 'Cache-Control' || name === 'cache-control') return 'cache-control'
      if (name === 'Authorization' || name === 'authorization') return 'authorization'
      if (name === 'Last-Modified' || name === 'last-modified') return 'last-modified'
      if (name === 'If-None-Match' || name === 'if-none-match') return 'if-none-match'
      break
    case 14:
      if (name === 'Content-Length' || name === 'content-length') return 'content-length'
      if (name === 'Sec-Fetch-Site' || name === 'sec-fetch-site') return 'sec-fetch-site'
      if (name === 'Sec-Fetch-Mode' || name === 'sec-fetch-mode') return 'sec-fetch-mode'
      if (name === 'Sec-Fetch-Dest' || name === 'sec-fetch-dest') return 'sec-fetch-dest'
      break
    case 15:
      if (name === 'Accept-Encoding' || name === 'accept-encoding') return 'accept-encoding'
      if (name === 'Accept-Language' || name === 'accept-language') return 'accept-language'
      if (name === 'X-Forwarded-For' || name === 'x-forwarded-for') return 'x-forwarded-for'
      break
    case 16:
      if (name === 'Content-Encoding' || name === 'content-encoding') return 'content-encoding'
      if (name === 'Proxy-Connection' || name === 'proxy-connection') return 'proxy-connection'
      if (name === 'X-Forwarded-Host' || name === 'x-forwarded-host') return 'x-forwarded-host'
      break
    case 17:
      if (name === 'Transfer-Encoding' || name === 'transfer-encoding') return 'transfer-encoding'
      if (name === 'X-Forwarded-Proto' || name === 'x-forwarded-proto') return 'x-forwarded-proto'
      if (name === 'If-Modified-Since' || name === 'if-modified-since') return 'if-modified-since'
      break
  }
  return name.toLowerCase()
}

/** Fields node:http keeps the first of (matchKnownFields in lib/_http_incoming.js). */
const FIRST_ONLY = new Set([
  'age', 'authorization', 'content-length', 'content-type', 'etag', 'expires', 'from', 'host',
  'if-modified-since', 'if-unmodified-since', 'last-modified', 'location', 'max-forwards',
  'proxy-authorization', 'referer', 'retry-after', 'server', 'user-agent',
])

/** The headers object of rawHeaders ([name, value, ...]), as node:http's IncomingMessage builds it. */
export function headersOf(rawHeaders: readonly string[]): IncomingHttpHeaders {
  const headers: IncomingHttpHeaders = {}
  for (let i = 0; i < rawHeaders.length; i += 2) addHeader(headers, lowerFieldName(rawHeaders[i]!), rawHeaders[i + 1]!)
  return headers
}

/** Adds a field to a headers object exactly as node:http's IncomingMessage does; false when the name was there already. */
export function addHeader(headers: IncomingHttpHeaders, lower: string, value: string): boolean {
  const dest = headers as Record<string, string | string[] | undefined>
  const current = dest[lower]
  if (current === undefined) {
    dest[lower] = lower === 'set-cookie' ? [value] : value
    return true
  }
  if (lower === 'set-cookie') {
    ;(current as string[]).push(value)
  } else if (typeof current === 'string' && !FIRST_ONLY.has(lower)) {
    dest[lower] = current + (lower === 'cookie' ? '; ' : ', ') + value
  } else if (typeof current !== 'string' && !FIRST_ONLY.has(lower)) {
    // An inherited property (`constructor`): node overwrites it.
    dest[lower] = value
  }
  return false
}
