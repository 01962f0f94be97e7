import { ceilingLogE, underCeilingLogE } from './sequential.js'
import type { TestReading } from './evidence.js'

/** Requests and errors of one colour over the auto-revert window. */
export interface WindowCounts {
  readonly requests: number
  readonly errors: number
}

/** The absolute ceiling, judged on the recent window. */
export interface CeilingReading {
  readonly ceiling: number
  /** Green's window rate is above the ceiling, beyond chance (e-value ≥ 1/α). */
  readonly greenOver: boolean
  /** Blue serves and is over the ceiling too: the failure is shared, not green's. */
  readonly blueOver: boolean
  /** Blue serves and is under the ceiling, beyond chance: green alone is failing. */
  readonly blueUnder: boolean
  readonly green: { readonly requests: number; readonly errors: number; readonly rate: number }
  readonly blue: { readonly requests: number; readonly errors: number; readonly rate: number }
}

const pct = (x: number): string => `${(x * 100).toFixed(2)}%`
const rate = (c: WindowCounts): number => (c.requests === 0 ? 0 : c.errors / c.requests)

/**
 * Reads the ceiling on the window: green is over it when the window's evidence against
 * "green's rate ≤ ceiling" reaches 1/α; blue is over it, or under it, when its evidence either
 * way reaches √(1/α) (a single unlucky error among a few blue requests is no degradation, and
 * a few clean ones prove nothing yet).
 */
export function readCeiling(green: WindowCounts, blue: WindowCounts, ceiling: number, alpha: number): CeilingReading {
  return {
    ceiling,
    greenOver: ceilingLogE(green.errors, green.requests, ceiling) >= Math.log(1 / alpha),
    // Blue's side protects green from blame, so it needs less: evidence past √(1/α).
    blueOver: ceilingLogE(blue.errors, blue.requests, ceiling) >= Math.log(1 / alpha) / 2,
    blueUnder: underCeilingLogE(blue.errors, blue.requests, ceiling) >= Math.log(1 / alpha) / 2,
    green: { requests: green.requests, errors: green.errors, rate: Math.round(rate(green) * 1e6) / 1e6 },
    blue: { requests: blue.requests, errors: blue.errors, rate: Math.round(rate(blue) * 1e6) / 1e6 },
  }
}

/** What a test reading means, in words an operator can act on. */
export function describe(r: TestReading): string {
  const what = r.test === 'latency' ? 'slow answers' : r.test === 'ttfb' ? 'slow first bytes' : 'errors'
  const where = r.test === 'route' ? ` on ${r.route}` : ''
  const line = r.slowMs === undefined ? '' : ` (slow: blue over ${r.slowMs.blue} ms, green over ${r.slowMs.green} ms)`
  const greenShare = r.green.requests + r.blue.requests === 0 ? 0 : r.green.requests / (r.green.requests + r.blue.requests)
  const events = r.green.events + r.blue.events
  const greenEventShare = events === 0 ? 0 : r.green.events / events
  const head =
    `${what}${where}${line}: green ${r.green.events} of ${r.green.requests} (${pct(r.green.rate)}), ` +
    `blue ${r.blue.events} of ${r.blue.requests} (${pct(r.blue.rate)}); evidence green is worse ${fmt(r.evidence)}`
  if (r.state === 'fail') {
    return `${head} reached ${r.threshold} (green about ${r.likelyRatio}× blue's odds): green is worse`
  }
  return (
    `${head}, fails at ${r.threshold}${r.state === 'leaning' ? `, over ${fmt(Math.sqrt(r.threshold))} so a step waits` : ''}; ` +
    `it grows while green's share of ${what} (${pct(greenEventShare)}) runs above its share of requests (${pct(greenShare)}) and shrinks otherwise`
  )
}

function fmt(e: number): string {
  return e >= 1000 ? e.toExponential(1) : e >= 10 ? e.toFixed(0) : e.toFixed(2)
}

/** Auto-revert's decision: act on errors (all routes and each route group) and the ceiling. */
export interface RevertDecision {
  readonly action: 'revert' | 'shared-degradation' | 'none'
  readonly reason: string
  /** The failing readings, first the one named in the reason. */
  readonly failing: readonly TestReading[]
}

/**
 * Green is reverted when the anytime-valid error test (overall or for one route group) finds
 * it worse than blue, or when its window error rate is beyond chance over the ceiling while blue
 * is beyond chance under it (or serves nothing, or `vsBlue` is off). Both colours over the
 * ceiling with green no worse than blue is a shared degradation: green stays. While blue's side
 * is still unclear, the ceiling decides nothing (the comparative test goes on).
 */
export function decideRevert(readings: readonly TestReading[], ceiling: CeilingReading, vsBlue: boolean): RevertDecision {
  const failing = readings.filter((r) => (r.test === 'errors' || r.test === 'route') && r.state === 'fail')
  if (failing.length > 0) {
    const first = failing.find((r) => r.test === 'errors') ?? failing[0]!
    return { action: 'revert', reason: `green is worse than blue: ${describe(first)}`, failing }
  }
  if (!ceiling.greenOver) return { action: 'none', reason: '', failing: [] }
  const head = `green error rate ${pct(ceiling.green.rate)} (${ceiling.green.errors} of ${ceiling.green.requests} in the window) is above the ceiling ${pct(ceiling.ceiling)}`
  if (vsBlue && ceiling.blueOver) {
    return {
      action: 'shared-degradation',
      reason: `${head}, and so is blue's ${pct(ceiling.blue.rate)} (${ceiling.blue.errors} of ${ceiling.blue.requests}): both colours degrade together; green is not blamed`,
      failing: [],
    }
  }
  if (vsBlue && ceiling.blue.requests > 0 && !ceiling.blueUnder) return { action: 'none', reason: '', failing: [] }
  const base = ceiling.blue.requests === 0 ? 'blue serves nothing to compare with' : `blue's is ${pct(ceiling.blue.rate)}`
  return { action: 'revert', reason: `${head}; ${base}`, failing: [] }
}

/** Where a rollout step stands after one look at the evidence. */
export interface StepDecision {
  readonly action: 'fail' | 'pause' | 'wait' | 'advance' | 'hold'
  /** pass / fail / inconclusive, as the verdict shows it. */
  readonly result: 'pass' | 'fail' | 'inconclusive'
  readonly reasons: readonly string[]
}

export interface StepInput {
  readonly readings: readonly TestReading[]
  readonly ceiling: CeilingReading
  readonly vsBlue: boolean
  /** Green requests served since the step began. */
  readonly greenThisStep: number
  readonly minRequests: number
  /** The step's hold is over. */
  readonly holdOver: boolean
}

/**
 * A step fails when any test finds green worse (errors, a route group, latency, time to first
 * byte) or the ceiling is breached by green alone; pauses on a shared degradation; advances
 * only when its hold is over, green served at least `minRequests` requests in it (silence never
 * promotes), and no test leans against green (evidence over the square root of its threshold:
 * the step waits until more traffic decides). Otherwise it waits.
 */
export function decideStep(input: StepInput): StepDecision {
  const failing = input.readings.filter((r) => r.state === 'fail')
  if (failing.length > 0) return { action: 'fail', result: 'fail', reasons: failing.map(describe) }
  const revert = decideRevert(input.readings, input.ceiling, input.vsBlue)
  if (revert.action === 'revert') return { action: 'fail', result: 'fail', reasons: [revert.reason] }
  if (revert.action === 'shared-degradation') return { action: 'pause', result: 'inconclusive', reasons: [revert.reason] }
  const leaning = input.readings.filter((r) => r.state === 'leaning')
  if (leaning.length > 0) {
    return { action: 'wait', result: 'inconclusive', reasons: leaning.map((r) => `leaning against green, waiting for more traffic: ${describe(r)}`) }
  }
  if (input.greenThisStep < input.minRequests) {
    return {
      action: 'wait',
      result: 'inconclusive',
      reasons: [`green served ${input.greenThisStep} of the ${input.minRequests} requests a step needs before it can pass (rollout.analysis.minRequests)`],
    }
  }
  const errors = input.readings.find((r) => r.test === 'errors')
  const reasons = [`no test finds green worse than blue${errors === undefined ? '' : `: ${describe(errors)}`}`]
  return input.holdOver ? { action: 'advance', result: 'pass', reasons } : { action: 'hold', result: 'pass', reasons }
}
