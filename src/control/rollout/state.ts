import { randomUUID } from 'node:crypto'
import type { Logger } from 'pino'
import type { AnalysisSettings } from '../../config/schema.js'
import { WriteConflictError } from '../../state/errors.js'
import type { AnalysisOverrides, RolloutState, RolloutStep } from '../../state/types.js'
import type { Evidence } from '../analysis/evidence.js'
import { RolloutError } from '../errors.js'
import { isMirrorStep } from './mirror-stage.js'
import type { RolloutVerdict } from './verdict.js'

/** A rollout as it starts: progressing at its first step, whose hold starts now. */
export function newRollout(plan: {
  readonly steps: readonly RolloutStep[]
  readonly now: number
  readonly reason: string | null
  readonly analysis: AnalysisOverrides | null
  readonly progressDeadlineMs: number | null
}): RolloutState {
  const at = new Date(plan.now).toISOString()
  return {
    id: randomUUID(),
    phase: 'progressing',
    steps: plan.steps,
    step: 0,
    startedAt: at,
    stepStartedAt: at,
    holdUntil: plan.now + plan.steps[0]!.holdMs,
    holdLeftMs: null,
    checks: 0,
    failedChecks: 0,
    consecutiveFailures: 0,
    passedThisStep: false,
    lastVerdict: null,
    endedAt: null,
    reason: plan.reason,
    analysis: plan.analysis,
    progressDeadlineMs: plan.progressDeadlineMs,
    skipAnalysisStep: null,
  }
}

/** GET /v1/rollout: the rollout with its settings, its checks (stored and not yet stored) and its latest verdict. */
export function rolloutView(
  r: RolloutState,
  at: {
    readonly settings: AnalysisSettings
    readonly progressDeadlineMs: number
    /** Green's share now, in buckets. */
    readonly green: number
    /** Checks made here since the rollout was last stored. */
    readonly unstored: number
    readonly verdict: RolloutVerdict | null
    readonly evidence: Evidence
    readonly now: number
  },
): Record<string, unknown> {
  const { settings, evidence } = at
  return {
    id: r.id,
    phase: r.phase,
    step: r.step + 1,
    steps: r.steps.map((s) => ({ green: s.greenBuckets / 100, ...(s.mirrorBuckets === undefined ? {} : { mirror: s.mirrorBuckets / 100 }), holdMs: s.holdMs })),
    green: at.green / 100,
    holdLeftMs: r.phase === 'progressing' ? Math.max(0, r.holdUntil - at.now) : r.holdLeftMs,
    startedAt: r.startedAt,
    stepStartedAt: r.stepStartedAt,
    endedAt: r.endedAt,
    reason: r.reason,
    progressDeadlineMs: at.progressDeadlineMs,
    skipAnalysis: r.skipAnalysisStep === r.step,
    analysis: {
      settings: { ...settings, ...(r.analysis == null ? {} : { overrides: r.analysis }) },
      checks: r.checks + (r.phase === 'progressing' ? at.unstored : 0),
      failedChecks: r.failedChecks,
      consecutiveFailures: r.consecutiveFailures,
      failureThreshold: settings.failureThreshold,
      passedThisStep: r.passedThisStep,
      greenThisStep: evidence.greenSinceMark,
      last: at.verdict ?? r.lastVerdict,
      // At a mirror step the evidence is the shadows': blue's and green's answers to the same mirrored requests.
      evidence: { since: new Date(evidence.startedAt).toISOString(), ...(isMirrorStep(r) ? { source: 'shadow' } : {}), ...evidence.totals() },
    },
  }
}

/**
 * Runs `act` until it is not refused because a leader's check moved the rollout in between
 * (a few tries): an operator's split must pause the rollout, not lose to a routine check.
 */
export async function followManualChange(act: () => Promise<void>, logger: Logger): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await act()
      return
    } catch (err) {
      const conflict = err instanceof RolloutError || err instanceof WriteConflictError
      if (conflict && attempt < 5) continue
      logger.error({ err }, 'rollout could not follow a manual change')
      return
    }
  }
}
