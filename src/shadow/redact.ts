/**
 * What a report may show of an answer: nothing secret. Query values, redacted headers and
 * fields covered by the redaction patterns become `[redacted]`; bodies are shown only when
 * the operator turned them on, and then only as a short excerpt.
 */
import { hasWholeBody, isJsonType, jsonBody, mediaType, type Captured } from './captured.js'
import { isObject, type PathMatcher, type Segment } from './json-path.js'

export const REDACTED = '[redacted]'

/** Nesting past this is not shown (the excerpt is short anyway). */
const MAX_DEPTH = 64

/** The request target with every query value (and any bare query item) redacted, fragment dropped. */
export function redactQuery(target: string): string {
  const hash = target.indexOf('#')
  const url = hash < 0 ? target : target.slice(0, hash)
  const q = url.indexOf('?')
  if (q < 0) return url
  const items = url
    .slice(q + 1)
    .split('&')
    .filter((item) => item !== '')
    .map((item) => {
      const eq = item.indexOf('=')
      return eq < 0 ? REDACTED : `${item.slice(0, eq)}=${REDACTED}`
    })
  return `${url.slice(0, q)}?${items.join('&')}`
}

/** A copy of a parsed JSON value with every field covered by `fields` replaced by `[redacted]`. */
export function redactJson(value: unknown, fields: PathMatcher): unknown {
  const segments: Segment[] = []
  const walk = (node: unknown): unknown => {
    if (!fields.empty && fields.covers(segments)) return REDACTED
    if (typeof node !== 'object' || node === null) return node
    if (segments.length >= MAX_DEPTH) return '[too deep]'
    if (Array.isArray(node)) {
      return node.map((item, i) => {
        segments.push(i)
        const out = walk(item)
        segments.pop()
        return out
      })
    }
    const out: Record<string, unknown> = {}
    if (isObject(node)) {
      for (const key of Object.keys(node)) {
        segments.push(key)
        // defineProperty: a "__proto__" key stays a plain field.
        Object.defineProperty(out, key, { value: walk(node[key]), enumerable: true, writable: true, configurable: true })
        segments.pop()
      }
    }
    return out
  }
  return walk(value)
}

/**
 * At most `maxChars` of a body fit to show: whole JSON with its redacted fields; text as it is;
 * anything else (binary, JSON that does not parse, so no field can be redacted) only described.
 */
export function bodyExcerpt(c: Captured, fields: PathMatcher, maxChars: number): string | null {
  if (c.body === null) return null
  const cut = (text: string): string => (text.length > maxChars ? `${text.slice(0, maxChars)}…` : text)
  if (isJsonType(c)) {
    const parsed = jsonBody(c)
    if (parsed === undefined) return `[${c.body.length} bytes of ${hasWholeBody(c) ? 'unparseable' : 'partial'} JSON, not shown]`
    return cut(JSON.stringify(redactJson(parsed, fields)))
  }
  const type = mediaType(c)
  if (type.startsWith('text/') || type.endsWith('xml')) return cut(c.body.toString('utf8'))
  return `[${c.body.length} bytes of ${type === '' ? 'untyped data' : type}, not shown]`
}

/** The value of `name` to show: redacted when listed, absent as null. */
export function headerValue(c: Captured, name: string, redact: ReadonlySet<string>): string | null {
  if (!Object.hasOwn(c.headers, name)) return null
  return redact.has(name) ? REDACTED : c.headers[name]!
}
