import type { IncomingHttpHeaders } from 'node:http'

/** Reads one sticky key from a request, or undefined when that key is absent. */
export type KeyExtractor = (headers: IncomingHttpHeaders, remoteAddress: string | undefined) => string | undefined

/** Finds cookie `name` in a Cookie header without regex or allocation beyond the result. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (header === undefined || header.length === 0) return undefined
  let from = 0
  while (from < header.length) {
    const at = header.indexOf(name, from)
    if (at === -1) return undefined
    const end = at + name.length
    // A match must start the header or follow "; " and be followed by "=".
    const startsPair = at === 0 || header.charCodeAt(at - 1) === 0x20 || header.charCodeAt(at - 1) === 0x3b
    if (startsPair && header.charCodeAt(end) === 0x3d) {
      const stop = header.indexOf(';', end + 1)
      let value = stop === -1 ? header.slice(end + 1) : header.slice(end + 1, stop)
      value = value.trim()
      if (value.length >= 2 && value.charCodeAt(0) === 0x22 && value.charCodeAt(value.length - 1) === 0x22) {
        value = value.slice(1, -1)
      }
      return value.length > 0 ? value : undefined
    }
    from = end
  }
  return undefined
}

/**
 * Compiles one `sticky.keys` entry (`cookie:NAME`, `header:NAME` or `ip`) into an extractor.
 * Throws on an entry of another form; config validation calls this so the error names the key.
 */
export function compileKey(spec: string): KeyExtractor {
  if (spec === 'ip') return (_headers, remoteAddress) => remoteAddress
  const colon = spec.indexOf(':')
  const kind = colon === -1 ? spec : spec.slice(0, colon)
  const name = colon === -1 ? '' : spec.slice(colon + 1)
  if (kind === 'cookie' && name.length > 0) {
    return (headers) => readCookie(headers.cookie, name)
  }
  if (kind === 'header' && name.length > 0) {
    const lower = name.toLowerCase()
    return (headers) => {
      const value = headers[lower]
      if (value === undefined || value.length === 0) return undefined
      return typeof value === 'string' ? value : value[0]
    }
  }
  throw new Error(`"${spec}" is not a sticky key; use "cookie:NAME", "header:NAME" or "ip"`)
}

/** Compiles the ordered key list into one extractor: the first key present wins. */
export function compileKeys(specs: readonly string[]): KeyExtractor {
  const extractors = specs.map(compileKey)
  if (extractors.length === 1) return extractors[0]!
  return (headers, remoteAddress) => {
    for (const extract of extractors) {
      const key = extract(headers, remoteAddress)
      if (key !== undefined) return key
    }
    return undefined
  }
}
