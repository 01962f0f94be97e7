import type { RolloutState, RolloutStep } from '../../state/types.js'
import type { ErrorWindow } from '../analysis/error-window.js'
import type { Evidence } from '../analysis/evidence.js'
import type { RolloutControllerOptions } from './rollout.js'

/**
 * A rollout's mirror stage: its first steps may hold green at 0 while green answers shadows of
 * blue's requests; such a step is judged on the shadows' evidence, and the shadows stop when
 * the rollout leaves the stage (in the same write as its next step) or ends there.
 */

/** The step being held is a mirror step. */
export function isMirrorStep(r: RolloutState): boolean {
  return r.steps[r.step]?.mirrorBuckets !== undefined
}

/**
 * What moving from `r`'s step to `next` (undefined: the promotion) does to the mirror share:
 * a mirror step sets its own, leaving the stage sets 0, weight steps leave it alone.
 */
export function mirrorMove(r: RolloutState, next: RolloutStep | undefined): { mirrorBuckets?: number } {
  if (next?.mirrorBuckets !== undefined) return { mirrorBuckets: next.mirrorBuckets }
  return isMirrorStep(r) ? { mirrorBuckets: 0 } : {}
}

type Sources = Pick<RolloutControllerOptions, 'evidence' | 'window' | 'shadow'>

/** The evidence the step being held is judged on: the shadows' at a mirror step, else the release's. */
export function evidenceOf(o: Sources, r: RolloutState): Evidence {
  return isMirrorStep(r) && o.shadow !== undefined ? o.shadow.evidence() : o.evidence()
}

/** The window of the step's error-rate ceiling, likewise. */
export function windowOf(o: Sources, r: RolloutState): ErrorWindow {
  return isMirrorStep(r) && o.shadow !== undefined ? o.shadow.window() : o.window()
}
