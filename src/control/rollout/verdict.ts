import type { AnalysisSettings } from '../../config/schema.js'
import type { RolloutState } from '../../state/types.js'
import type { ErrorWindow } from '../analysis/error-window.js'
import type { Evidence } from '../analysis/evidence.js'
import { decideStep, readCeiling, type StepDecision } from '../analysis/judge.js'

/** What one look at the evidence concluded, as GET /v1/rollout and the events show it. */
export interface RolloutVerdict extends Record<string, unknown> {
  readonly at: string
  readonly result: 'pass' | 'fail' | 'inconclusive'
  readonly action: string
  readonly reasons: readonly string[]
}

/**
 * One look at a rollout's step: the release's evidence and the recent window judged with the
 * step's analysis settings (judge.ts decideStep), with an operator's skip-analysis applied.
 */
export function judgeStep(
  r: RolloutState,
  now: number,
  analysis: AnalysisSettings,
  evidence: Evidence,
  window: ErrorWindow,
  vsBlue: boolean,
): { decision: StepDecision; verdict: RolloutVerdict } {
  evidence.configure(analysis)
  evidence.update()
  const { green, blue } = window.shared()
  const ceiling = readCeiling(green, blue, analysis.maxErrorRate, 1 - analysis.confidence)
  const readings = evidence.readings()
  const holdOver = now >= r.holdUntil
  let decision = decideStep({ readings, ceiling, vsBlue, greenThisStep: evidence.greenSinceMark, minRequests: analysis.minRequests, holdOver })
  if (r.skipAnalysisStep === r.step && decision.action === 'wait') {
    decision = { ...decision, action: holdOver ? 'advance' : 'hold', reasons: [`analysis skipped for this step by an operator; ${decision.reasons.join('; ')}`] }
  }
  const verdict: RolloutVerdict = {
    at: new Date(now).toISOString(),
    result: decision.result,
    action: decision.action,
    reasons: decision.reasons,
    greenThisStep: evidence.greenSinceMark,
    minRequests: analysis.minRequests,
    tests: readings,
    ceiling,
  }
  return { decision, verdict }
}
