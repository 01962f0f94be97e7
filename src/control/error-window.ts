import type { ErrorKind } from '../proxy/types.js'
import { COLORS, type Color } from '../routing/types.js'

/** An error for auto-revert: a 5xx answer or an upstream failure; 4xx and clients leaving are not. */
export function countsAsError(status: number, errorKind: ErrorKind | undefined): boolean {
  return status >= 500 || (errorKind !== undefined && errorKind !== 'client')
}

/** Latency histogram bins: 8 per doubling from 1 ms, so a percentile is within ~9 %. */
const BINS_PER_DOUBLING = 8
const BINS = BINS_PER_DOUBLING * 24 + 1 // up to ~4.6 hours

/** One process's counts for one colour and one second; `latency` is [bin, count, bin, count, ...]. */
export interface WindowDelta {
  readonly color: Color
  readonly second: number
  readonly requests: number
  readonly errors: number
  readonly latency: readonly number[]
  /** Epoch ms of the first request in this delta: a reset after it drops the whole delta. */
  readonly since?: number
}

/**
 * Collects a proxy worker's outcomes between two reports to the primary, which merges them
 * into the one window that auto-revert judges. Recording is O(1).
 */
export class WindowRecorder {
  readonly #clock: () => number
  readonly #pending: WindowDelta[] = []
  readonly #current: Record<Color, { second: number; since: number; requests: number; errors: number; latency: Uint32Array }>

  constructor(clock: () => number = Date.now) {
    this.#clock = clock
    const fresh = () => ({ second: -1, since: 0, requests: 0, errors: 0, latency: new Uint32Array(BINS) })
    this.#current = { blue: fresh(), green: fresh() }
  }

  record(color: Color, durationMs: number, isError: boolean): void {
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
    const latency: number[] = []
    for (let bin = 0; bin < BINS; bin++) {
      if (current.latency[bin] !== 0) latency.push(bin, current.latency[bin]!)
    }
    this.#pending.push({
      color,
      second: current.second,
      requests: current.requests,
      errors: current.errors,
      latency,
      since: current.since,
    })
    current.requests = 0
    current.errors = 0
    current.latency.fill(0)
  }
}

/** Per-colour statistics over the window, as /v1/status shows them. */
export interface WindowStats {
  readonly requests: number
  readonly errors: number
  readonly errorRate: number
  readonly p50Ms: number | null
  readonly p99Ms: number | null
}

/** The latency histogram bin of a duration. */
export function binOf(ms: number): number {
  if (!(ms >= 1)) return 0
  const bin = 1 + Math.floor(Math.log2(ms) * BINS_PER_DOUBLING)
  return bin < BINS ? bin : BINS - 1
}

/** The upper edge of a bin in ms: a conservative (never low) estimate for percentiles. */
function binUpperMs(bin: number): number {
  return bin === 0 ? 1 : 2 ** (bin / BINS_PER_DOUBLING)
}

/** One colour's ring of one-second buckets. */
class ColorRing {
  readonly #size: number
  readonly #second: Float64Array
  readonly #requests: Uint32Array
  readonly #errors: Uint32Array
  readonly #latency: Uint32Array

  constructor(seconds: number) {
    this.#size = seconds
    this.#second = new Float64Array(seconds).fill(-1)
    this.#requests = new Uint32Array(seconds)
    this.#errors = new Uint32Array(seconds)
    this.#latency = new Uint32Array(seconds * BINS)
  }

  record(second: number, durationMs: number, isError: boolean): void {
    const slot = this.#slot(second)
    this.#requests[slot]!++
    if (isError) this.#errors[slot]!++
    this.#latency[slot * BINS + binOf(durationMs)]!++
  }

  /** Adds another process's counts for one second; ignored when that second left the ring. */
  merge(nowSecond: number, delta: WindowDelta): void {
    if (delta.second <= nowSecond - this.#size || delta.second > nowSecond + 1) return
    const slot = this.#slot(delta.second)
    this.#requests[slot]! += delta.requests
    this.#errors[slot]! += delta.errors
    const bins = delta.latency
    for (let i = 0; i + 1 < bins.length; i += 2) {
      const bin = bins[i]!
      if (bin >= 0 && bin < BINS) this.#latency[slot * BINS + bin]! += bins[i + 1]!
    }
  }

  #slot(second: number): number {
    const slot = second % this.#size
    if (this.#second[slot] !== second) {
      this.#second[slot] = second
      this.#requests[slot] = 0
      this.#errors[slot] = 0
      this.#latency.fill(0, slot * BINS, slot * BINS + BINS)
    }
    return slot
  }

  stats(nowSecond: number): WindowStats {
    let requests = 0
    let errors = 0
    const histogram = new Float64Array(BINS)
    for (let slot = 0; slot < this.#size; slot++) {
      const second = this.#second[slot]!
      if (second < 0 || second <= nowSecond - this.#size || second > nowSecond) continue
      requests += this.#requests[slot]!
      errors += this.#errors[slot]!
      for (let bin = 0; bin < BINS; bin++) histogram[bin]! += this.#latency[slot * BINS + bin]!
    }
    return {
      requests,
      errors,
      errorRate: requests === 0 ? 0 : errors / requests,
      p50Ms: percentile(histogram, requests, 0.5),
      p99Ms: percentile(histogram, requests, 0.99),
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

  /** Counts one finished request. */
  record(color: Color, durationMs: number, isError: boolean): void {
    this.#rings[color].record(Math.floor(this.#clock() / 1000), durationMs, isError)
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

/**
 * Per-colour totals since the last reset (not a sliding window): what a rollout check judges.
 * Inconclusive checks leave it accumulating, so low traffic still reaches a verdict in time.
 */
export class Tally {
  readonly #clock: () => number
  /** When it was last reset (epoch ms): counts that began before are dropped, as in ErrorWindow. */
  #resetAt = 0
  readonly #counts = {
    blue: { requests: 0, errors: 0, latency: new Float64Array(BINS) },
    green: { requests: 0, errors: 0, latency: new Float64Array(BINS) },
  }

  record(color: Color, durationMs: number, isError: boolean): void {
    const c = this.#counts[color]
    c.requests++
    if (isError) c.errors++
    c.latency[binOf(durationMs)]!++
  }

  constructor(clock: () => number = Date.now) {
    this.#clock = clock
  }

  merge(delta: WindowDelta): void {
    if (delta.since !== undefined && delta.since < this.#resetAt) return
    const c = this.#counts[delta.color]
    c.requests += delta.requests
    c.errors += delta.errors
    for (let i = 0; i + 1 < delta.latency.length; i += 2) {
      const bin = delta.latency[i]!
      if (bin >= 0 && bin < BINS) c.latency[bin]! += delta.latency[i + 1]!
    }
  }

  stats(color: Color): WindowStats {
    const c = this.#counts[color]
    return {
      requests: c.requests,
      errors: c.errors,
      errorRate: c.requests === 0 ? 0 : c.errors / c.requests,
      p50Ms: percentile(c.latency, c.requests, 0.5),
      p99Ms: percentile(c.latency, c.requests, 0.99),
    }
  }

  reset(): void {
    this.#resetAt = this.#clock()
    for (const c of Object.values(this.#counts)) {
      c.requests = 0
      c.errors = 0
      c.latency.fill(0)
    }
  }
}
