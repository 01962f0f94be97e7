import { COLORS, type Color } from '../../routing/types.js'
import { addPairs, BINS, binOf, binUpperMs, type WindowDelta } from '../../outcomes/window-delta.js'

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
    return this.range(nowSecond - this.#size + 1, nowSecond)
  }

  /** The statistics of the seconds `first` to `last` (both included) that the ring still holds. */
  range(first: number, last: number): WindowStats {
    let requests = 0
    let errors = 0
    let ttfbs = 0
    const histogram = new Float64Array(BINS)
    const ttfb = new Float64Array(BINS)
    for (let slot = 0; slot < this.#size; slot++) {
      const second = this.#second[slot]!
      if (second < 0 || second < first || second > last) continue
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
  readonly #seconds: number
  /** When each colour was last reset (epoch ms); 0 = never. */
  readonly #resetAt: Record<Color, number> = { blue: 0, green: 0 }

  constructor(windowMs: number, clock: () => number = Date.now) {
    const seconds = Math.max(1, Math.round(windowMs / 1000))
    this.#seconds = seconds
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

  /**
   * Both colours over the same seconds: the window since the later of their last resets. A
   * comparison of the two (the ceiling's "is blue failing too?") must not set green's fresh
   * history after a revert against blue's whole window: blue's successes from before a
   * failure both colours now share would make the shared failure look like green's alone.
   */
  shared(): Record<Color, WindowStats> {
    const now = Math.floor(this.#clock() / 1000)
    const first = Math.max(now - this.#seconds + 1, Math.floor(Math.max(this.#resetAt.blue, this.#resetAt.green) / 1000))
    return Object.fromEntries(COLORS.map((c) => [c, this.#rings[c].range(first, now)])) as Record<Color, WindowStats>
  }

  all(): Record<Color, WindowStats> {
    const second = Math.floor(this.#clock() / 1000)
    return Object.fromEntries(COLORS.map((c) => [c, this.#rings[c].stats(second)])) as Record<Color, WindowStats>
  }

  /**
   * Each colour's statistics for one whole second (epoch seconds), for the live stats of the
   * event stream: read from the same buckets, so recording does no extra work. Empty once the
   * second has left the window.
   */
  second(second: number): Record<Color, WindowStats> {
    const now = Math.floor(this.#clock() / 1000)
    const first = Math.max(second, now - this.#seconds + 1)
    return Object.fromEntries(COLORS.map((c) => [c, this.#rings[c].range(first, second)])) as Record<Color, WindowStats>
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
