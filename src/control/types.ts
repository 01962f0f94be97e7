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
export type EventType = 'split' | 'promote' | 'rollback' | 'revert' | 'targets'

/** One audit log entry. `from`/`to` hold a SplitPercent, or a target list for `targets`. */
export interface AuditEvent {
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

/** What a store keeps: the split and the recent audit log, newest event first. */
export interface PersistedState {
  readonly split: SplitState
  readonly events: readonly AuditEvent[]
}

/**
 * Where the live split survives restarts. The file store is the single-node default; a
 * shared store (Redis) implements the same interface.
 */
export interface StateStore {
  /** The stored state, or null when nothing was stored yet. Throws when it cannot be trusted. */
  load(): Promise<PersistedState | null>
  /** Persists durably before resolving; a crash leaves the old or the new state, never a mix. */
  save(state: PersistedState): Promise<void>
}
