/**
 * Compares one mirrored pair: green's answer against blue's, by the configured mode. Pure and
 * bounded (the JSON diff has its caps; headers are a handful). What differs is named by
 * `kinds`, the labels of `switchyard_mirror_diffs_total{kind}`.
 */
import { hasWholeBody, isJsonType, isSse, isStream, jsonBody, type Captured, type Pair } from './captured.js'
import { DEFAULT_MAX_NODES, DEFAULT_MAX_PATHS, diffJson, type DiffPath } from './json-diff.js'
import { PathMatcher } from './json-path.js'

/**
 * `none`: nothing is compared (mirroring as load only); `status`: status, framing and latency;
 * `json`: also the body, field by field when both are whole JSON, else byte by byte; `exact`:
 * also the body byte by byte.
 */
export type BodyMode = 'none' | 'status' | 'json' | 'exact'

/** What a pair can differ in: one counter label each. */
export type ShadowKind = 'status' | 'body' | 'field' | 'stream' | 'latency'

/**
 * Why a body was not compared (`equal` null) — or, for `not-json`, why a `json` comparison fell
 * back to bytes. `streamed`: streams (SSE, NDJSON: captured.ts isStream) are judged on framing
 * and completion, never by bytes (two token streams differ by nature); `incomplete`: an answer was cut; `too-large`: the JSON diff
 * hit its node cap before finding any difference.
 */
export type BodyReason = 'mode-none' | 'streamed' | 'not-captured' | 'truncated' | 'incomplete' | 'not-json' | 'too-large'

export interface BodyComparison {
  readonly mode: BodyMode
  /** How the bodies were compared, or null when they were not. */
  readonly compared: 'json' | 'exact' | null
  readonly equal: boolean | null
  readonly why: BodyReason | null
  /** Field paths that differ (json only), after `ignore` and learned noise. */
  readonly paths: readonly DiffPath[]
  /** Field paths that differ but were learned as noise for this route: not a difference. */
  readonly noise: readonly DiffPath[]
  /** The JSON diff stopped at a cap. */
  readonly truncated: boolean
}

export interface StreamComparison {
  /** Both are streams by their media type (SSE, NDJSON, ...), or neither. */
  readonly framing: boolean
  /** Both ended cleanly, or both were cut. */
  readonly completion: boolean
  /** Same number of SSE frames; null unless both are SSE with a count. */
  readonly events: boolean | null
}

export interface Comparison {
  readonly statusClassMatch: boolean
  readonly statusMatch: boolean
  /** green / blue duration; null when blue's is 0. */
  readonly latencyRatio: number | null
  /** green / blue time to first byte; null when blue's is 0 or either had none. */
  readonly ttfbRatio: number | null
  readonly body: BodyComparison
  readonly stream: StreamComparison
  /** Header names whose values differ (sorted), past the ignored and noisy ones. Never a kind. */
  readonly headers: readonly string[]
  readonly kinds: readonly ShadowKind[]
}

/** What the comparison asks of the noise learner (noise.ts): nothing else. */
export interface NoiseFilter {
  noisyPath(route: string, path: string): boolean
  noisyHeader(route: string, name: string): boolean
}

/** Headers that hold secrets: never compared, redacted in reports. */
export const DEFAULT_REDACT_HEADERS: readonly string[] = Object.freeze(['authorization', 'cookie', 'set-cookie', 'proxy-authorization', 'x-api-key'])

/** Hop-by-hop headers, `date`, and `content-length` (its difference is the body's or the framing's). */
const ALWAYS_IGNORED_HEADERS: readonly string[] = [
  'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade',
  'proxy-authenticate', 'date', 'content-length',
]

const MAX_HEADERS = 50

export interface CompareOptions {
  readonly mode?: BodyMode
  /** JSON path patterns never compared (json-path.ts): `$.meta.requestId`, `$.items[*].id`, `$..timestamp`. */
  readonly ignore?: readonly string[]
  /** Header names never compared, on top of hop-by-hop, date and the redacted ones. */
  readonly ignoreHeaders?: readonly string[]
  /** Redacted headers (default DEFAULT_REDACT_HEADERS): never compared either. */
  readonly redactHeaders?: readonly string[]
  /** Green is slow when its time exceeds this many times blue's (2)... */
  readonly latencyFactor?: number
  /** ... with blue's counted as at least this many ms (10), so sub-floor jitter never counts. */
  readonly latencyFloorMs?: number
  /** Whether two SSE answers with different frame counts differ (true). */
  readonly compareEvents?: boolean
  readonly maxNodes?: number
  readonly maxPaths?: number
}

/** Options resolved once: patterns compiled, header names lower-cased. */
export interface CompareSettings {
  readonly mode: BodyMode
  readonly ignore: PathMatcher
  readonly ignoreHeaders: ReadonlySet<string>
  readonly latencyFactor: number
  readonly latencyFloorMs: number
  readonly compareEvents: boolean
  readonly maxNodes: number
  readonly maxPaths: number
}

/** Resolves and freezes the options; throws naming an invalid pattern or number. */
export function compareSettings(options: CompareOptions = {}): CompareSettings {
  const latencyFactor = options.latencyFactor ?? 2
  const latencyFloorMs = options.latencyFloorMs ?? 10
  if (!(latencyFactor >= 1)) throw new Error(`latencyFactor must be at least 1, got ${latencyFactor}`)
  if (!(latencyFloorMs >= 0)) throw new Error(`latencyFloorMs must be at least 0, got ${latencyFloorMs}`)
  const headers = [...ALWAYS_IGNORED_HEADERS, ...(options.redactHeaders ?? DEFAULT_REDACT_HEADERS), ...(options.ignoreHeaders ?? [])]
  return Object.freeze({
    mode: options.mode ?? 'json',
    ignore: new PathMatcher(options.ignore ?? []),
    ignoreHeaders: new Set(headers.map((h) => h.toLowerCase())),
    latencyFactor,
    latencyFloorMs,
    compareEvents: options.compareEvents ?? true,
    maxNodes: options.maxNodes ?? DEFAULT_MAX_NODES,
    maxPaths: options.maxPaths ?? DEFAULT_MAX_PATHS,
  })
}

/**
 * Compares green's answer with blue's. With `noise`, field paths and headers learned as noisy
 * for the pair's route are not differences (paths are kept apart in `body.noise`). Mode `none`
 * yields no kinds; the ratios are always computed.
 */
export function comparePair(pair: Pair, settings: CompareSettings, noise?: NoiseFilter): Comparison {
  const { blue, green } = pair
  const body = compareBodies(pair, settings, noise)
  const stream = compareStreams(blue, green)
  const statusMatch = blue.status === green.status
  const statusClassMatch = Math.floor(blue.status / 100) === Math.floor(green.status / 100)
  const kinds: ShadowKind[] = []
  if (settings.mode !== 'none') {
    if (!statusMatch) kinds.push('status')
    if (body.equal === false) kinds.push(body.compared === 'json' ? 'field' : 'body')
    if (!stream.framing || !stream.completion || (settings.compareEvents && stream.events === false)) kinds.push('stream')
    if (slower(blue.durationMs, green.durationMs, settings) || slower(blue.ttfbMs, green.ttfbMs, settings)) kinds.push('latency')
  }
  return {
    statusClassMatch,
    statusMatch,
    latencyRatio: blue.durationMs > 0 ? green.durationMs / blue.durationMs : null,
    ttfbRatio: blue.ttfbMs > 0 && green.ttfbMs >= 0 ? green.ttfbMs / blue.ttfbMs : null,
    body,
    stream,
    headers: settings.mode === 'none' ? [] : differingHeaders(pair, settings, noise),
    kinds,
  }
}

/** Green over `factor` × blue, blue counted as at least the floor; never when either is unknown (< 0). */
function slower(blueMs: number, greenMs: number, settings: CompareSettings): boolean {
  return blueMs >= 0 && greenMs >= 0 && greenMs > settings.latencyFactor * Math.max(blueMs, settings.latencyFloorMs)
}

function compareStreams(blue: Captured, green: Captured): StreamComparison {
  const counted = isSse(blue) && isSse(green) && blue.events !== undefined && green.events !== undefined
  return {
    framing: isStream(blue) === isStream(green),
    completion: blue.complete === green.complete,
    events: counted ? blue.events === green.events : null,
  }
}

function compareBodies(pair: Pair, settings: CompareSettings, noise: NoiseFilter | undefined): BodyComparison {
  const { blue, green } = pair
  const mode = settings.mode
  const none = (why: BodyReason): BodyComparison => ({ mode, compared: null, equal: null, why, paths: [], noise: [], truncated: false })
  if (mode === 'none' || mode === 'status') return none('mode-none')
  if (isStream(blue) || isStream(green)) return none('streamed')
  if (blue.body === null || green.body === null) return none('not-captured')
  if (blue.truncated || green.truncated) return none('truncated')
  if (!hasWholeBody(blue) || !hasWholeBody(green)) return none('incomplete')
  let why: BodyReason | null = null
  if (mode === 'json') {
    const a = isJsonType(blue) && isJsonType(green) ? jsonBody(blue) : undefined
    const b = a === undefined ? undefined : jsonBody(green)
    if (a !== undefined && b !== undefined) {
      const diff = diffJson(a, b, { ignore: settings.ignore, maxNodes: settings.maxNodes, maxPaths: settings.maxPaths })
      const paths = noise === undefined ? diff.paths : diff.paths.filter((p) => !noise.noisyPath(pair.route, p.path))
      const noisy = paths.length === diff.paths.length ? [] : diff.paths.filter((p) => !paths.includes(p))
      const equal = paths.length > 0 ? false : diff.truncated ? null : true
      return { mode, compared: 'json', equal, why: equal === null ? 'too-large' : null, paths, noise: noisy, truncated: diff.truncated }
    }
    why = 'not-json'
  }
  return { mode, compared: 'exact', equal: blue.body.equals(green.body), why, paths: [], noise: [], truncated: false }
}

/** Header names present on one side only or with other values, sorted, at most MAX_HEADERS. */
function differingHeaders(pair: Pair, settings: CompareSettings, noise: NoiseFilter | undefined): string[] {
  const { blue, green } = pair
  const names = new Set([...Object.keys(blue.headers), ...Object.keys(green.headers)])
  const out: string[] = []
  for (const name of names) {
    if (settings.ignoreHeaders.has(name)) continue
    const x = Object.hasOwn(blue.headers, name) ? blue.headers[name] : undefined
    const y = Object.hasOwn(green.headers, name) ? green.headers[name] : undefined
    if (x === y || noise?.noisyHeader(pair.route, name) === true) continue
    out.push(name)
  }
  return out.sort().slice(0, MAX_HEADERS)
}
