import type { RouteGroupSettings } from '../config/schema.js'

/** The group of every route past the cap. */
export const OTHER_ROUTE = 'other'

/** What an id-like path segment becomes, so that `/users/42` and `/users/43` share a group. */
const ID = ':id'

/** Segments longer than this are opaque tokens (ids, hashes, base64), never route names. */
const MAX_SEGMENT = 64

/** A configured prefix or template, split into segments; `null` is a `:name` one (any one segment). */
interface Pattern {
  readonly name: string
  readonly segments: readonly (string | null)[]
  readonly literals: number
}

/**
 * Names the route group of a request URL for per-route outcomes, with bounded cardinality:
 * the longest configured prefix or template that matches on segment boundaries, else the first
 * `depth` path segments with id-like ones as `:id`. The first `max` groups seen are kept;
 * any further one is "other", and `max` 0 turns grouping off (""). Never throws.
 */
export class RouteGroups {
  readonly #depth: number
  readonly #max: number
  readonly #patterns: readonly Pattern[]
  /** Groups handed out so far (at most `max`). */
  readonly #seen = new Set<string>()

  constructor(settings: RouteGroupSettings) {
    this.#depth = Math.max(0, Math.floor(settings.depth))
    this.#max = Math.max(0, Math.floor(settings.max))
    const patterns = settings.prefixes.map((name): Pattern => {
      const segments = name
        .split('/')
        .filter((s) => s !== '')
        .map((s) => (s.startsWith(':') ? null : s))
      return { name, segments, literals: segments.filter((s) => s !== null).length }
    })
    // Longest first, literal segments before templated ones, then as configured: the first match wins.
    this.#patterns = patterns
      .map((p, i) => ({ p, i }))
      .sort((a, b) => b.p.segments.length - a.p.segments.length || b.p.literals - a.p.literals || a.i - b.i)
      .map(({ p }) => p)
  }

  /** The group of a request target (`req.url`); "" when grouping is off. */
  group(url: string | undefined): string {
    if (this.#max === 0) return ''
    const path = pathOf(url)
    for (const pattern of this.#patterns) {
      if (matches(path, pattern.segments)) return this.#admit(pattern.name)
    }
    return this.#admit(leading(path, this.#depth))
  }

  #admit(key: string): string {
    if (this.#seen.has(key)) return key
    if (this.#seen.size >= this.#max) return OTHER_ROUTE
    this.#seen.add(key)
    return key
  }
}

/** The path of a request target, without query or fragment; "/" for anything that is no path (`*`). */
function pathOf(url: string | undefined): string {
  if (url === undefined || url === '') return '/'
  let start = 0
  if (url.charCodeAt(0) !== 0x2f /* / */) {
    // Absolute-form (`http://host/path`): the path starts after the authority.
    const scheme = url.indexOf('://')
    if (scheme < 0) return '/'
    start = scheme + 3
    // The authority ends at the first '/', '?' or '#'; only a '/' starts a path.
    while (start < url.length) {
      const c = url.charCodeAt(start)
      if (c === 0x2f || c === 0x3f /* ? */ || c === 0x23 /* # */) break
      start++
    }
    if (start >= url.length || url.charCodeAt(start) !== 0x2f) return '/'
  }
  let end = url.indexOf('?', start)
  if (end < 0) end = url.length
  const fragment = url.indexOf('#', start)
  if (fragment >= 0 && fragment < end) end = fragment
  return start === 0 && end === url.length ? url : url.slice(start, end)
}

/** Whether `path` starts with `segments` on segment boundaries (empty segments, as in `//`, skipped). */
function matches(path: string, segments: readonly (string | null)[]): boolean {
  let pos = 0
  for (const segment of segments) {
    while (pos < path.length && path.charCodeAt(pos) === 0x2f) pos++
    if (pos >= path.length) return false
    let end = path.indexOf('/', pos)
    if (end < 0) end = path.length
    if (segment !== null && (end - pos !== segment.length || !path.startsWith(segment, pos))) return false
    pos = end
  }
  return true
}

/** The first `depth` non-empty segments of `path`, id-like ones as `:id`; "/" for none. */
function leading(path: string, depth: number): string {
  let out = ''
  let pos = 0
  for (let n = 0; n < depth; n++) {
    while (pos < path.length && path.charCodeAt(pos) === 0x2f) pos++
    if (pos >= path.length) break
    let end = path.indexOf('/', pos)
    if (end < 0) end = path.length
    out += '/' + (looksLikeId(path, pos, end) ? ID : path.slice(pos, end))
    pos = end
  }
  return out === '' ? '/' : out
}

/** All digits, a UUID, 16 or more hex digits, or longer than any route name. */
function looksLikeId(s: string, start: number, end: number): boolean {
  const length = end - start
  if (length > MAX_SEGMENT) return true
  let digits = true
  let hex = true
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i)
    const isDigit = c >= 0x30 && c <= 0x39
    if (!isDigit) digits = false
    if (!isDigit && !((c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46))) {
      hex = false
      break
    }
  }
  if (digits || (hex && length >= 16)) return true
  return length === 36 && isUuid(s, start)
}

/** 8-4-4-4-12 hex digits. */
function isUuid(s: string, start: number): boolean {
  for (let i = 0; i < 36; i++) {
    const c = s.charCodeAt(start + i)
    if (i === 8 || i === 13 || i === 18 || i === 23) {
      if (c !== 0x2d /* - */) return false
    } else if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46))) {
      return false
    }
  }
  return true
}
