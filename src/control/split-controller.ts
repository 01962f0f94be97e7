import type { Logger } from 'pino'
import { makeTable, type RoutingTable, type TableSource } from '../routing/types.js'
import { GenerationConflictError } from './errors.js'
import type { AuditEvent, EventType, PersistedState, RevertInfo, RolloutState, SplitPercent, SplitState, StateStore } from './types.js'

/** An operator's (or a script's) change of the split. */
export interface SplitChange {
  readonly greenBuckets: number
  readonly type: Extract<EventType, 'split' | 'promote' | 'rollback' | 'step' | 'abort'>
  readonly source: string
  readonly reason?: string | null
  /** When set, the change is refused unless the split is still at this generation. */
  readonly ifGeneration?: number
  /** The rollout state to store with this change, in the same write; undefined leaves it. */
  readonly rollout?: RolloutState | null
}

/** Called after every applied change, off the request path (metrics, logs, propagation). */
export type ChangeListener = (state: SplitState, event: AuditEvent) => void

export interface SplitControllerOptions {
  readonly logger: Logger
  readonly maxEvents?: number
  readonly now?: () => Date
}

/** Percentages of a green share in buckets, e.g. 1000 -> {blue: 90, green: 10}. */
export function toPercent(greenBuckets: number): SplitPercent {
  return { blue: (10_000 - greenBuckets) / 100, green: greenBuckets / 100 }
}

/**
 * Owns the live split: serializes changes, persists each before acknowledging it, keeps the
 * audit log and publishes a new frozen routing table by swapping one reference.
 */
export class SplitController implements TableSource {
  readonly #store: StateStore
  readonly #logger: Logger
  readonly #maxEvents: number
  readonly #now: () => Date
  readonly #listeners: ChangeListener[] = []
  #state: SplitState = { greenBuckets: 0, generation: 0, reverted: null }
  #events: readonly AuditEvent[] = []
  #rollout: RolloutState | null = null
  #table: RoutingTable = makeTable(0, 0)
  #queue: Promise<unknown> = Promise.resolve()

  constructor(store: StateStore, options: SplitControllerOptions) {
    this.#store = store
    this.#logger = options.logger
    this.#maxEvents = options.maxEvents ?? 1000
    this.#now = options.now ?? (() => new Date())
  }

  /** Restores the stored state, or seeds it from the config's split and stores it. */
  async init(seedGreenBuckets: number): Promise<{ restored: boolean }> {
    const stored = await this.#store.load()
    if (stored !== null) {
      this.#apply(stored)
      return { restored: true }
    }
    const seeded: PersistedState = { split: { greenBuckets: seedGreenBuckets, generation: 1, reverted: null }, events: [], rollout: null }
    await this.#store.save(seeded)
    this.#apply(seeded)
    return { restored: false }
  }

  /** The current routing snapshot (TableSource). One reference read. */
  current(): RoutingTable {
    return this.#table
  }

  state(): SplitState {
    return this.#state
  }

  /** The rollout, if one was ever started (kept after it ends, until the next one). */
  rollout(): RolloutState | null {
    return this.#rollout
  }

  /** The audit log, newest first. */
  events(): readonly AuditEvent[] {
    return this.#events
  }

  onChange(listener: ChangeListener): void {
    this.#listeners.push(listener)
  }

  /** Applies an operator change once it is durable. Clears a revert latch. */
  change(change: SplitChange): Promise<SplitState> {
    return this.#serialize(async () => {
      const before = this.#state
      if (change.ifGeneration !== undefined && change.ifGeneration !== before.generation) {
        throw new GenerationConflictError(change.ifGeneration, before.generation)
      }
      const split: SplitState = { greenBuckets: change.greenBuckets, generation: before.generation + 1, reverted: null }
      const event = this.#event(change.type, toPercent(before.greenBuckets), toPercent(split.greenBuckets), change.source, change.reason ?? null)
      await this.#commit(split, event, change.rollout)
      this.#logger.info(
        { event: change.type, from: event.from, to: event.to, generation: split.generation, source: change.source },
        `split ${change.type}: green ${before.greenBuckets / 100}% -> ${split.greenBuckets / 100}%`,
      )
      return split
    })
  }

  /**
   * Sends green to 0 and latches the revert. The table swaps before the write so that routing
   * reacts at once even when the disk is slow. Returns false when green is already at 0.
   */
  revert(info: Omit<RevertInfo, 'at'>): Promise<boolean> {
    return this.#serialize(async () => {
      const before = this.#state
      if (before.greenBuckets === 0) return false
      const at = this.#now().toISOString()
      const split: SplitState = { greenBuckets: 0, generation: before.generation + 1, reverted: { at, ...info } }
      const event = this.#event('revert', toPercent(before.greenBuckets), toPercent(0), 'auto-revert', info.reason)
      const next = { split, events: this.#withEvent(event), rollout: this.#rollout }
      this.#apply(next)
      this.#logger.warn(
        { event: 'revert', errorRate: info.errorRate, requests: info.requests, generation: split.generation },
        `auto-revert: green ${before.greenBuckets / 100}% -> 0%: ${info.reason}`,
      )
      this.#notify(event)
      try {
        await this.#store.save(next)
      } catch (err) {
        this.#logger.error({ err }, 'auto-revert applied but the state could not be saved')
      }
      return true
    })
  }

  /**
   * Records an event that does not change the split (new targets, a rollout paused) in the
   * audit log, with the rollout state to store in the same write when given.
   */
  record(
    type: EventType,
    from: unknown,
    to: unknown,
    source: string,
    reason: string | null = null,
    rollout?: RolloutState | null,
  ): Promise<AuditEvent> {
    return this.#serialize(async () => {
      const event = this.#event(type, from, to, source, reason)
      await this.#commit(this.#state, event, rollout)
      return event
    })
  }

  /** Stores rollout progress (checks, counters) without an audit event. */
  saveRollout(rollout: RolloutState | null): Promise<void> {
    return this.#serialize(async () => {
      const next: PersistedState = { split: this.#state, events: this.#events, rollout }
      await this.#store.save(next)
      this.#apply(next)
    })
  }

  #serialize<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task, task)
    this.#queue = run.catch(() => undefined)
    return run
  }

  async #commit(split: SplitState, event: AuditEvent, rollout: RolloutState | null | undefined): Promise<void> {
    const next: PersistedState = { split, events: this.#withEvent(event), rollout: rollout === undefined ? this.#rollout : rollout }
    await this.#store.save(next)
    this.#apply(next)
    this.#notify(event)
  }

  #apply(state: PersistedState): void {
    this.#state = Object.freeze({ ...state.split })
    this.#events = Object.freeze([...state.events])
    this.#rollout = state.rollout ?? null
    if (this.#table.generation !== state.split.generation || this.#table.greenBuckets !== state.split.greenBuckets) {
      this.#table = makeTable(state.split.generation, state.split.greenBuckets)
    }
  }

  #notify(event: AuditEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(this.#state, event)
      } catch (err) {
        this.#logger.error({ err }, 'split change listener failed')
      }
    }
  }

  #withEvent(event: AuditEvent): AuditEvent[] {
    return [event, ...this.#events].slice(0, this.#maxEvents)
  }

  #event(type: EventType, from: unknown, to: unknown, source: string, reason: string | null): AuditEvent {
    return Object.freeze({ at: this.#now().toISOString(), type, from, to, source, reason })
  }
}
