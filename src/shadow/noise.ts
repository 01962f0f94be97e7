/**
 * Noise learned, not only configured (Diffy's idea, inside the proxy): when a mirrored request
 * was also answered by a second blue target, whatever differs between the two blue answers is
 * noise for that route — timestamps, request ids, random orderings — and is not held against
 * green. Bounded: at most `maxRoutes` routes, `maxPathsPerRoute` paths and `maxHeadersPerRoute`
 * header names each; the least-differing (then the longest-unseen) entry makes room.
 */
import { jsonBody, type Pair } from './captured.js'
import type { NoiseFilter } from './compare.js'
import { DEFAULT_MAX_NODES, DEFAULT_MAX_PATHS, diffJson } from './json-diff.js'
import { formatPath, parsePath, type Segment } from './json-path.js'

export interface NoiseOptions {
  /** A path (or header) is noisy once it differed in this many twin samples (2)... */
  readonly minDiffs?: number
  /**
   * ... and in at least this share of the route's twin samples (0). A share alone would call a
   * field noisy on its first difference; with a share, a rare blip in a busy route is not noise.
   */
  readonly minShare?: number
  readonly maxRoutes?: number
  readonly maxPathsPerRoute?: number
  readonly maxHeadersPerRoute?: number
  /** Caps of each twin diff (json-diff.ts). */
  readonly maxNodes?: number
  readonly maxPaths?: number
}

/** How often one path or header differed between twins, and at which sample it last did. */
interface Counter {
  diffs: number
  last: number
}

interface RouteNoise {
  /** Twin samples with the same status (headers learned from each). */
  samples: number
  /** Of those, samples whose two bodies were whole JSON (paths learned from each). */
  jsonSamples: number
  /** Normalised paths (`[*]` for indices). */
  readonly paths: Map<string, Counter>
  readonly headers: Map<string, Counter>
}

export interface NoiseSnapshot {
  readonly routes: readonly {
    readonly route: string
    readonly samples: number
    readonly jsonSamples: number
    readonly paths: readonly { readonly path: string; readonly diffs: number; readonly noisy: boolean }[]
    readonly headers: readonly { readonly name: string; readonly diffs: number; readonly noisy: boolean }[]
  }[]
}

/** Learns per route which field paths and headers differ between two blue answers. */
export class NoiseModel implements NoiseFilter {
  readonly #minDiffs: number
  readonly #minShare: number
  readonly #maxRoutes: number
  readonly #maxPaths: number
  readonly #maxHeaders: number
  readonly #diffCaps: { maxNodes: number; maxPaths: number }
  /** In least-recently-learned order: the first is evicted. */
  readonly #routes = new Map<string, RouteNoise>()

  constructor(options: NoiseOptions = {}) {
    this.#minDiffs = Math.max(1, options.minDiffs ?? 2)
    this.#minShare = Math.max(0, options.minShare ?? 0)
    this.#maxRoutes = Math.max(1, options.maxRoutes ?? 200)
    this.#maxPaths = Math.max(1, options.maxPathsPerRoute ?? 500)
    this.#maxHeaders = Math.max(1, options.maxHeadersPerRoute ?? 64)
    this.#diffCaps = { maxNodes: options.maxNodes ?? DEFAULT_MAX_NODES, maxPaths: options.maxPaths ?? DEFAULT_MAX_PATHS }
  }

  /**
   * Learns from `blue` against `blueTwin`; returns whether it did. A pair without a twin, or
   * whose twins disagree on status (one target failing is no noise), teaches nothing.
   */
  learn(pair: Pair): boolean {
    const twin = pair.blueTwin
    if (twin === undefined || twin.status !== pair.blue.status) return false
    const route = this.#route(pair.route)
    const sample = ++route.samples
    const names = new Set([...Object.keys(pair.blue.headers), ...Object.keys(twin.headers)])
    for (const name of names) {
      if (pair.blue.headers[name] !== twin.headers[name]) bump(route.headers, name, sample, this.#maxHeaders)
    }
    const a = jsonBody(pair.blue)
    const b = a === undefined ? undefined : jsonBody(twin)
    if (a !== undefined && b !== undefined) {
      route.jsonSamples++
      const seen = new Set<string>()
      for (const { path } of diffJson(a, b, this.#diffCaps).paths) {
        const normal = formatPath(parsePath(path), false)
        if (seen.has(normal)) continue
        seen.add(normal)
        bump(route.paths, normal, sample, this.#maxPaths)
      }
    }
    return true
  }

  /** Whether `path` (or an ancestor), indices as `[*]`, was learned as noise for `route`. */
  noisyPath(route: string, path: string): boolean {
    const state = this.#routes.get(route)
    if (state === undefined || state.paths.size === 0) return false
    let segments: Segment[]
    try {
      segments = parsePath(path)
    } catch {
      return false
    }
    for (let n = segments.length; n >= 0; n--) {
      if (this.#noisy(state.paths.get(formatPath(segments.slice(0, n), false)), state.jsonSamples)) return true
    }
    return false
  }

  /** Whether header `name` (lower-case) was learned as noise for `route`. */
  noisyHeader(route: string, name: string): boolean {
    const state = this.#routes.get(route)
    return state !== undefined && this.#noisy(state.headers.get(name), state.samples)
  }

  /** Everything learned, routes by name, entries most-differing first. */
  snapshot(): NoiseSnapshot {
    const list = (map: Map<string, Counter>, samples: number) =>
      [...map].sort(([x, a], [y, b]) => b.diffs - a.diffs || (x < y ? -1 : 1)).map(([key, c]) => ({ key, diffs: c.diffs, noisy: this.#noisy(c, samples) }))
    return {
      routes: [...this.#routes]
        .sort(([x], [y]) => (x < y ? -1 : 1))
        .map(([route, s]) => ({
          route,
          samples: s.samples,
          jsonSamples: s.jsonSamples,
          paths: list(s.paths, s.jsonSamples).map(({ key, ...rest }) => ({ path: key, ...rest })),
          headers: list(s.headers, s.samples).map(({ key, ...rest }) => ({ name: key, ...rest })),
        })),
    }
  }

  /** Forgets everything (a new release: blue's noise may have changed). */
  reset(): void {
    this.#routes.clear()
  }

  #noisy(counter: Counter | undefined, samples: number): boolean {
    return counter !== undefined && counter.diffs >= this.#minDiffs && counter.diffs >= this.#minShare * samples
  }

  /** The route's state, now the most recently learned; a new one may evict the least recent. */
  #route(name: string): RouteNoise {
    let state = this.#routes.get(name)
    if (state !== undefined) {
      this.#routes.delete(name)
    } else {
      if (this.#routes.size >= this.#maxRoutes) this.#routes.delete(this.#routes.keys().next().value!)
      state = { samples: 0, jsonSamples: 0, paths: new Map(), headers: new Map() }
    }
    this.#routes.set(name, state)
    return state
  }
}

/** Counts one difference of `key`; a full map first drops its least-differing, longest-unseen entry. */
function bump(map: Map<string, Counter>, key: string, sample: number, max: number): void {
  const counter = map.get(key)
  if (counter !== undefined) {
    counter.diffs++
    counter.last = sample
    return
  }
  if (map.size >= max) {
    let victim: string | undefined
    let worst: Counter | undefined
    for (const [k, c] of map) {
      if (worst === undefined || c.diffs < worst.diffs || (c.diffs === worst.diffs && c.last < worst.last)) {
        victim = k
        worst = c
      }
    }
    if (victim !== undefined) map.delete(victim)
  }
  map.set(key, { diffs: 1, last: sample })
}
