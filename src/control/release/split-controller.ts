import { randomBytes } from 'node:crypto'
import type { Logger } from 'pino'
import { makeTable, type RoutingTable, type TableSource } from '../../routing/types.js'
import { ControlErrors, GenerationConflictError, RolloutError } from '../errors.js'
import { StateUnavailableError, WriteConflictError } from '../../state/errors.js'
import type { Color } from '../../routing/types.js'
import type {
  AuditEvent,
  EventType,
  PersistedState,
  RevertInfo,
  RolloutState,
  SplitPercent,
  SplitState,
  StateStore,
  TargetOverride,
  TargetOverrides,
} from '../../state/types.js'

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
  /** The rollout `rollout` was computed from: refused (409) if it is no longer the current one. */
  readonly basedOn?: RolloutState | null
  /** A new release begins with this change: sticky hashing takes a new salt (sticky.reshuffle). */
  readonly newRelease?: boolean
}

/**
 * Where a change was made: here (`local`), or by another replica and adopted from the shared
 * store (`remote`). Side effects that must happen once per fleet (webhooks, counters of
 * changes, a rollout reacting to an operator) follow local changes only.
 */
export type ChangeOrigin = 'local' | 'remote'

/** Called after every applied change, off the request path (metrics, logs, propagation). */
export type ChangeListener = (state: SplitState, event: AuditEvent, origin: ChangeOrigin) => void

/** How many times a revert retries after losing a write race to an unrelated change. */
const REVERT_ATTEMPTS = 5
/** A replica that started from its config waits this long for a known state before seeding an empty store. */
const OFFLINE_SEED_GRACE_MS = 2_000

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
  readonly #tableListeners: ((table: RoutingTable) => void)[] = []
  #state: SplitState = { greenBuckets: 0, generation: 0, reverted: null }
  #events: readonly AuditEvent[] = []
  #rollout: RolloutState | null = null
  #targets: TargetOverrides = {}
  /** The current release's sticky salt ("" = none). */
  #release = ''
  #table: RoutingTable = makeTable(0, 0)
  #queue: Promise<unknown> = Promise.resolve()
  /** Started while the shared store was unreachable: routing with the config's split, never stored. */
  #offlineSince: number | null = null
  #emptySeenAt: number | null = null
  /** A revert applied here while the shared store was unreachable, to write once it answers. */
  #pendingRevert: { readonly from: SplitState; readonly info: RevertInfo; readonly event: AuditEvent; readonly green: TargetOverride | undefined } | null =
    null

  constructor(store: StateStore, options: SplitControllerOptions) {
    this.#store = store
    this.#logger = options.logger
    this.#maxEvents = options.maxEvents ?? 1000
    this.#now = options.now ?? (() => new Date())
  }

  /**
   * Restores the stored state, or seeds it from the config's split and stores it. With a
   * shared store that cannot be reached, routes with the config's split and adopts the stored
   * state once the store answers (`offline` says why it could not be read).
   */
  async init(seedGreenBuckets: number): Promise<{ restored: boolean; offline?: string }> {
    const seeded: PersistedState = { split: { greenBuckets: seedGreenBuckets, generation: 1, reverted: null }, events: [], rollout: null }
    let stored: PersistedState | null
    try {
      stored = await this.#store.load()
    } catch (err) {
      if (!(err instanceof StateUnavailableError) || this.#store.refresh === undefined) throw err
      this.#apply({ ...seeded, split: { ...seeded.split, generation: 0 } })
      this.#offlineSince = Date.now()
      this.#watch()
      return { restored: false, offline: err.message }
    }
    this.#watch()
    if (stored !== null) {
      this.#apply(stored)
      return { restored: true }
    }
    try {
      await this.#store.save(seeded, null)
    } catch (err) {
      // Another replica starting at the same moment seeded first: take its state.
      const winner = err instanceof WriteConflictError ? await this.#store.load() : null
      if (winner === null) throw err
      this.#apply(winner)
      return { restored: true }
    }
    this.#apply(seeded)
    return { restored: false }
  }

  /** Shared stores call back when another replica may have written; adopting is serialized with writes. */
  #watch(): void {
    this.#store.watch?.(() => void this.adopt())
  }

  /**
   * Brings this replica up to the shared store's state (pub/sub, reconcile, reconnect). Never
   * throws: an unreachable store leaves the last known split routing.
   */
  adopt(): Promise<void> {
    return this.#serialize(async () => {
      try {
        await this.#sync()
      } catch (err) {
        if (!(err instanceof StateUnavailableError)) this.#logger.error({ err }, 'could not adopt the shared state')
      }
    })
  }

  /** True while this replica routes with its config's split because it has not yet read the fleet's. */
  startedOffline(): boolean {
    return this.#offlineSince !== null
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

  /** Targets set through the API in place of the config's (shared by a fleet). */
  targetOverrides(): TargetOverrides {
    return this.#targets
  }

  /**
   * Points a colour at other targets: stores the override (null: back to the config's) with
   * its `targets` event in one write.
   */
  changeTargets(
    color: Color,
    override: TargetOverride | null,
    from: unknown,
    to: unknown,
    source: string,
    reason: string | null,
    newRelease = false,
  ): Promise<AuditEvent> {
    return this.#serialize(async () => {
      await this.#sync()
      const event = this.#event('targets', from, to, source, reason)
      const targets: { -readonly [C in Color]?: TargetOverride } = { ...this.#targets }
      if (override === null) delete targets[color]
      else targets[color] = override
      await this.#commit(this.#state, event, undefined, targets, newRelease ? newSalt() : this.#release)
      return event
    })
  }

  /** The audit log, newest first. */
  events(): readonly AuditEvent[] {
    return this.#events
  }

  onChange(listener: ChangeListener): void {
    this.#listeners.push(listener)
  }

  /**
   * `listener` gets every new routing table the moment it is made, before the change is
   * stored when routing must react first (a revert): the data plane's proxy workers follow it.
   */
  onTable(listener: (table: RoutingTable) => void): void {
    this.#tableListeners.push(listener)
  }

  #setTable(table: RoutingTable): void {
    this.#table = table
    for (const listener of this.#tableListeners) {
      try {
        listener(table)
      } catch (err) {
        this.#logger.error({ err }, 'routing table listener failed')
      }
    }
  }

  /** Applies an operator change once it is durable. Clears a revert latch. */
  change(change: SplitChange): Promise<SplitState> {
    return this.#serialize(async () => {
      await this.#sync()
      this.#checkBasis(change.basedOn)
      const before = this.#state
      if (change.ifGeneration !== undefined && change.ifGeneration !== before.generation) {
        throw new GenerationConflictError(change.ifGeneration, before.generation)
      }
      const split: SplitState = { greenBuckets: change.greenBuckets, generation: before.generation + 1, reverted: null }
      const event = this.#event(change.type, toPercent(before.greenBuckets), toPercent(split.greenBuckets), change.source, change.reason ?? null)
      await this.#commit(split, event, change.rollout, this.#targets, change.newRelease === true ? newSalt() : this.#release)
      this.#logger.info(
        { event: change.type, from: event.from, to: event.to, generation: split.generation, source: change.source },
        `split ${change.type}: green ${before.greenBuckets / 100}% -> ${split.greenBuckets / 100}%`,
      )
      return split
    })
  }

  /**
   * Sends green to 0 and latches the revert. The table swaps before the write so that routing
   * reacts at once even when the store is slow. Returns false when green is already at 0
   * (with a shared store: another replica reverted first, so its event is the only one).
   */
  revert(info: Omit<RevertInfo, 'at'>): Promise<boolean> {
    return this.#serialize(async () => {
      for (let attempt = 1; ; attempt++) {
        await this.#sync().catch(() => undefined)
        const before = this.#state
        if (before.greenBuckets === 0) return false
        const at = this.#now().toISOString()
        const reverted: RevertInfo = { at, ...info }
        const split: SplitState = { greenBuckets: 0, generation: before.generation + 1, reverted }
        const event = this.#event('revert', toPercent(before.greenBuckets), toPercent(0), 'auto-revert', info.reason)
        // A rollout in progress ends with the revert, in the same write: no replica may step green up again.
        const next: PersistedState = {
          split,
          events: this.#withEvent(event),
          rollout: abortedBy(this.#rollout, info.reason, at),
          targets: this.#targets,
          release: this.#release,
        }
        this.#setTable(makeTable(split.generation, 0, this.#release))
        try {
          await this.#store.save(next, event)
        } catch (err) {
          if (err instanceof WriteConflictError && attempt < REVERT_ATTEMPTS) continue
          // Safety first: green stays at 0 here even when the store refused or failed the write.
          if (this.#store.refresh !== undefined) this.#pendingRevert = { from: before, info: reverted, event, green: this.#targets.green }
          this.#logger.error({ err }, 'auto-revert applied here but the state could not be saved; it is written once the store answers')
        }
        this.#apply(next)
        this.#logger.warn(
          { event: 'revert', errorRate: info.errorRate, requests: info.requests, generation: split.generation },
          `auto-revert: green ${before.greenBuckets / 100}% -> 0%: ${info.reason}`,
        )
        this.#notify([event], 'local')
        return true
      }
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
    basedOn?: RolloutState | null,
  ): Promise<AuditEvent> {
    return this.#serialize(async () => {
      await this.#sync()
      this.#checkBasis(basedOn)
      const event = this.#event(type, from, to, source, reason)
      await this.#commit(this.#state, event, rollout)
      return event
    })
  }

  /** Stores rollout progress (checks, counters) without an audit event. */
  saveRollout(rollout: RolloutState | null, basedOn?: RolloutState | null): Promise<void> {
    return this.#serialize(async () => {
      await this.#sync()
      this.#checkBasis(basedOn)
      const next: PersistedState = { split: this.#state, events: this.#events, rollout, targets: this.#targets, release: this.#release }
      await this.#save(next, null)
      this.#apply(next)
    })
  }

  /**
   * Shared stores: applies what other replicas wrote, writes a revert made while the store was
   * unreachable, and seeds a store that lost its state (a new or flushed Redis) with this
   * replica's split. Throws StateUnavailableError when the store cannot be reached.
   */
  async #sync(): Promise<void> {
    const store = this.#store
    if (store.refresh === undefined) return
    if (this.#pendingRevert !== null) {
      try {
        await this.#writePendingRevert()
      } catch (err) {
        // Lost to another replica's write: the refresh below adopts it.
        if (!(err instanceof WriteConflictError)) throw err
      }
    }
    const fresh = await store.refresh()
    if (fresh === undefined) return
    if (fresh === 'behind') {
      try {
        await store.restore?.({ split: this.#state, events: this.#events, rollout: this.#rollout, targets: this.#targets, release: this.#release })
      } catch (err) {
        // Another replica that saw more put its state back first; the next sync adopts it.
        if (err instanceof WriteConflictError) return
        throw err
      }
      return
    }
    if (fresh === null) {
      // Nothing stored. A replica that only knows its config's split gives the others a moment.
      if (this.#offlineSince !== null) {
        this.#emptySeenAt ??= Date.now()
        const wait = OFFLINE_SEED_GRACE_MS - (Date.now() - this.#emptySeenAt)
        if (wait > 0) {
          setTimeout(() => void this.adopt(), wait + 10).unref()
          // A write now would start the fleet over from this replica's config: refuse it meanwhile.
          throw new StateUnavailableError(`Redis holds no state yet; this replica started from its config and waits ${Math.ceil(wait / 100) / 10}s for a replica that knows the fleet's split`)
        }
      }
      const state: PersistedState = {
        split: { ...this.#state, generation: Math.max(1, this.#state.generation) },
        events: this.#events,
        rollout: this.#rollout,
        targets: this.#targets,
        release: this.#release,
      }
      try {
        await this.#save(state, null)
      } catch (err) {
        // Another replica seeded first; #save adopted its state.
        if (err instanceof WriteConflictError) return
        throw err
      }
      this.#apply(state)
      this.#offlineSince = null
      this.#logger.warn(
        { green: state.split.greenBuckets / 100, generation: state.split.generation },
        'the shared store held no state (new or flushed); stored the split this replica routes with',
      )
      return
    }
    const wasOffline = this.#offlineSince !== null
    this.#offlineSince = null
    this.#adoptState(fresh)
    if (wasOffline) {
      this.#logger.info(
        { green: fresh.split.greenBuckets / 100, generation: fresh.split.generation },
        'the shared store answers: adopted its split in place of the config split this replica started with',
      )
    }
  }

  /**
   * Takes another replica's state and tells the listeners what changed (as `remote`): the
   * events newer than `known`, or one stand-in when only the split or the targets moved.
   */
  #adoptState(fresh: PersistedState, known: readonly AuditEvent[] = this.#events): void {
    const before = this.#state
    const targetsBefore = JSON.stringify(this.#targets)
    this.#apply(fresh)
    const added = newEvents(known, fresh.events).reverse()
    const moved =
      before.generation !== fresh.split.generation || before.greenBuckets !== fresh.split.greenBuckets || targetsBefore !== JSON.stringify(this.#targets)
    if (added.length === 0 && !moved) return
    // Listeners see every new event, oldest first, each with the adopted state.
    this.#notify(added.length > 0 ? added : [this.#event('split', null, null, 'remote', 'adopted from the shared store')], 'remote')
  }

  /** Writes a revert made while the store was unreachable, unless the split moved on meanwhile. */
  async #writePendingRevert(): Promise<void> {
    const pending = this.#pendingRevert!
    const stored = await this.#store.load()
    this.#pendingRevert = null
    // An empty store: the seeding that follows writes this replica's (reverted) state.
    if (stored === null) return
    // Judged on green's release of then: if green was pointed elsewhere meanwhile, it does not apply.
    const greenMoved = JSON.stringify(stored.targets?.green) !== JSON.stringify(pending.green)
    if (stored.split.generation !== pending.from.generation || stored.split.greenBuckets === 0 || greenMoved) {
      this.#logger.warn(
        { storedGeneration: stored.split.generation, revertedFrom: pending.from.generation, greenMoved },
        'the revert made while the shared store was unreachable is not written: the split or green changed meanwhile (or green is already 0)',
      )
      this.#adoptState(stored)
      return
    }
    const next: PersistedState = {
      split: { greenBuckets: 0, generation: stored.split.generation + 1, reverted: pending.info },
      events: [pending.event, ...stored.events].slice(0, this.#maxEvents),
      rollout: abortedBy(stored.rollout ?? null, pending.info.reason, pending.info.at),
      targets: stored.targets ?? null,
      release: stored.release ?? null,
    }
    try {
      await this.#store.save(next, pending.event)
      // What the others did meanwhile (targets, events) reaches the listeners like any adopted change.
      this.#adoptState(
        next,
        this.#events.filter((e) => e !== pending.event),
      )
      this.#logger.warn({ generation: next.split.generation }, 'wrote the revert made while the shared store was unreachable')
    } catch (err) {
      if (!(err instanceof WriteConflictError)) this.#pendingRevert = pending
      throw err
    }
  }

  /** Saves; a lost compare-and-set adopts the winner's state before the conflict goes up. */
  async #save(next: PersistedState, event: AuditEvent | null): Promise<void> {
    try {
      await this.#store.save(next, event)
    } catch (err) {
      if (err instanceof WriteConflictError) await this.#sync().catch(() => undefined)
      if (err instanceof WriteConflictError) throw new WriteConflictError(this.#state.generation)
      throw err
    }
  }

  /**
   * A rollout write is computed from the rollout its writer read. When that is no longer the
   * current one (another replica's leader checked or stepped, an operator paused it), the
   * write would undo that: refuse it.
   */
  #checkBasis(basedOn: RolloutState | null | undefined): void {
    // Compared by content: adopting an unrelated write of another replica makes a new but equal object.
    if (basedOn === undefined || basedOn === this.#rollout || JSON.stringify(basedOn) === JSON.stringify(this.#rollout)) return
    const now = this.#rollout
    throw new RolloutError(
      ControlErrors.SY_ERR_ROLLOUT_STATE,
      `the rollout changed while this request was in flight (it is now ${now === null ? 'gone' : `${now.phase} at step ${now.step + 1}`}); read it again and retry`,
    )
  }

  #serialize<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task, task)
    this.#queue = run.catch(() => undefined)
    return run
  }

  async #commit(
    split: SplitState,
    event: AuditEvent,
    rollout: RolloutState | null | undefined,
    targets: TargetOverrides = this.#targets,
    release: string = this.#release,
  ): Promise<void> {
    const next: PersistedState = {
      split,
      events: this.#withEvent(event),
      rollout: rollout === undefined ? this.#rollout : rollout,
      targets,
      release,
    }
    await this.#save(next, event)
    this.#apply(next)
    this.#notify([event], 'local')
  }

  #apply(state: PersistedState): void {
    this.#state = Object.freeze({ ...state.split })
    this.#events = Object.freeze([...state.events])
    this.#rollout = state.rollout ?? null
    this.#targets = state.targets ?? {}
    this.#release = state.release ?? ''
    const t = this.#table
    if (t.generation !== state.split.generation || t.greenBuckets !== state.split.greenBuckets || t.salt !== this.#release) {
      this.#setTable(makeTable(state.split.generation, state.split.greenBuckets, this.#release))
    }
  }

  #notify(events: readonly AuditEvent[], origin: ChangeOrigin): void {
    for (const event of events) {
      for (const listener of this.#listeners) {
        try {
          listener(this.#state, event, origin)
        } catch (err) {
          this.#logger.error({ err }, 'split change listener failed')
        }
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

/** The events in `fresh` (newest first) that are newer than the newest one in `known`. */
function newEvents(known: readonly AuditEvent[], fresh: readonly AuditEvent[]): AuditEvent[] {
  const top = known[0]
  if (top === undefined) return fresh.slice(0, 1)
  const key = JSON.stringify(top)
  const at = fresh.findIndex((e) => JSON.stringify(e) === key)
  // Not found: the log moved on further than the list keeps; the newest event stands for all.
  return at === -1 ? fresh.slice(0, 1) : fresh.slice(0, at)
}

/** A rollout that a revert ends: aborted when it was progressing or paused, else as it is. */
function abortedBy(rollout: RolloutState | null, reason: string, at: string): RolloutState | null {
  if (rollout === null || (rollout.phase !== 'progressing' && rollout.phase !== 'paused')) return rollout
  return { ...rollout, phase: 'aborted', endedAt: at, holdLeftMs: null, reason: `auto-revert: ${reason}` }
}

/** A new release's sticky salt: short, random, never reused. */
function newSalt(): string {
  return randomBytes(6).toString('base64url')
}
