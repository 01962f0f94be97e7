import { parseDuration } from '../../config/duration.js'
import type { AnalysisSettings, RolloutSettings } from '../../config/schema.js'
import { ControlErrors, RolloutError } from '../errors.js'
import { exactBuckets } from '../../routing/types.js'
import type { AnalysisOverrides, RolloutStep } from '../../state/types.js'

/** POST /v1/rollout: explicit steps, or a step weight plan (defaults from the `rollout` config). */
export interface RolloutPlan {
  /** Weight steps (`green`), after any mirror steps (`mirror`: green takes shadows of that share of blue's requests, no users). */
  readonly steps?: readonly { readonly green?: number; readonly mirror?: number; readonly hold: string | number }[]
  /** A mirror stage before the steps (either form of plan): `{percent, hold}`. */
  readonly mirror?: { readonly percent: number; readonly hold: string | number }
  readonly stepWeight?: number
  readonly maxWeight?: number
  readonly interval?: string | number
  /** This rollout's own analysis settings over the config's (rollout.analysis). */
  readonly analysis?: AnalysisPlan
  /** This rollout's own rollout.progressDeadline. */
  readonly progressDeadline?: string | number
}

/** Per-rollout analysis overrides as POST /v1/rollout takes them (durations as strings or ms). */
export interface AnalysisPlan {
  readonly interval?: string | number
  readonly minRequests?: number
  readonly confidence?: number
  readonly maxErrorRate?: number
  readonly maxP99?: string | number
  readonly maxLatencyIncrease?: { readonly percent?: number; readonly ms?: string | number }
  readonly latencyQuantile?: number
}


const planError = (message: string) => new RolloutError(ControlErrors.SY_ERR_ROLLOUT_PLAN, message)

function toBuckets(field: string, green: number): number {
  const buckets = exactBuckets(green)
  if (buckets === undefined) throw planError(`${field} must have at most two decimals (0.01 resolution)`)
  if (buckets < 1 || buckets > 10_000) throw planError(`${field} must be above 0 and at most 100`)
  return buckets
}

function holdOf(field: string, hold: string | number): number {
  const holdMs = parseDuration(hold)
  if (holdMs === undefined) throw planError(`${field} must be a duration such as 500ms, 30s, 5m or an integer of milliseconds`)
  return holdMs
}

/**
 * Turns a plan into steps; throws a 400 RolloutError naming the field. Mirror steps (green 0,
 * a mirror share) come first: green is judged on shadows before any user reaches it.
 */
export function planSteps(plan: RolloutPlan, defaults: RolloutSettings): RolloutStep[] {
  const stage: RolloutStep[] = plan.mirror === undefined ? [] : [{ greenBuckets: 0, mirrorBuckets: toBuckets('mirror.percent', plan.mirror.percent), holdMs: holdOf('mirror.hold', plan.mirror.hold) }]
  const steps = weightSteps(plan, defaults)
  if (steps.length > 0 && steps.every((s) => s.mirrorBuckets !== undefined)) throw planError('the plan needs at least one weight step ("green") after its mirror steps')
  return [...stage, ...steps]
}

function weightSteps(plan: RolloutPlan, defaults: RolloutSettings): RolloutStep[] {
  if (plan.steps !== undefined) {
    if (plan.stepWeight !== undefined || plan.maxWeight !== undefined || plan.interval !== undefined) {
      throw planError('give either "steps" or "stepWeight"/"maxWeight"/"interval", not both')
    }
    if (plan.steps.length === 0) throw planError('"steps" must list at least one step')
    let previous = 0
    return plan.steps.map((step, i): RolloutStep => {
      const holdMs = holdOf(`steps[${i}].hold`, step.hold)
      if (step.mirror !== undefined || step.green === undefined) {
        if (step.mirror === undefined || step.green !== undefined) throw planError(`steps[${i}] must set either "green" (a weight step) or "mirror" (a mirror step)`)
        if (previous > 0) throw planError(`steps[${i}] is a mirror step after a weight step; mirror steps come first, before any user reaches green`)
        return { greenBuckets: 0, mirrorBuckets: toBuckets(`steps[${i}].mirror`, step.mirror), holdMs }
      }
      const greenBuckets = toBuckets(`steps[${i}].green`, step.green)
      if (greenBuckets <= previous) throw planError(`steps[${i}].green must be above the step before it`)
      previous = greenBuckets
      return { greenBuckets, holdMs }
    })
  }
  const stepBuckets = toBuckets('stepWeight', plan.stepWeight ?? defaults.stepWeight)
  const maxBuckets = toBuckets('maxWeight', plan.maxWeight ?? defaults.maxWeight)
  if (stepBuckets > maxBuckets) throw planError('stepWeight must not exceed maxWeight')
  const holdMs = plan.interval === undefined ? defaults.interval : parseDuration(plan.interval)
  if (holdMs === undefined) throw planError('interval must be a duration such as 500ms, 30s, 5m or an integer of milliseconds')
  const steps: RolloutStep[] = []
  for (let g = stepBuckets; g < maxBuckets; g += stepBuckets) steps.push({ greenBuckets: g, holdMs })
  steps.push({ greenBuckets: maxBuckets, holdMs })
  if (steps.length > 1000) throw planError('the plan has more than 1000 steps; raise stepWeight')
  return steps
}

function inRange(field: string, value: number | undefined, min: number, max: number, integer = false): number | undefined {
  if (value === undefined) return undefined
  if (!Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value))) {
    throw planError(`${field} must be ${integer ? 'an integer ' : ''}between ${min} and ${max}`)
  }
  return value
}

export function durationField(field: string, value: string | number | undefined, min = 0): number | undefined {
  if (value === undefined) return undefined
  const ms = parseDuration(value)
  if (ms === undefined) throw planError(`${field} must be a duration such as 500ms, 30s, 5m or an integer of milliseconds`)
  if (ms < min) throw planError(`${field} must be at least ${min}ms`)
  return ms
}

/** Checks a plan's analysis overrides; throws a 400 RolloutError naming the field. */
export function planAnalysis(plan: AnalysisPlan | undefined): AnalysisOverrides | null {
  if (plan === undefined) return null
  const a: Record<string, unknown> = {
    interval: durationField('analysis.interval', plan.interval, 100),
    minRequests: inRange('analysis.minRequests', plan.minRequests, 1, 1e9, true),
    confidence: inRange('analysis.confidence', plan.confidence, 0.5, 0.9999),
    maxErrorRate: inRange('analysis.maxErrorRate', plan.maxErrorRate, 0, 1),
    maxP99: durationField('analysis.maxP99', plan.maxP99),
    latencyQuantile: inRange('analysis.latencyQuantile', plan.latencyQuantile, 0.5, 0.999),
  }
  if (plan.maxLatencyIncrease !== undefined) {
    a.maxLatencyIncrease = {
      percent: inRange('analysis.maxLatencyIncrease.percent', plan.maxLatencyIncrease.percent, 0, 1000),
      ms: durationField('analysis.maxLatencyIncrease.ms', plan.maxLatencyIncrease.ms),
    }
  }
  return JSON.parse(JSON.stringify(a)) as AnalysisOverrides
}

/** The config's analysis settings with a rollout's overrides on top. */
export function effectiveAnalysis(base: AnalysisSettings, overrides: AnalysisOverrides | null | undefined): AnalysisSettings {
  if (overrides === null || overrides === undefined) return base
  return {
    ...base,
    ...overrides,
    maxLatencyIncrease: { ...base.maxLatencyIncrease, ...overrides.maxLatencyIncrease },
  }
}
