/**
 * A seeded simulation of switchyard's release judgement at virtual time: traffic of both
 * colours is drawn per 200 ms tick and fed to the real decision code (Evidence, decideRevert,
 * decideStep) exactly as the proxy feeds it, with the rollout's step logic around it. Used by
 * `npm run judge:sim` (the README's table) and by test/control/judge-sim.test.ts (fixed seeds).
 */
import { resolveConfig } from '../../src/config/load.js'
import type { AnalysisSettings } from '../../src/config/schema.js'
import { BINS, BINS_PER_DOUBLING } from '../../src/outcomes/window-delta.js'
import { Evidence } from '../../src/control/analysis/evidence.js'
import { decideRevert, decideStep, readCeiling } from '../../src/control/analysis/judge.js'

const TICK_MS = 200

/** mulberry32: small, fast, good enough for simulation, and reproducible from a seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function normal(random: () => number): number {
  const u = Math.max(random(), 1e-12)
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random())
}

function poisson(random: () => number, mean: number): number {
  if (mean <= 0) return 0
  if (mean > 40) return Math.max(0, Math.round(mean + Math.sqrt(mean) * normal(random)))
  const limit = Math.exp(-mean)
  let k = 0
  let p = random()
  while (p > limit) {
    k++
    p *= random()
  }
  return k
}

function binomial(random: () => number, n: number, p: number): number {
  if (n <= 0 || p <= 0) return 0
  if (p >= 1) return n
  if (n < 50) {
    let k = 0
    for (let i = 0; i < n; i++) if (random() < p) k++
    return k
  }
  const mean = n * p
  if (mean < 15) return Math.min(n, poisson(random, mean))
  if (n - mean < 15) return n - Math.min(n, poisson(random, n - mean))
  return Math.min(n, Math.max(0, Math.round(mean + Math.sqrt(mean * (1 - p)) * normal(random))))
}

function erf(x: number): number {
  const t = 1 / (1 + 0.5 * Math.abs(x))
  const y =
    t *
    Math.exp(
      -x * x -
        1.26551223 +
        t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    )
  return x >= 0 ? 1 - y : y - 1
}
const normalCdf = (z: number): number => 0.5 * (1 + erf(z / Math.SQRT2))

/** Bin probabilities of a lognormal latency (median ms, sigma of its log), as the proxy bins it. */
function lognormalBins(medianMs: number, sigma: number): Float64Array {
  const probs = new Float64Array(BINS)
  const mu = Math.log(medianMs)
  const edge = (bin: number) => (bin === 0 ? 1 : 2 ** (bin / BINS_PER_DOUBLING))
  let below = 0
  for (let bin = 0; bin < BINS; bin++) {
    const upper = bin === BINS - 1 ? 1 : normalCdf((Math.log(edge(bin)) - mu) / sigma)
    probs[bin] = Math.max(0, upper - below)
    below = upper
  }
  return probs
}

/** Cumulative bin probabilities, for drawing latencies by inversion. */
function cumulative(probs: Float64Array): Float64Array {
  const cdf = new Float64Array(BINS)
  let sum = 0
  for (let bin = 0; bin < BINS; bin++) {
    sum += probs[bin]!
    cdf[bin] = sum
  }
  return cdf
}

const drawn = new Float64Array(BINS)

/** Draws n latencies into [bin, count, ...] pairs (each by inversion of the binned CDF). */
function drawBins(random: () => number, n: number, cdf: Float64Array): number[] {
  const total = cdf[BINS - 1]!
  let first = BINS
  let last = -1
  for (let i = 0; i < n; i++) {
    const u = random() * total
    let lo = 0
    let hi = BINS - 1
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (cdf[mid]! < u) lo = mid + 1
      else hi = mid
    }
    drawn[lo]!++
    if (lo < first) first = lo
    if (lo > last) last = lo
  }
  const out: number[] = []
  for (let bin = first; bin <= last; bin++) {
    if (drawn[bin] !== 0) {
      out.push(bin, drawn[bin]!)
      drawn[bin] = 0
    }
  }
  return out
}

/** One simulated release. */
export interface Scenario {
  /** Requests per second, both colours together. */
  readonly rate: number
  /** Error rates; `greenErrors` may change at `greenErrorsFrom` ms (default from the start). */
  readonly blueErrors: number
  readonly greenErrors: number
  /** Latency: lognormal with this median (ms) and log-sigma; green's is multiplied. */
  readonly latencyMs?: number
  readonly latencySigma?: number
  readonly greenLatencyFactor?: number
  /** A route carrying this share of traffic where green fails every request. */
  readonly brokenRouteShare?: number
  /** Either a rollout plan (green percent per step, hold each) or a fixed split (auto-revert alone). */
  readonly steps?: readonly number[]
  readonly holdMs?: number
  readonly fixedGreen?: number
  /** Virtual time limit. */
  readonly horizonMs: number
  /** Users with lognormal activity: the green share of traffic is not exactly the split. */
  readonly users?: number
}

export interface Outcome {
  /** How the release ended. */
  readonly end: 'promoted' | 'failed' | 'reverted' | 'paused' | 'shared-degradation' | 'running'
  /** Virtual ms from the start to the end. */
  readonly atMs: number
  /** Green requests served before the end. */
  readonly greenRequests: number
  /** Which test decided a failure. */
  readonly by: string | null
}

/** The analysis settings a config without a `rollout` section gets: the product's defaults. */
export const DEFAULT_ANALYSIS: AnalysisSettings = resolveConfig({ demo: { enabled: true } }).rollout.analysis

/** The default plan: rollout.stepWeight 10 up to 100, one minute each. */
export const DEFAULT_STEPS = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]

/** The green share of traffic when `green` percent of buckets are green, with users of unequal activity. */
function trafficShare(random: () => number, users: number): (greenPercent: number) => number {
  const buckets: number[] = []
  const weights: number[] = []
  let total = 0
  for (let i = 0; i < users; i++) {
    buckets.push(random() * 100)
    const w = Math.exp(1.5 * normal(random))
    weights.push(w)
    total += w
  }
  return (greenPercent) => {
    let green = 0
    for (let i = 0; i < users; i++) if (buckets[i]! < greenPercent) green += weights[i]!
    return green / total
  }
}

/** Runs one release to its end (or the horizon) with the real decision code. */
export function simulate(s: Scenario, seed: number, analysis: AnalysisSettings = DEFAULT_ANALYSIS, progressDeadlineMs = 600_000): Outcome {
  const random = rng(seed)
  let now = 0
  const clock = () => now
  const evidence = new Evidence(analysis, clock)
  const share = trafficShare(random, s.users ?? 2000)
  const latency = s.latencyMs ?? 20
  const sigma = s.latencySigma ?? 0.6
  const blueBins = cumulative(lognormalBins(latency, sigma))
  const greenBins = cumulative(lognormalBins(latency * (s.greenLatencyFactor ?? 1), sigma))
  const blueTtfb = cumulative(lognormalBins(latency / 2, sigma))
  const greenTtfb = cumulative(lognormalBins((latency / 2) * (s.greenLatencyFactor ?? 1), sigma))
  const alpha = 1 - analysis.confidence
  const brokenShare = s.brokenRouteShare ?? 0

  // The auto-revert window: 30 one-second buckets per colour.
  const window = { blue: new Float64Array(30 * 2), green: new Float64Array(30 * 2) }
  const windowSecond = new Float64Array(30).fill(-1)

  const steps = s.steps ?? null
  let step = 0
  let greenPercent = steps === null ? (s.fixedGreen ?? 10) : steps[0]!
  let holdUntil = s.holdMs ?? 60_000
  let greenShare = share(greenPercent)
  let greenServed = 0
  let nextAnalysis = analysis.interval
  let sharedSeen = false

  // Each tick draws the requests that finished during the TICK_MS before `now`.
  for (now = TICK_MS; now <= s.horizonMs; now += TICK_MS) {
    const n = poisson(random, (s.rate * TICK_MS) / 1000)
    const g = binomial(random, n, greenShare)
    const b = n - g
    const second = Math.floor(now / 1000)
    const slot = second % 30
    if (windowSecond[slot] !== second) {
      windowSecond[slot] = second
      window.blue.fill(0, slot * 2, slot * 2 + 2)
      window.green.fill(0, slot * 2, slot * 2 + 2)
    }
    for (const [color, count] of [
      ['blue', b],
      ['green', g],
    ] as const) {
      if (count === 0) continue
      const onBroken = brokenShare > 0 ? binomial(random, count, brokenShare) : 0
      const rest = count - onBroken
      const base = color === 'blue' ? s.blueErrors : s.greenErrors
      const restErrors = binomial(random, rest, base)
      const brokenErrors = color === 'green' ? onBroken : binomial(random, onBroken, base)
      const errors = restErrors + brokenErrors
      const routes: (string | number)[] = []
      if (brokenShare > 0) {
        routes.push('/broken', onBroken, brokenErrors, '/api', rest, restErrors)
      } else {
        routes.push('/api', count, errors)
      }
      evidence.merge({
        color,
        second,
        requests: count,
        errors,
        latency: drawBins(random, count, color === 'blue' ? blueBins : greenBins),
        ttfb: drawBins(random, count, color === 'blue' ? blueTtfb : greenTtfb),
        routes,
      })
      window[color][slot * 2]! += count
      window[color][slot * 2 + 1]! += errors
    }
    greenServed += g
    evidence.update()

    const sum = (w: Float64Array) => {
      let requests = 0
      let errors = 0
      for (let i = 0; i < 30; i++) {
        if (windowSecond[i]! < 0 || windowSecond[i]! <= second - 30) continue
        requests += w[i * 2]!
        errors += w[i * 2 + 1]!
      }
      return { requests, errors }
    }
    const ceiling = readCeiling(sum(window.green), sum(window.blue), analysis.maxErrorRate, alpha)
    const readings = evidence.readings()
    // Auto-revert looks every 200 ms.
    const revert = decideRevert(readings, ceiling, true)
    if (revert.action === 'revert') {
      return { end: 'reverted', atMs: now, greenRequests: greenServed, by: revert.failing[0]?.route ?? revert.failing[0]?.test ?? 'ceiling' }
    }
    if (steps === null) {
      // Auto-revert reports a shared degradation and goes on watching.
      if (revert.action === 'shared-degradation') sharedSeen = true
      continue
    }
    if (now < nextAnalysis) continue
    nextAnalysis = now + analysis.interval
    const decision = decideStep({
      readings,
      ceiling,
      vsBlue: true,
      greenThisStep: evidence.greenSinceMark,
      minRequests: analysis.minRequests,
      holdOver: now >= holdUntil,
    })
    if (decision.action === 'fail') {
      const failing = readings.find((r) => r.state === 'fail')
      return { end: 'failed', atMs: now, greenRequests: greenServed, by: failing?.route ?? failing?.test ?? 'ceiling' }
    }
    if (decision.action === 'pause') return { end: 'shared-degradation', atMs: now, greenRequests: greenServed, by: null }
    if (decision.action === 'wait' && progressDeadlineMs > 0 && now >= holdUntil + progressDeadlineMs) {
      return { end: 'paused', atMs: now, greenRequests: greenServed, by: null }
    }
    if (decision.action !== 'advance') continue
    step++
    if (step >= steps.length) return { end: 'promoted', atMs: now, greenRequests: greenServed, by: null }
    greenPercent = steps[step]!
    greenShare = share(greenPercent)
    holdUntil = now + (s.holdMs ?? 60_000)
    evidence.splitChanged()
    evidence.mark()
  }
  return { end: sharedSeen ? 'shared-degradation' : 'running', atMs: now, greenRequests: greenServed, by: null }
}

/** Runs a scenario over `runs` seeds from `seed0`. */
export function runMany(s: Scenario, runs: number, seed0: number, analysis?: AnalysisSettings): Outcome[] {
  const out: Outcome[] = []
  for (let i = 0; i < runs; i++) out.push(simulate(s, seed0 + i * 7919, analysis))
  return out
}

export function fraction(outcomes: readonly Outcome[], ...ends: Outcome['end'][]): number {
  return outcomes.filter((o) => ends.includes(o.end)).length / outcomes.length
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor((sorted.length - 1) / 2)]!
}
