/**
 * The one notation for a place inside a JSON answer, shared by the diff, `ignore`, the noise
 * learner and the report's field redaction: `$` is the root, `.name` an object key (keys that
 * are not plain names are written `["any key"]`, as a JSON string), `[3]` an array index.
 * Patterns add `*` (`.*` or `[*]`: any one key or index) and `..` (any depth, zero or more
 * levels: `$..timestamp`). A pattern covers a path when it matches the path or one of its
 * ancestors, so `$.meta` (or `$.meta.*`) covers `$.meta.a.b` too.
 */

/** One step of a concrete path: an object key or an array index. */
export type Segment = string | number

/** One step of a pattern; `deep` means "after zero or more levels". */
interface Token {
  readonly deep: boolean
  /** A key, an index, or null for `*`. */
  readonly value: Segment | null
}

const PLAIN_NAME = /^[A-Za-z_][A-Za-z0-9_-]*$/

/** A concrete path as text, e.g. `$.items[3].id`; with `indices: false` every index is `[*]`. */
export function formatPath(segments: readonly Segment[], indices = true): string {
  let out = '$'
  for (const s of segments) {
    if (typeof s === 'number') out += indices ? `[${s}]` : '[*]'
    else out += PLAIN_NAME.test(s) ? `.${s}` : `[${JSON.stringify(s)}]`
  }
  return out
}

/** The text of `path` with every array index as `[*]`, so `$.a[3].b` and `$.a[7].b` are one. */
export function normalizePath(path: string): string {
  const tokens = parse(path)
  return tokens === null ? path : formatTokens(tokens, false)
}

/** The segments of a concrete path written by `formatPath`; throws on a pattern or bad syntax. */
export function parsePath(path: string): Segment[] {
  const tokens = parse(path)
  if (tokens === null) throw new Error(`not a JSON path: ${JSON.stringify(path)}`)
  return tokens.map((t) => {
    if (t.deep || t.value === null) throw new Error(`a pattern, not a concrete path: ${JSON.stringify(path)}`)
    return t.value
  })
}

/** The value at `segments` inside `root`, or undefined when there is none. */
export function valueAt(root: unknown, segments: readonly Segment[]): unknown {
  let node = root
  for (const s of segments) {
    if (typeof s === 'number') {
      if (!Array.isArray(node) || s >= node.length) return undefined
      node = node[s]
    } else {
      if (!isObject(node) || !Object.hasOwn(node, s)) return undefined
      node = node[s]
    }
  }
  return node
}

/** Whether `value` is a JSON object (not an array, not null). */
export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** A set of compiled patterns: whether a path is covered by any of them. */
export class PathMatcher {
  readonly #patterns: readonly (readonly Token[])[]
  /** The patterns as configured, for display. */
  readonly sources: readonly string[]

  /** Compiles `patterns` once; throws naming the first pattern that is not valid. */
  constructor(patterns: readonly string[] = []) {
    this.sources = Object.freeze([...patterns])
    this.#patterns = patterns.map((p) => {
      const tokens = parse(p)
      if (tokens === null) throw new Error(`not a JSON path pattern: ${JSON.stringify(p)} (e.g. $.items[*].id, $..timestamp)`)
      return tokens
    })
  }

  /** Whether there are no patterns (nothing is ever covered). */
  get empty(): boolean {
    return this.#patterns.length === 0
  }

  /** Whether some pattern covers the path `segments` (matches it or an ancestor). */
  covers(segments: readonly Segment[]): boolean {
    for (const tokens of this.#patterns) {
      if (matchFrom(tokens, 0, segments, 0)) return true
    }
    return false
  }
}

/** Whether tokens[i..] match a prefix of segments[j..]. Patterns are short: plain backtracking. */
function matchFrom(tokens: readonly Token[], i: number, segments: readonly Segment[], j: number): boolean {
  if (i === tokens.length) return true
  const token = tokens[i]!
  if (!token.deep) return j < segments.length && fits(token, segments[j]!) && matchFrom(tokens, i + 1, segments, j + 1)
  for (let k = j; k < segments.length; k++) {
    if (fits(token, segments[k]!) && matchFrom(tokens, i + 1, segments, k + 1)) return true
  }
  return false
}

function fits(token: Token, segment: Segment): boolean {
  return token.value === null || token.value === segment
}

function formatTokens(tokens: readonly Token[], indices: boolean): string {
  let out = '$'
  for (const t of tokens) {
    const dots = t.deep ? '..' : ''
    if (t.value === null) out += t.deep ? '..*' : '[*]'
    else if (typeof t.value === 'number') out += `${dots}[${indices ? t.value : '*'}]`
    else out += PLAIN_NAME.test(t.value) ? `${t.deep ? '..' : '.'}${t.value}` : `${dots}[${JSON.stringify(t.value)}]`
  }
  return out
}

/** The tokens of a path or pattern, or null when it is not one. */
function parse(text: string): Token[] | null {
  if (!text.startsWith('$')) return null
  const tokens: Token[] = []
  let pos = 1
  while (pos < text.length) {
    let deep = false
    if (text.startsWith('..', pos)) {
      deep = true
      pos += 2
      if (text[pos] !== '[') {
        const end = nameEnd(text, pos)
        if (end === pos) return null
        const name = text.slice(pos, end)
        tokens.push({ deep, value: name === '*' ? null : name })
        pos = end
        continue
      }
    } else if (text[pos] === '.') {
      const end = nameEnd(text, pos + 1)
      if (end === pos + 1) return null
      const name = text.slice(pos + 1, end)
      tokens.push({ deep, value: name === '*' ? null : name })
      pos = end
      continue
    }
    if (text[pos] !== '[') return null
    const bracket = parseBracket(text, pos + 1)
    if (bracket === null) return null
    tokens.push({ deep, value: bracket.value })
    pos = bracket.end
  }
  return tokens
}

/** Where a plain `.name` ends: at the next `.` or `[`. */
function nameEnd(text: string, pos: number): number {
  let end = pos
  while (end < text.length && text[end] !== '.' && text[end] !== '[') end++
  return end
}

/** `[*]`, `[12]` or `["key"]` after its `[`: the value and the position after `]`. */
function parseBracket(text: string, pos: number): { value: Segment | null; end: number } | null {
  if (text.startsWith('*]', pos)) return { value: null, end: pos + 2 }
  if (text[pos] === '"') {
    let end = pos + 1
    while (end < text.length && text[end] !== '"') end += text[end] === '\\' ? 2 : 1
    if (text[end + 1] !== ']') return null
    try {
      return { value: JSON.parse(text.slice(pos, end + 1)) as string, end: end + 2 }
    } catch {
      return null
    }
  }
  const close = text.indexOf(']', pos)
  const digits = close < 0 ? '' : text.slice(pos, close)
  if (!/^(0|[1-9][0-9]*)$/.test(digits)) return null
  return { value: Number(digits), end: close + 1 }
}
