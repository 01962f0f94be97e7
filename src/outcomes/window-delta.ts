/**
 * What finished requests leave behind for the control side: per colour and second, counts,
 * latency and first-byte histograms and route groups. Proxy processes record them in O(1);
 * the error window, the evidence and the fleet's shared counters merge them.
 */
import type { ErrorKind } from '../proxy/types.js'
import type { Color } from '../routing/types.js'


/**
 * A failure of the colour: a 5xx answer, an upstream failure (before or after the head: a 200
 * whose body the upstream cut counts by its kind), or a client that gave up waiting: it left
 * with no first byte after at least `abandonAfter` ms (0 = off). 4xx and other clients leaving
 * are not. `ttfbMs` is -1 when no first byte reached the client (see OutcomeSink).
 */
export function countsAsError(status: number, errorKind: ErrorKind | undefined, ttfbMs: number, durationMs: number, abandonAfter: number): boolean {
  if (status >= 500) return true
  if (errorKind === undefined) return false
  if (errorKind !== 'client') return true
  return abandonAfter > 0 && ttfbMs < 0 && durationMs >= abandonAfter
}

/** Latency histogram bins: 8 per doubling from 1 ms, so a percentile is within ~9 %. */
export const BINS_PER_DOUBLING = 8
/** How many latency bins there are. */
export const BINS = BINS_PER_DOUBLING * 24 + 1 // up to ~4.6 hours

/** One process's counts for one colour and one second; `latency` is [bin, count, bin, count, ...]. */
export interface WindowDelta {
  readonly color: Color
  readonly second: number
  readonly requests: number
  readonly errors: number
  readonly latency: readonly number[]
  /** Epoch ms of the first request in this delta: a reset after it drops the whole delta. */
  readonly since?: number
  /**
   * Time to first byte (for a streamed answer, to its first body chunk: the first token), as
   * [bin, count, ...] in the latency bins; requests that never got a first byte are absent.
   */
  readonly ttfb?: readonly number[]
  /** Per route group: [group, requests, errors, group, requests, errors, ...]. */
  readonly routes?: readonly (string | number)[]
}

/**
 * Collects a proxy worker's outcomes between two reports to the primary, which merges them
 * into the one window that auto-revert judges. Recording is O(1).
 */
export class WindowRecorder {
  readonly #clock: () => number
  readonly #pending: WindowDelta[] = []
  readonly #current: Record<Color, RecorderSecond>

  constructor(clock: () => number = Date.now) {
    this.#clock = clock
    const fresh = (): RecorderSecond => ({
      second: -1,
      since: 0,
      requests: 0,
      errors: 0,
      latency: new Uint32Array(BINS),
      ttfbs: 0,
      ttfb: new Uint32Array(BINS),
      routeRequests: new Map(),
      routeErrors: new Map(),
    })
    this.#current = { blue: fresh(), green: fresh() }
  }

  /**
   * Counts one finished request. `ttfbMs` < 0: no first byte (not in the ttfb histogram);
   * `route` '' = no route group.
   */
  record(color: Color, durationMs: number, isError: boolean, ttfbMs = -1, route = ''): void {
    const now = this.#clock()
    const second = Math.floor(now / 1000)
    const current = this.#current[color]
    if (current.second !== second) {
      this.#close(color)
      current.second = second
    }
    if (current.requests === 0) current.since = now
    current.requests++
    if (isError) current.errors++
    current.latency[binOf(durationMs)]!++
    if (ttfbMs >= 0) {
      current.ttfbs++
      current.ttfb[binOf(ttfbMs)]!++
    }
    if (route !== '') {
      // Numbers as Map values: counting an existing route allocates nothing.
      current.routeRequests.set(route, (current.routeRequests.get(route) ?? 0) + 1)
      if (isError) current.routeErrors.set(route, (current.routeErrors.get(route) ?? 0) + 1)
    }
  }

  /** Everything recorded since the last call, as deltas to merge. */
  take(): WindowDelta[] {
    this.#close('blue')
    this.#close('green')
    return this.#pending.splice(0)
  }

  #close(color: Color): void {
    const current = this.#current[color]
    if (current.requests === 0) return
    const delta: Mutable<WindowDelta> = {
      color,
      second: current.second,
      requests: current.requests,
      errors: current.errors,
      latency: pairs(current.latency),
      since: current.since,
    }
    if (current.ttfbs > 0) delta.ttfb = pairs(current.ttfb)
    if (current.routeRequests.size > 0) {
      const routes: (string | number)[] = []
      for (const [route, requests] of current.routeRequests) routes.push(route, requests, current.routeErrors.get(route) ?? 0)
      delta.routes = routes
    }
    this.#pending.push(delta)
    current.requests = 0
    current.errors = 0
    current.latency.fill(0)
    if (current.ttfbs > 0) {
      current.ttfbs = 0
      current.ttfb.fill(0)
    }
    current.routeRequests.clear()
    current.routeErrors.clear()
  }
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] }

/** One colour's counts for the second being recorded. */
interface RecorderSecond {
  second: number
  since: number
  requests: number
  errors: number
  latency: Uint32Array
  /** Requests in `ttfb`: those whose client got a first byte. */
  ttfbs: number
  ttfb: Uint32Array
  routeRequests: Map<string, number>
  routeErrors: Map<string, number>
}

/** A histogram as [bin, count, ...] of its non-empty bins. */
function pairs(histogram: Uint32Array): number[] {
  const out: number[] = []
  for (let bin = 0; bin < BINS; bin++) {
    if (histogram[bin] !== 0) out.push(bin, histogram[bin]!)
  }
  return out
}

/** Adds a [bin, count, ...] list into a histogram at `offset`; returns the count added. */
export function addPairs(histogram: Uint32Array | Float64Array, offset: number, bins: readonly number[]): number {
  let added = 0
  for (let i = 0; i + 1 < bins.length; i += 2) {
    const bin = bins[i]!
    const count = bins[i + 1]!
    if (Number.isInteger(bin) && bin >= 0 && bin < BINS && count > 0) {
      histogram[offset + bin]! += count
      added += count
    }
  }
  return added
}

/** The latency histogram bin of a duration. */
export function binOf(ms: number): number {
  if (!(ms >= 1)) return 0
  const bin = 1 + Math.floor(Math.log2(ms) * BINS_PER_DOUBLING)
  return bin < BINS ? bin : BINS - 1
}

/** The upper edge of a bin in ms: a conservative (never low) estimate for percentiles. */
export function binUpperMs(bin: number): number {
  return bin === 0 ? 1 : 2 ** (bin / BINS_PER_DOUBLING)
}
