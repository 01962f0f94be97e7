/**
 * Structural diff of two parsed JSON answers (blue's first, green's second), bounded in work
 * and output. Objects compare by key, whatever their order; arrays by index (element 3 with
 * element 3: an inserted element shows as every later index changing, which is what a client
 * reading by index would see); numbers by value (1 and 1.0 are one number once parsed).
 */
import { formatPath, isObject, type PathMatcher, type Segment } from './json-path.js'

/**
 * `changed`: same type, other value; `missing`: in blue, not in green; `added`: only in green;
 * `type`: the types differ (null, boolean, number, string, array, object), not looked into.
 */
export type DiffKind = 'changed' | 'missing' | 'added' | 'type'

/** One place where the answers differ. */
export interface DiffPath {
  readonly path: string
  readonly kind: DiffKind
}

export interface JsonDiff {
  readonly paths: readonly DiffPath[]
  /** The diff stopped at `maxNodes` or `maxPaths`: there may be more differences. */
  readonly truncated: boolean
  /** Values looked at (each counts once, compared or only present on one side). */
  readonly nodes: number
}

export interface DiffOptions {
  /** Paths covered by these patterns (and everything under them) are neither compared nor reported. */
  readonly ignore?: PathMatcher
  /** Values looked at before stopping (10,000). */
  readonly maxNodes?: number
  /** Differences reported before stopping (100). */
  readonly maxPaths?: number
}

export const DEFAULT_MAX_NODES = 10_000
export const DEFAULT_MAX_PATHS = 100

/** A container being walked: its children are visited one by one, never all pushed at once. */
interface Frame {
  readonly a: unknown
  readonly b: unknown
  /** Object keys to visit (blue's, then green's own), or null for an array. */
  readonly keys: readonly string[] | null
  readonly length: number
  next: number
}

/** The differences between two JSON values, in depth-first order. Never throws; iterative, so depth is no risk. */
export function diffJson(a: unknown, b: unknown, options: DiffOptions = {}): JsonDiff {
  const ignore = options.ignore !== undefined && !options.ignore.empty ? options.ignore : undefined
  const maxNodes = options.maxNodes ?? DEFAULT_MAX_NODES
  const maxPaths = options.maxPaths ?? DEFAULT_MAX_PATHS
  const paths: DiffPath[] = []
  const segments: Segment[] = []
  const frames: Frame[] = []
  let nodes = 0
  /** A cap was reached: the walk ends at once. */
  let truncated = false

  const report = (kind: DiffKind): void => {
    if (paths.length >= maxPaths) {
      truncated = true
      return
    }
    paths.push({ path: formatPath(segments), kind })
  }
  /** Looks at the value pair at `segments`; `undefined` on one side means absent there. */
  const visit = (x: unknown, y: unknown): void => {
    if (nodes >= maxNodes) {
      truncated = true
      return
    }
    nodes++
    if (ignore?.covers(segments)) return
    if (y === undefined) return report('missing')
    if (x === undefined) return report('added')
    const tx = typeOf(x)
    if (tx !== typeOf(y)) return report('type')
    if (tx === 'array') {
      const xs = x as unknown[]
      const ys = y as unknown[]
      frames.push({ a: xs, b: ys, keys: null, length: Math.max(xs.length, ys.length), next: 0 })
      segments.push(-1) // the child's slot, overwritten for each child
    } else if (tx === 'object') {
      const keys = unionKeys(x as Record<string, unknown>, y as Record<string, unknown>)
      frames.push({ a: x, b: y, keys, length: keys.length, next: 0 })
      segments.push('')
    } else if (x !== y) {
      report('changed')
    }
  }

  visit(a, b)
  while (!truncated && frames.length > 0) {
    const frame = frames.at(-1)!
    if (frame.next >= frame.length) {
      frames.pop()
      segments.pop()
      continue
    }
    const i = frame.next++
    if (frame.keys === null) {
      segments[segments.length - 1] = i
      const xs = frame.a as unknown[]
      const ys = frame.b as unknown[]
      visit(i < xs.length ? xs[i] : undefined, i < ys.length ? ys[i] : undefined)
    } else {
      const key = frame.keys[i]!
      segments[segments.length - 1] = key
      const x = frame.a as Record<string, unknown>
      const y = frame.b as Record<string, unknown>
      visit(Object.hasOwn(x, key) ? x[key] : undefined, Object.hasOwn(y, key) ? y[key] : undefined)
    }
  }
  return { paths, truncated, nodes }
}

/** The JSON type of a parsed value. */
export function typeOf(value: unknown): 'null' | 'array' | 'object' | 'boolean' | 'number' | 'string' | 'other' {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'array'
  if (isObject(value)) return 'object'
  const t = typeof value
  return t === 'boolean' || t === 'number' || t === 'string' ? t : 'other'
}

/** Blue's keys in their order, then green's that blue lacks. */
function unionKeys(x: Record<string, unknown>, y: Record<string, unknown>): string[] {
  const keys = Object.keys(x)
  for (const key of Object.keys(y)) if (!Object.hasOwn(x, key)) keys.push(key)
  return keys
}
