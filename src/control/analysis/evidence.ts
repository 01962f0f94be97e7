/*
 * Over 300 lines because the batches, the per-test bookkeeping and the readings share one
 * clock and one split boundary: a batch must never mix two splits, and every test must close
 * the same batch at the same moment. The pure mathematics lives in sequential.ts and judge.ts.
 */
import type { AnalysisSettings } from '../../config/schema.js'
import type { Color } from '../../routing/types.js'
import { BINS, binOf, binUpperMs, type WindowDelta } from '../../outcomes/window-delta.js'
import { RateRatioTest, type BatchSide } from './sequential.js'

/** The edges of the latency bins (error-window.ts), precomputed: a value in bin b is in [LOWER[b], UPPER[b]). */
const UPPER = Float64Array.from({ length: BINS }, (_, bin) => binUpperMs(bin))
const LOWER = Float64Array.from({ length: BINS }, (_, bin) => (bin === 0 ? 0 : UPPER[bin - 1]!))

/** A batch closes once both colours served in it and it holds this many requests ... */
const BATCH_REQUESTS = 10
/** ... or is this old; a batch where one colour alone served this long is dropped (stale). */
const BATCH_MAX_MS = 2_000
const ONE_COLOUR_MAX_MS = 10_000
/** Blue requests needed before blue's latency quantile is trusted as the "slow" line. */
const LATENCY_BASELINE = 100

/** The share of α each family of tests may spend (Bonferroni): their sum is 1. */
export const ALPHA_SHARES = { errors: 0.4, routes: 0.2, latency: 0.2, ttfb: 0.2 } as const

export type TestName = 'errors' | 'route' | 'latency' | 'ttfb'

/** One test's standing, as the verdicts and GET /v1/rollout show it. */
export interface TestReading {
  readonly test: TestName
  /** The route group, for `route` tests. */
  readonly route?: string
  /** `fail`: the evidence reached the threshold; `leaning`: over its square root (a step waits); `ok`. */
  readonly state: 'fail' | 'leaning' | 'ok'
  /** The e-value against "green is no worse than blue" (1 = no evidence either way; it shrinks as green proves fine). */
  readonly evidence: number
  /** The e-value at which the test fails: 1/α for its share of α. */
  readonly threshold: number
  /** The odds ratio (green vs blue) the evidence supports best. */
  readonly likelyRatio: number
  readonly green: { readonly requests: number; readonly events: number; readonly rate: number }
  readonly blue: { readonly requests: number; readonly events: number; readonly rate: number }
  /** Latency tests: a blue answer over `blueMs` is slow, a green one over `greenMs`. */
  readonly slowMs?: { readonly blue: number; readonly green: number }
}

interface Side {
  requests: number
  errors: number
  latency: Float64Array
  ttfb: Float64Array
  ttfbCount: number
}

const side = (): Side => ({ requests: 0, errors: 0, latency: new Float64Array(BINS), ttfb: new Float64Array(BINS), ttfbCount: 0 })

function clear(s: Side): void {
  s.requests = 0
  s.errors = 0
  s.latency.fill(0)
  s.ttfb.fill(0)
  s.ttfbCount = 0
}

interface RouteBatch {
  since: number
  green: [requests: number, errors: number]
  blue: [requests: number, errors: number]
}

interface RouteTest {
  readonly test: RateRatioTest
  pending: RouteBatch | null
}

/**
 * The one body of evidence about a release: every outcome of both colours since green's
 * exposure began (a rollout started, green got new targets, green rose from 0, a revert),
 * batched in time and fed to anytime-valid tests of green against blue (sequential.ts) —
 * errors, errors per route group, latency and time to first byte. Auto-revert and rollout
 * analysis read the same evidence. Recording is O(1); the tests run when a batch closes, off
 * the request path.
 */
export class Evidence {
  #settings: AnalysisSettings
  readonly #clock: () => number
  #errors = new RateRatioTest()
  #latency = new RateRatioTest()
  #ttfb = new RateRatioTest()
  #routes = new Map<string, RouteTest>()
  /** The batch being filled, per colour, and when its first outcome came. */
  readonly #pending: Record<Color, Side> = { blue: side(), green: side() }
  #pendingSince = 0
  /** Everything since the start of this evidence, per colour (latency lines, display). */
  readonly #totals: Record<Color, Side> = { blue: side(), green: side() }
  /** Latest slow lines used (ms), for display. */
  #slow: { latency: { blue: number; green: number } | null; ttfb: { blue: number; green: number } | null } = { latency: null, ttfb: null }
  #startedAt: number
  #greenAtMark = 0

  constructor(settings: AnalysisSettings, clock: () => number = Date.now) {
    this.#settings = settings
    this.#clock = clock
    this.#startedAt = clock()
  }

  /** New settings apply to batches closed from now on. */
  configure(settings: AnalysisSettings): void {
    this.#settings = settings
  }

  /** When this body of evidence began (epoch ms). */
  get startedAt(): number {
    return this.#startedAt
  }

  /** Green requests since the last `mark()` (a rollout step's start). */
  get greenSinceMark(): number {
    return this.#totals.green.requests + this.#pending.green.requests - this.#greenAtMark
  }

  /** Marks the start of a step: `greenSinceMark` counts from here. */
  mark(): void {
    this.#greenAtMark = this.#totals.green.requests + this.#pending.green.requests
  }

  /** Forgets everything: a new release (or a new exposure of green) starts a new body of evidence. */
  restart(): void {
    this.#errors = new RateRatioTest()
    this.#latency = new RateRatioTest()
    this.#ttfb = new RateRatioTest()
    this.#routes = new Map()
    for (const color of ['blue', 'green'] as const) {
      clear(this.#pending[color])
      clear(this.#totals[color])
    }
    this.#slow = { latency: null, ttfb: null }
    this.#startedAt = this.#clock()
    this.#greenAtMark = 0
  }

  /** One finished request (single process). `ttfbMs` < 0: no first byte; `route` '' = none. */
  record(color: Color, durationMs: number, isError: boolean, ttfbMs: number, route: string): void {
    const s = this.#open(color)
    s.requests++
    if (isError) s.errors++
    s.latency[binOf(durationMs)]!++
    if (ttfbMs >= 0) {
      s.ttfb[binOf(ttfbMs)]!++
      s.ttfbCount++
    }
    if (route !== '' && this.#settings.routes.max > 0) this.#routeAdd(route, color, 1, isError ? 1 : 0)
  }

  /** Counts from another process (a worker, or the fleet); dropped when they began before the last restart. */
  merge(delta: WindowDelta): void {
    if (delta.since !== undefined && delta.since < this.#startedAt) return
    const s = this.#open(delta.color)
    s.requests += delta.requests
    s.errors += delta.errors
    addBins(s.latency, delta.latency)
    if (delta.ttfb !== undefined) s.ttfbCount += addBins(s.ttfb, delta.ttfb)
    const routes = delta.routes
    if (routes !== undefined && this.#settings.routes.max > 0) {
      for (let i = 0; i + 2 < routes.length; i += 3) {
        const route = routes[i]
        const requests = routes[i + 1]
        const errors = routes[i + 2]
        if (typeof route === 'string' && typeof requests === 'number' && typeof errors === 'number') {
          this.#routeAdd(route, delta.color, requests, errors)
        }
      }
    }
  }

  /**
   * Closes the batches that are ready and runs their tests; call it on a timer (every 100 ms to
   * every few seconds: how often does not change what the tests guarantee).
   */
  update(): void {
    const now = this.#clock()
    const p = this.#pending
    const age = now - this.#pendingSince
    const total = p.blue.requests + p.green.requests
    if (total > 0) {
      if (p.blue.requests > 0 && p.green.requests > 0) {
        if (total >= BATCH_REQUESTS || age >= BATCH_MAX_MS) this.#close()
      } else if (age >= ONE_COLOUR_MAX_MS) {
        this.#fold()
      }
    }
    for (const route of this.#routes.values()) {
      const b = route.pending
      if (b === null) continue
      const n = b.green[0] + b.blue[0]
      if (b.green[0] > 0 && b.blue[0] > 0) {
        if (n >= BATCH_REQUESTS || now - b.since >= BATCH_MAX_MS) {
          route.test.add({ requests: b.green[0], events: b.green[1] }, { requests: b.blue[0], events: b.blue[1] })
          route.pending = null
        }
      } else if (now - b.since >= ONE_COLOUR_MAX_MS) {
        route.pending = null
      }
    }
  }

  /** The split changed: a batch must not mix two splits, so the open one closes (or is dropped). */
  splitChanged(): void {
    const p = this.#pending
    if (p.blue.requests > 0 && p.green.requests > 0) this.#close()
    else this.#fold()
    for (const route of this.#routes.values()) route.pending = null
  }

  /** Every test's standing. */
  readings(): TestReading[] {
    const alpha = Math.max(1e-9, 1 - this.#settings.confidence)
    const readings: TestReading[] = [
      reading('errors', this.#errors, alpha * ALPHA_SHARES.errors),
      reading('latency', this.#latency, alpha * ALPHA_SHARES.latency, this.#slow.latency),
      reading('ttfb', this.#ttfb, alpha * ALPHA_SHARES.ttfb, this.#slow.ttfb),
    ]
    // Bonferroni over every group that may ever be tracked, "other" included.
    const routeAlpha = (alpha * ALPHA_SHARES.routes) / (this.#settings.routes.max + 1)
    for (const [route, t] of this.#routes) readings.push({ ...reading('route', t.test, routeAlpha), route })
    return readings
  }

  /** Per-colour totals since the evidence began. */
  totals(): Record<Color, { requests: number; errors: number }> {
    const t = this.#totals
    const p = this.#pending
    return {
      blue: { requests: t.blue.requests + p.blue.requests, errors: t.blue.errors + p.blue.errors },
      green: { requests: t.green.requests + p.green.requests, errors: t.green.errors + p.green.errors },
    }
  }

  #open(color: Color): Side {
    const p = this.#pending
    if (p.blue.requests === 0 && p.green.requests === 0) this.#pendingSince = this.#clock()
    return p[color]
  }

  /** Runs the tests on the open batch, with slow lines drawn from what came before it. */
  #close(): void {
    const p = this.#pending
    this.#errors.add({ requests: p.green.requests, events: p.green.errors }, { requests: p.blue.requests, events: p.blue.errors })
    const latency = this.#slowCounts(this.#totals.blue.latency, this.#totals.blue.requests, p.green.latency, p.blue.latency)
    if (latency !== null) {
      this.#latency.add(latency.green, latency.blue)
      this.#slow.latency = latency.lines
    }
    const ttfb = this.#slowCounts(this.#totals.blue.ttfb, this.#totals.blue.ttfbCount, p.green.ttfb, p.blue.ttfb)
    if (ttfb !== null) {
      this.#ttfb.add(ttfb.green, ttfb.blue)
      this.#slow.ttfb = ttfb.lines
    }
    this.#fold()
  }

  /** Moves the open batch into the totals without testing it. */
  #fold(): void {
    for (const color of ['blue', 'green'] as const) {
      const from = this.#pending[color]
      const to = this.#totals[color]
      to.requests += from.requests
      to.errors += from.errors
      to.ttfbCount += from.ttfbCount
      for (let bin = 0; bin < BINS; bin++) {
        to.latency[bin]! += from.latency[bin]!
        to.ttfb[bin]! += from.ttfb[bin]!
      }
      clear(from)
    }
  }

  /**
   * Slow answers in a batch. Blue's line is its `latencyQuantile` over everything before this
   * batch; green's is that line raised by maxLatencyIncrease (both the percent and the ms) and
   * never under maxP99. If green's latency is at most blue's raised that way, green's chance
   * of a slow answer is at most blue's, so the rate-ratio test stays valid. Bins count on the
   * safe side: a blue answer is slow if its bin reaches over blue's line, a green one only if
   * its whole bin is over green's.
   */
  #slowCounts(
    baseline: Float64Array,
    baselineCount: number,
    green: Float64Array,
    blue: Float64Array,
  ): { green: BatchSide; blue: BatchSide; lines: { blue: number; green: number } } | null {
    if (baselineCount < LATENCY_BASELINE) return null
    const s = this.#settings
    const rank = Math.ceil(baselineCount * s.latencyQuantile)
    let seen = 0
    let line = UPPER[BINS - 1]!
    for (let bin = 0; bin < BINS; bin++) {
      seen += baseline[bin]!
      if (seen >= rank) {
        line = UPPER[bin]!
        break
      }
    }
    const greenLine = Math.max(line * (1 + s.maxLatencyIncrease.percent / 100), line + s.maxLatencyIncrease.ms, s.maxP99)
    const g = { requests: 0, events: 0 }
    const b = { requests: 0, events: 0 }
    for (let bin = 0; bin < BINS; bin++) {
      const gc = green[bin]!
      const bc = blue[bin]!
      g.requests += gc
      b.requests += bc
      if (LOWER[bin]! >= greenLine) g.events += gc
      if (UPPER[bin]! > line) b.events += bc
    }
    return { green: g, blue: b, lines: { blue: round2(line), green: round2(greenLine) } }
  }

  #routeAdd(route: string, color: Color, requests: number, errors: number): void {
    let t = this.#routes.get(route)
    if (t === undefined) {
      // Bounded: past routes.max groups, the rest share "other".
      const name = this.#routes.size >= this.#settings.routes.max ? 'other' : route
      t = this.#routes.get(name)
      if (t === undefined) {
        t = { test: new RateRatioTest(), pending: null }
        this.#routes.set(name, t)
      }
    }
    const b = (t.pending ??= { since: this.#clock(), green: [0, 0], blue: [0, 0] })
    b[color][0] += requests
    b[color][1] += errors
  }
}

function addBins(into: Float64Array, pairs: readonly number[]): number {
  let added = 0
  for (let i = 0; i + 1 < pairs.length; i += 2) {
    const bin = pairs[i]!
    if (bin >= 0 && bin < BINS) {
      into[bin]! += pairs[i + 1]!
      added += pairs[i + 1]!
    }
  }
  return added
}

function round2(x: number): number {
  return Math.round(x * 100) / 100
}

function reading(test: TestName, t: RateRatioTest, alpha: number, slowMs?: { blue: number; green: number } | null): TestReading {
  const logE = t.logE()
  const logThreshold = Math.log(1 / alpha)
  const tot = t.totals
  const rate = (events: number, requests: number) => (requests === 0 ? 0 : Math.round((events / requests) * 1e6) / 1e6)
  return {
    test,
    state: logE >= logThreshold ? 'fail' : logE >= logThreshold / 2 ? 'leaning' : 'ok',
    evidence: Number(Math.exp(Math.min(logE, 700)).toPrecision(3)),
    threshold: Math.round(1 / alpha),
    likelyRatio: t.likeliestRatio(),
    green: { requests: tot.greenRequests, events: tot.greenEvents, rate: rate(tot.greenEvents, tot.greenRequests) },
    blue: { requests: tot.blueRequests, events: tot.blueEvents, rate: rate(tot.blueEvents, tot.blueRequests) },
    ...(slowMs === undefined || slowMs === null ? {} : { slowMs }),
  }
}
