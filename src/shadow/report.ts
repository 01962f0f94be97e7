/**
 * The mirror report (for `GET /v1/mirror/report`): how many pairs differ, by route group, by
 * kind and by field path, with a few redacted examples. Bounded: at most `maxRoutes` routes
 * (later ones count as "other"), `maxPathsPerRoute` paths each (later ones only counted),
 * `examplesPerRoute` and `maxExamples` examples (the first differing pairs seen).
 */
import { OTHER_ROUTE } from '../outcomes/route-groups.js'
import type { Pair } from './captured.js'
import { DEFAULT_REDACT_HEADERS, type Comparison, type ShadowKind } from './compare.js'
import type { DiffPath } from './json-diff.js'
import { normalizePath, PathMatcher } from './json-path.js'
import { bodyExcerpt, headerValue, redactQuery } from './redact.js'

export interface ReportOptions {
  readonly maxRoutes?: number
  readonly maxPathsPerRoute?: number
  readonly examplesPerRoute?: number
  readonly maxExamples?: number
  /** Field paths listed in one example (10). */
  readonly examplePaths?: number
  /** Show body excerpts and differing header values in examples (off: only statuses, names and paths). */
  readonly includeBodies?: boolean
  /** Characters of each body excerpt (512). */
  readonly bodyExcerptChars?: number
  /** Header values never shown (DEFAULT_REDACT_HEADERS). */
  readonly redactHeaders?: readonly string[]
  /** JSON path patterns (as `ignore`) whose values are never shown in an excerpt. */
  readonly redactFields?: readonly string[]
}

export interface KindCount { readonly kind: ShadowKind; readonly count: number; readonly share: number }

/** `count`: pairs where green differed here; `noise`: pairs where it did but the path was learned as noise. */
export interface PathCount { readonly path: string; readonly count: number; readonly share: number; readonly noise: number; readonly noisy: boolean }

/** Quantiles of green's time over blue's for the same requests (1.5: green took half again as long); null before any pair. */
export interface RatioQuantiles {
  readonly p50: number
  readonly p90: number
}

export interface RouteReport {
  readonly route: string
  readonly pairs: number
  readonly differing: number
  readonly share: number
  /** green / blue duration, and time to first byte, over the route's pairs (within ~9 %). */
  readonly latencyRatio: RatioQuantiles | null
  readonly ttfbRatio: RatioQuantiles | null
  readonly kinds: readonly KindCount[]
  /** Indices as `[*]`, most frequent first. */
  readonly paths: readonly PathCount[]
  /** Path occurrences past `maxPathsPerRoute`, counted only. */
  readonly otherPaths: number
}

export interface Example {
  readonly route: string
  readonly method: string
  /** Query values redacted. */
  readonly path: string
  readonly kinds: readonly ShadowKind[]
  readonly blue: { readonly status: number; readonly durationMs: number; readonly body?: string | null }
  readonly green: { readonly status: number; readonly durationMs: number; readonly body?: string | null }
  readonly paths: readonly DiffPath[]
  readonly headers: readonly string[]
  /** Only with `includeBodies`: the differing headers' values, redacted ones as `[redacted]`. */
  readonly headerValues?: Readonly<Record<string, { readonly blue: string | null; readonly green: string | null }>>
}

export interface ReportSnapshot {
  readonly pairs: number
  readonly differing: number
  readonly share: number
  readonly kinds: readonly KindCount[]
  readonly routes: readonly RouteReport[]
  readonly examples: readonly Example[]
}

interface RouteTally {
  readonly latency: RatioHistogram
  readonly ttfb: RatioHistogram
  pairs: number
  differing: number
  readonly kinds: Map<ShadowKind, number>
  readonly paths: Map<string, { count: number; noise: number; noisy: boolean }>
  otherPaths: number
  examples: number
}

/** Aggregates comparisons into the report; `add` is O(paths of the pair). */
export class ShadowReport {
  readonly #maxRoutes: number
  readonly #maxPaths: number
  readonly #examplesPerRoute: number
  readonly #maxExamples: number
  readonly #examplePaths: number
  readonly #includeBodies: boolean
  readonly #excerptChars: number
  readonly #redactHeaders: ReadonlySet<string>
  readonly #redactFields: PathMatcher
  #pairs = 0
  #differing = 0
  readonly #kinds = new Map<ShadowKind, number>()
  readonly #routes = new Map<string, RouteTally>()
  readonly #examples: Example[] = []

  /** Throws naming a redaction pattern that is not valid. */
  constructor(options: ReportOptions = {}) {
    this.#maxRoutes = Math.max(1, options.maxRoutes ?? 200)
    this.#maxPaths = Math.max(0, options.maxPathsPerRoute ?? 100)
    this.#examplesPerRoute = Math.max(0, options.examplesPerRoute ?? 3)
    this.#maxExamples = Math.max(0, options.maxExamples ?? 20)
    this.#examplePaths = Math.max(0, options.examplePaths ?? 10)
    this.#includeBodies = options.includeBodies ?? false
    this.#excerptChars = Math.max(0, options.bodyExcerptChars ?? 512)
    this.#redactHeaders = new Set((options.redactHeaders ?? DEFAULT_REDACT_HEADERS).map((h) => h.toLowerCase()))
    this.#redactFields = new PathMatcher(options.redactFields ?? [])
  }

  /** Counts one compared pair. */
  add(pair: Pair, comparison: Comparison): void {
    const tally = this.#tally(pair.route)
    const differs = comparison.kinds.length > 0
    tally.latency.add(comparison.latencyRatio)
    tally.ttfb.add(comparison.ttfbRatio)
    this.#pairs++
    tally.pairs++
    if (differs) {
      this.#differing++
      tally.differing++
    }
    for (const kind of comparison.kinds) {
      this.#kinds.set(kind, (this.#kinds.get(kind) ?? 0) + 1)
      tally.kinds.set(kind, (tally.kinds.get(kind) ?? 0) + 1)
    }
    const seen = new Set<string>()
    const count = (paths: readonly DiffPath[], noisy: boolean): void => {
      for (const { path } of paths) {
        const normal = normalizePath(path)
        if (seen.has(normal)) continue
        seen.add(normal)
        let entry = tally.paths.get(normal)
        if (entry === undefined) {
          if (tally.paths.size >= this.#maxPaths) {
            tally.otherPaths++
            continue
          }
          entry = { count: 0, noise: 0, noisy }
          tally.paths.set(normal, entry)
        }
        if (noisy) entry.noise++
        else entry.count++
        entry.noisy = noisy
      }
    }
    count(comparison.body.paths, false)
    count(comparison.body.noise, true)
    if (differs && tally.examples < this.#examplesPerRoute && this.#examples.length < this.#maxExamples) {
      tally.examples++
      this.#examples.push(this.#example(pair, comparison))
    }
  }

  /** Pairs counted and how many differed, without building the report. */
  totals(): { pairs: number; differing: number; share: number } {
    return { pairs: this.#pairs, differing: this.#differing, share: share(this.#differing, this.#pairs) }
  }

  /** Forgets everything. */
  reset(): void {
    this.#pairs = 0
    this.#differing = 0
    this.#kinds.clear()
    this.#routes.clear()
    this.#examples.length = 0
  }

  /** A plain JSON-able copy: routes with the most differing pairs first, paths and kinds most frequent first. */
  snapshot(): ReportSnapshot {
    const routes = [...this.#routes]
      .map(([route, t]): RouteReport => ({
        route,
        pairs: t.pairs,
        differing: t.differing,
        share: share(t.differing, t.pairs),
        latencyRatio: t.latency.quantiles(),
        ttfbRatio: t.ttfb.quantiles(),
        kinds: kindList(t.kinds, t.pairs),
        paths: [...t.paths]
          .map(([path, e]) => ({ path, count: e.count, share: share(e.count, t.pairs), noise: e.noise, noisy: e.noisy }))
          .sort((a, b) => b.count - a.count || b.noise - a.noise || byText(a.path, b.path)),
        otherPaths: t.otherPaths,
      }))
      .sort((a, b) => b.differing - a.differing || b.pairs - a.pairs || byText(a.route, b.route))
    const order = new Map(routes.map((r, i) => [r.route, i]))
    const examples = this.#examples
      .map((example, i) => ({ example, i }))
      .sort((a, b) => order.get(a.example.route)! - order.get(b.example.route)! || a.i - b.i)
      .map(({ example }) => structuredClone(example))
    return { pairs: this.#pairs, differing: this.#differing, share: share(this.#differing, this.#pairs), kinds: kindList(this.#kinds, this.#pairs), routes, examples }
  }

  /** The tally of a route; past the cap, new routes count as "other". */
  #tally(route: string): RouteTally {
    let tally = this.#routes.get(route)
    if (tally !== undefined) return tally
    // "other" itself may be one past the cap.
    if (this.#routes.size >= this.#maxRoutes && route !== OTHER_ROUTE) return this.#tally(OTHER_ROUTE)
    tally = { latency: new RatioHistogram(), ttfb: new RatioHistogram(), pairs: 0, differing: 0, kinds: new Map(), paths: new Map(), otherPaths: 0, examples: 0 }
    this.#routes.set(route, tally)
    return tally
  }

  #example(pair: Pair, c: Comparison): Example {
    const side = (s: 'blue' | 'green') => {
      const base = { status: pair[s].status, durationMs: Math.round(pair[s].durationMs * 100) / 100 }
      return this.#includeBodies ? { ...base, body: bodyExcerpt(pair[s], this.#redactFields, this.#excerptChars) } : base
    }
    const example: Example = {
      route: this.#routes.has(pair.route) ? pair.route : OTHER_ROUTE,
      method: pair.method,
      path: redactQuery(pair.path),
      kinds: [...c.kinds],
      blue: side('blue'),
      green: side('green'),
      paths: c.body.paths.slice(0, this.#examplePaths).map((p) => ({ ...p })),
      headers: [...c.headers],
    }
    if (!this.#includeBodies) return example
    const values = c.headers.map((name) => [name, { blue: headerValue(pair.blue, name, this.#redactHeaders), green: headerValue(pair.green, name, this.#redactHeaders) }] as const)
    return { ...example, headerValues: Object.fromEntries(values) }
  }
}

/** Ratios in bins of 1/8 of a doubling from 1/16 to 16 (outside: the end bins): a quantile within ~9 %. */
const PER_DOUBLING = 8
const SPAN = 4
const RATIO_BINS = 2 * SPAN * PER_DOUBLING + 1

class RatioHistogram {
  readonly #bins = new Uint32Array(RATIO_BINS)
  #count = 0

  add(ratio: number | null): void {
    if (ratio === null || !(ratio > 0) || !Number.isFinite(ratio)) return
    const bin = Math.round(Math.log2(ratio) * PER_DOUBLING) + SPAN * PER_DOUBLING
    this.#bins[Math.min(RATIO_BINS - 1, Math.max(0, bin))]!++
    this.#count++
  }

  quantiles(): RatioQuantiles | null {
    if (this.#count === 0) return null
    return { p50: this.#quantile(0.5), p90: this.#quantile(0.9) }
  }

  #quantile(q: number): number {
    const rank = Math.ceil(this.#count * q)
    let seen = 0
    for (let bin = 0; bin < RATIO_BINS; bin++) {
      seen += this.#bins[bin]!
      if (seen >= rank) return Math.round(2 ** ((bin - SPAN * PER_DOUBLING) / PER_DOUBLING) * 100) / 100
    }
    return 2 ** SPAN
  }
}

function share(part: number, whole: number): number {
  return whole === 0 ? 0 : Math.round((part / whole) * 10_000) / 10_000
}

function kindList(kinds: Map<ShadowKind, number>, pairs: number): KindCount[] {
  return [...kinds]
    .map(([kind, count]) => ({ kind, count, share: share(count, pairs) }))
    .sort((a, b) => b.count - a.count || byText(a.kind, b.kind))
}

function byText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
