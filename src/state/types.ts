/** The split as the admin API shows it: percentages that sum to 100. */
export interface SplitPercent {
  readonly blue: number
  readonly green: number
}

/** Why green was sent back to 0 by itself; cleared by the next operator split. */
export interface RevertInfo {
  readonly at: string
  readonly reason: string
  readonly errorRate: number
  readonly requests: number
}

/** Audit event types; more may come. */
export type EventType =
  | 'split'
  | 'promote'
  | 'rollback'
  | 'revert'
  | 'targets'
  | 'step'
  | 'pause'
  | 'resume'
  | 'abort'
  | 'succeeded'
  | 'degradation'
  | 'skip-analysis'
  | 'mirror'

/** One audit log entry. `from`/`to` hold a SplitPercent, or a target list for `targets`. */
export interface AuditEvent {
  /** Rises by one with every event of the release (the event stream's id); absent on events stored by older versions. */
  readonly id?: number
  readonly at: string
  readonly type: EventType
  readonly from: unknown
  readonly to: unknown
  readonly source: string
  readonly reason: string | null
}

/** The live split: the state a store persists and every replica routes with. */
export interface SplitState {
  /** green share in buckets of 0.01 %, 0..10000 */
  readonly greenBuckets: number
  /** rises by one on every change of the split */
  readonly generation: number
  readonly reverted: RevertInfo | null
}

/** One step of a rollout plan. */
export interface RolloutStep {
  /** green share in buckets, 1..10000; 0 for a mirror step */
  readonly greenBuckets: number
  readonly holdMs: number
  /**
   * A mirror step (before any weight step): this share of blue's requests, in buckets 1..10000,
   * is also sent to green as shadows, and the step is judged on their evidence alone.
   */
  readonly mirrorBuckets?: number
}

export type RolloutPhase = 'progressing' | 'paused' | 'succeeded' | 'aborted'

/** A rollout as persisted: enough to continue from the same step after a restart. */
export interface RolloutState {
  readonly id: string
  readonly phase: RolloutPhase
  readonly steps: readonly RolloutStep[]
  /** Index into steps of the step being held. */
  readonly step: number
  readonly startedAt: string
  readonly stepStartedAt: string
  /** Epoch ms when the hold ends; restarted after a restart or a resume. */
  readonly holdUntil: number
  /** Hold left when paused. */
  readonly holdLeftMs: number | null
  readonly checks: number
  /** Failing checks over the whole rollout. */
  readonly failedChecks: number
  readonly consecutiveFailures: number
  /** A check passed since the step began. */
  readonly passedThisStep: boolean
  /** The last verdict, with its numbers (see statistics.ts Verdict). */
  readonly lastVerdict: (Record<string, unknown> & { readonly result: string; readonly at: string }) | null
  readonly endedAt: string | null
  readonly reason: string | null
  /** This rollout's analysis settings over the config's; absent in rollouts stored by older versions. */
  readonly analysis?: AnalysisOverrides | null
  /** This rollout's progress deadline (ms) over rollout.progressDeadline. */
  readonly progressDeadlineMs?: number | null
  /** The step whose analysis an operator skipped (it passes on its hold), if any. */
  readonly skipAnalysisStep?: number | null
}

/** Analysis settings a rollout may set for itself (POST /v1/rollout `analysis`). */
export interface AnalysisOverrides {
  readonly interval?: number
  readonly minRequests?: number
  readonly confidence?: number
  readonly maxErrorRate?: number
  readonly maxP99?: number
  readonly latencyQuantile?: number
  readonly maxLatencyIncrease?: { readonly percent?: number; readonly ms?: number }
}

/** Targets set through the admin API (or a rollout's colour swap) in place of the config's. */
export interface TargetOverride {
  readonly targets: readonly string[]
  /** The config's targets when it was set: once the config lists others, the config wins. */
  readonly over: readonly string[]
}

export interface TargetOverrides {
  readonly blue?: TargetOverride
  readonly green?: TargetOverride
}

/** What a store keeps: the split, the rollout, target overrides and the recent audit log, newest event first. */
export interface PersistedState {
  readonly split: SplitState
  readonly events: readonly AuditEvent[]
  readonly rollout?: RolloutState | null
  readonly targets?: TargetOverrides | null
  /** The current release's salt for sticky hashing ("" or absent: none). */
  readonly release?: string | null
  /** The share of blue's requests also sent to green as shadows; absent: none. */
  readonly mirror?: MirrorState | null
}

/** Mirroring as stored: the share of blue's requests (by sticky key) whose shadow goes to green. */
export interface MirrorState {
  /** In buckets of 0.01 %, 0..10000. */
  readonly buckets: number
}

/** How a shared store is doing, for /healthz and /v1/status. */
export interface StoreStatus {
  readonly store: 'redis'
  /** false while the store cannot be reached: the replica routes with its last split. */
  readonly connected: boolean
  /** 'ok', or 'degraded' while disconnected. */
  readonly state: 'ok' | 'degraded'
  /** Since when the current state holds (ISO). */
  readonly since: string
  readonly lastError: string | null
  /** The write version of the state this replica last read or wrote; null before the first read. */
  readonly revision: number | null
}

/**
 * Where the live split survives restarts. The file store is the single-node default; a
 * shared store (Redis) implements the same interface plus `refresh` and `watch`.
 */
export interface StateStore {
  /** `file`: this process alone writes it. `shared`: other replicas write it too (refresh, restore and watch are there). */
  readonly kind: 'file' | 'shared'
  /** The stored state, or null when nothing was stored yet. Throws when it cannot be trusted. */
  load(): Promise<PersistedState | null>
  /**
   * Persists durably before resolving; a crash leaves the old or the new state, never a mix.
   * `event` is the audit event this write adds (already first in `state.events`), or null.
   * A shared store writes only if nobody else wrote since this store last read or wrote
   * (else WriteConflictError), and throws StateUnavailableError when it cannot be reached.
   */
  save(state: PersistedState, event?: AuditEvent | null): Promise<void>
  /**
   * Shared stores: the stored state when another replica changed it since this store last
   * read or wrote it; undefined when it did not change; null when nothing is stored;
   * 'behind' when it holds an older version of what this replica already saw.
   */
  refresh?(): Promise<PersistedState | null | undefined | 'behind'>
  /**
   * Shared stores, after refresh() said 'behind' (the store went back in time, e.g. Redis
   * restarted from an older snapshot): writes this replica's newer state back.
   */
  restore?(state: PersistedState): Promise<void>
  /** Shared stores: `onChange` runs when the stored state may have changed (pub/sub, reconcile, reconnect). */
  watch?(onChange: () => void): void
}
