import type { Logger } from 'pino'
import type { Color } from '../../routing/types.js'
import type { ChangeOrigin } from '../../state/replica.js'
import type { AuditEvent, EventType, SplitState } from '../../state/types.js'
import type { Cause, RolloutCarriage } from './transitions.js'

/** A change of the split, by an operator, a script or a rollout. */
export interface SplitChange extends Cause, RolloutCarriage {
  readonly greenBuckets: number
  readonly type: Extract<EventType, 'split' | 'promote' | 'rollback' | 'step' | 'abort'>
  /** When set, the change is refused unless the split is still at this generation. */
  readonly ifGeneration?: number
  /** A new release begins with this change: sticky hashing takes a new salt (sticky.reshuffle). */
  readonly newRelease?: boolean
  /** Moves green up even while none of its targets is healthy (the health gate is skipped). */
  readonly force?: boolean
  /** The mirror share moves in the same write (a rollout entering or leaving its mirror stage). */
  readonly mirrorBuckets?: number
}

/** A change as the writer made it: the state after it, and when every proxy process routes with it. */
export interface Applied<T> {
  readonly value: T
  readonly propagated: Promise<void>
}

/** Called after every applied change, off the request path (metrics, logs, webhooks, rollouts). */
export type ChangeListener = (state: SplitState, event: AuditEvent, origin: ChangeOrigin) => void

export interface ReleaseOptions {
  readonly logger: Logger
  readonly maxEvents?: number
  readonly now?: () => number
  /** The config's targets per colour; targets set through the API apply over them. */
  readonly configTargets?: Record<Color, readonly string[]>
  /** sticky.reshuffle is perRelease: new green targets draw a new group of users. */
  readonly reshuffle?: () => boolean
  /** How long a colour whose share went to 0 keeps its WebSockets and streams (drain.deadline). */
  readonly drainDeadline?: () => number
}
