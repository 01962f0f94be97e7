import type { ErrorKind } from '../proxy/types.js'
import { COLORS, type Color } from '../routing/types.js'

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
function addPairs(histogram: Uint32Array | Float64Array, offset: number, bins: readonly number[]): number {
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

/** Per-colour statistics over the window, as /v1/status shows them. */
export interface WindowStats {
  readonly requests: number
  readonly errors: number
  readonly errorRate: number
  readonly p50Ms: number | null
  readonly p99Ms: number | null
  /** Time to first byte (first token of a stream), over the requests whose client got one. */
  readonly ttfbP50Ms: number | null
  readonly ttfbP99Ms: number | null
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

/** One colour's ring of one-second buckets. */
class ColorRing {
  readonly #size: number
  readonly #second: Float64Array
  readonly #requests: Uint32Array
  readonly #errors: Uint32Array
  readonly #latency: Uint32Array
  /** Requests with a first byte, and their time-to-first-byte histogram. */
  readonly #ttfbs: Uint32Array
  readonly #ttfb: Uint32Array

  constructor(seconds: number) {
    this.#size = seconds
    this.#second = new Float64Array(seconds).fill(-1)
    this.#requests = new Uint32Array(seconds)
    this.#errors = new Uint32Array(seconds)
    this.#latency = new Uint32Array(seconds * BINS)
    this.#ttfbs = new Uint32Array(seconds)
    this.#ttfb = new Uint32Array(seconds * BINS)
  }

  record(second: number, durationMs: number, isError: boolean, ttfbMs: number): void {
    const slot = this.#slot(second)
    this.#requests[slot]!++
    if (isError) this.#errors[slot]!++
    this.#latency[slot * BINS + binOf(durationMs)]!++
    if (ttfbMs >= 0) {
      this.#ttfbs[slot]!++
      this.#ttfb[slot * BINS + binOf(ttfbMs)]!++
    }
  }

  /** Adds another process's counts for one second; ignored when that second left the ring. */
  merge(nowSecond: number, delta: WindowDelta): void {
    if (delta.second <= nowSecond - this.#size || delta.second > nowSecond + 1) return
    const slot = this.#slot(delta.second)
    this.#requests[slot]! += delta.requests
    this.#errors[slot]! += delta.errors
    addPairs(this.#latency, slot * BINS, delta.latency)
    if (delta.ttfb !== undefined) this.#ttfbs[slot]! += addPairs(this.#ttfb, slot * BINS, delta.ttfb)
  }

  #slot(second: number): number {
    const slot = second % this.#size
    if (this.#second[slot] !== second) {
      this.#second[slot] = second
      this.#requests[slot] = 0
      this.#errors[slot] = 0
      this.#latency.fill(0, slot * BINS, slot * BINS + BINS)
      if (this.#ttfbs[slot] !== 0) {
        this.#ttfbs[slot] = 0
        this.#ttfb.fill(0, slot * BINS, slot * BINS + BINS)
      }
    }
    return slot
  }

  stats(nowSecond: number): WindowStats {
    let requests = 0
    let errors = 0
    let ttfbs = 0
    const histogram = new Float64Array(BINS)
    const ttfb = new Float64Array(BINS)
    for (let slot = 0; slot < this.#size; slot++) {
      const second = this.#second[slot]!
      if (second < 0 || second <= nowSecond - this.#size || second > nowSecond) continue
      requests += this.#requests[slot]!
      errors += this.#errors[slot]!
      for (let bin = 0; bin < BINS; bin++) histogram[bin]! += this.#latency[slot * BINS + bin]!
      if (this.#ttfbs[slot] === 0) continue
      ttfbs += this.#ttfbs[slot]!
      for (let bin = 0; bin < BINS; bin++) ttfb[bin]! += this.#ttfb[slot * BINS + bin]!
    }
    return {
      requests,
      errors,
      errorRate: requests === 0 ? 0 : errors / requests,
      p50Ms: percentile(histogram, requests, 0.5),
      p99Ms: percentile(histogram, requests, 0.99),
      ttfbP50Ms: percentile(ttfb, ttfbs, 0.5),
      ttfbP99Ms: percentile(ttfb, ttfbs, 0.99),
    }
  }

  reset(): void {
    this.#second.fill(-1)
  }
}

function percentile(histogram: Float64Array, total: number, q: number): number | null {
  if (total === 0) return null
  const rank = Math.ceil(total * q)
  let seen = 0
  for (let bin = 0; bin < histogram.length; bin++) {
    seen += histogram[bin]!
    if (seen >= rank) return Math.round(binUpperMs(bin) * 100) / 100
  }
  return null
}

/**
 * A sliding window of one-second buckets per colour: requests, errors (5xx and transport
 * failures; 4xx are not errors) and a latency histogram. Recording is O(1) and allocates nothing.
 */
export class ErrorWindow {
  readonly #rings: Record<Color, ColorRing>
  readonly #clock: () => number
  /** When each colour was last reset (epoch ms); 0 = never. */
  readonly #resetAt: Record<Color, number> = { blue: 0, green: 0 }

  constructor(windowMs: number, clock: () => number = Date.now) {
    const seconds = Math.max(1, Math.round(windowMs / 1000))
    this.#rings = { blue: new ColorRing(seconds), green: new ColorRing(seconds) }
    this.#clock = clock
  }

  /** Counts one finished request; `ttfbMs` < 0: no first byte reached the client. */
  record(color: Color, durationMs: number, isError: boolean, ttfbMs = -1): void {
    this.#rings[color].record(Math.floor(this.#clock() / 1000), durationMs, isError, ttfbMs)
  }

  stats(color: Color): WindowStats {
    return this.#rings[color].stats(Math.floor(this.#clock() / 1000))
  }

  all(): Record<Color, WindowStats> {
    const second = Math.floor(this.#clock() / 1000)
    return Object.fromEntries(COLORS.map((c) => [c, this.#rings[c].stats(second)])) as Record<Color, WindowStats>
  }

  /**
   * Adds counts recorded by another process (a proxy worker). A delta that began before the
   * colour's last reset is dropped: workers report up to 100 ms late, and the errors that
   * caused a revert must not land in the fresh window and revert the next split again.
   */
  merge(delta: WindowDelta): void {
    if (delta.since !== undefined && delta.since < this.#resetAt[delta.color]) return
    this.#rings[delta.color].merge(Math.floor(this.#clock() / 1000), delta)
  }

  /** Forgets a colour's history, e.g. after a revert or when it gets new targets. */
  reset(color: Color): void {
    this.#resetAt[color] = this.#clock()
    this.#rings[color].reset()
  }
}
