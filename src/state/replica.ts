/*
 * Over 300 lines because the serialized write path and the shared-store sync share one queue
 * and one document: a write syncs first, a lost compare-and-set adopts the winner, a pending
 * safety-first write is re-based inside the same sync. Split apart, each half would reach into
 * the other's private state.
 */
import type { Logger } from 'pino'
import { StateUnavailableError, WriteConflictError } from './errors.js'
import { sameData } from './same-data.js'
import type { AuditEvent, PersistedState, StateStore } from './types.js'

/**
 * Where a change was made: here (`local`), or by another replica and adopted from the shared
 * store (`remote`). Side effects that must happen once per fleet (webhooks, counters of
 * changes, a rollout reacting to an operator) follow local changes only.
 */
export type ChangeOrigin = 'local' | 'remote'

/** Told of every event that changed the document, oldest first, with the document after it. */
export type DocumentListener = (doc: PersistedState, event: AuditEvent, origin: ChangeOrigin) => void

/** What a write computes from the document it read: the next document and its audit event. */
export interface Transition<T = void> {
  readonly next: PersistedState
  /** The audit event this write adds (already first in `next.events`), or null. */
  readonly event: AuditEvent | null
  readonly result: T
}

/**
 * A write applied here before the store took it (safety first: a revert). When the store
 * could not be written, it is written once the store answers, re-based on what the store
 * holds then, or dropped when it no longer applies.
 */
export interface PendingWrite {
  readonly event: AuditEvent
  /** The document to write over `stored` (this write's event first in its log), or null when the write no longer applies. */
  rebase(stored: PersistedState): PersistedState | null
}

/** A replica that started from its config waits this long for a known state before seeding an empty store. */
const OFFLINE_SEED_GRACE_MS = 2_000

/**
 * This process's copy of the persisted document, kept in step with its store: writes are
 * serialized, each one durable (compare-and-set on a shared store) before it is applied and
 * announced; with a shared store it adopts what other replicas write, puts back a store that
 * went back in time, seeds one that lost its state, and writes a safety-first change that
 * could not be stored once the store answers. It knows the document's shape, not its meaning.
 */
export class Replica {
  readonly #store: StateStore
  readonly #logger: Logger
  readonly #now: () => number
  readonly #listeners: DocumentListener[] = []
  readonly #applyListeners: ((doc: PersistedState) => void)[] = []
  #doc: PersistedState
  #queue: Promise<unknown> = Promise.resolve()
  /** Started while the shared store was unreachable: routing with the config's document, never stored. */
  #offlineSince: number | null = null
  #emptySeenAt: number | null = null
  #pending: PendingWrite | null = null

  constructor(store: StateStore, options: { readonly logger: Logger; readonly now?: () => number; readonly initial: PersistedState }) {
    this.#store = store
    this.#logger = options.logger
    this.#now = options.now ?? Date.now
    this.#doc = options.initial
  }

  /** True for a store other replicas write too (Redis). */
  get shared(): boolean {
    return this.#store.kind === 'shared'
  }

  /**
   * Restores the stored document, or stores `seed`. A shared store that cannot be reached
   * leaves `seed` (generation 0, never stored) in use until it answers (`offline` says why).
   */
  async init(seed: PersistedState): Promise<{ restored: boolean; offline?: string }> {
    let stored: PersistedState | null
    try {
      stored = await this.#store.load()
    } catch (err) {
      if (!(err instanceof StateUnavailableError) || !this.shared) throw err
      this.#apply({ ...seed, split: { ...seed.split, generation: 0 } })
      this.#offlineSince = this.#now()
      this.#watch()
      return { restored: false, offline: err.message }
    }
    this.#watch()
    if (stored !== null) {
      this.#apply(stored)
      return { restored: true }
    }
    try {
      await this.#store.save(seed, null)
    } catch (err) {
      // Another replica starting at the same moment seeded first: take its document.
      const winner = err instanceof WriteConflictError ? await this.#store.load() : null
      if (winner === null) throw err
      this.#apply(winner)
      return { restored: true }
    }
    this.#apply(seed)
    return { restored: false }
  }

  doc(): PersistedState {
    return this.#doc
  }

  /** True while this replica works from its config because it has not yet read the fleet's document. */
  startedOffline(): boolean {
    return this.#offlineSince !== null
  }

  /** `listener` sees every event that changed the document, here or (adopted) elsewhere. */
  onChange(listener: DocumentListener): void {
    this.#listeners.push(listener)
  }

  /** `listener` sees every document this replica takes up, before it is stored when a write is safety-first. */
  onApply(listener: (doc: PersistedState) => void): void {
    this.#applyListeners.push(listener)
  }

  /** Brings this replica up to the shared store (pub/sub, reconcile, reconnect). Never throws. */
  adopt(): Promise<void> {
    return this.#serialize(async () => {
      try {
        await this.#sync()
      } catch (err) {
        if (!(err instanceof StateUnavailableError)) this.#logger.error({ err }, 'could not adopt the shared state')
      }
    })
  }

  /**
   * Read, compute, store, apply, announce, one at a time. `compute` sees the freshest document
   * (other replicas' writes adopted first) and may throw to refuse; nothing changes then.
   */
  write<T>(compute: (doc: PersistedState) => Transition<T>): Promise<T> {
    return this.#serialize(async () => {
      await this.#sync()
      const { next, event, result } = compute(this.#doc)
      await this.#save(next, event)
      this.#apply(next)
      if (event !== null) this.#notify([event], 'local')
      return result
    })
  }

  /**
   * A write that takes effect here before it is stored, and stays in effect when the store
   * refuses or fails it (retried up to `attempts` times after losing a race; else written once
   * the store answers, see PendingWrite). `compute` returns null when there is nothing to do.
   */
  writeFirst(attempts: number, compute: (doc: PersistedState) => (Transition<PendingWrite> & { readonly event: AuditEvent }) | null): Promise<boolean> {
    return this.#serialize(async () => {
      for (let attempt = 1; ; attempt++) {
        await this.#sync().catch(() => undefined)
        const step = compute(this.#doc)
        if (step === null) return false
        this.#tell(step.next)
        try {
          await this.#store.save(step.next, step.event)
        } catch (err) {
          if (err instanceof WriteConflictError && attempt < attempts) continue
          if (this.shared) this.#pending = step.result
          this.#logger.error({ err }, `${step.event.type} applied here but the state could not be saved; it is written once the store answers`)
        }
        this.#apply(step.next)
        this.#notify([step.event], 'local')
        return true
      }
    })
  }

  /**
   * Shared stores: applies what other replicas wrote, writes a pending write, and seeds a store
   * that lost its state with this replica's document. Throws StateUnavailableError when the
   * store cannot be reached.
   */
  async #sync(): Promise<void> {
    const store = this.#store
    if (store.refresh === undefined) return
    if (this.#pending !== null) {
      try {
        await this.#writePending()
      } catch (err) {
        // Lost to another replica's write: the refresh below adopts it.
        if (!(err instanceof WriteConflictError)) throw err
      }
    }
    const fresh = await store.refresh()
    if (fresh === undefined) return
    if (fresh === 'behind') {
      try {
        await store.restore?.(this.#doc)
      } catch (err) {
        // Another replica that saw more put its state back first; the next sync adopts it.
        if (err instanceof WriteConflictError) return
        throw err
      }
      return
    }
    if (fresh === null) return this.#seedEmpty()
    const wasOffline = this.#offlineSince !== null
    this.#offlineSince = null
    this.#adopt(fresh)
    if (wasOffline) {
      this.#logger.info(
        { green: fresh.split.greenBuckets / 100, generation: fresh.split.generation },
        'the shared store answers: adopted its split in place of the config split this replica started with',
      )
    }
  }

  /** Nothing stored (a new or flushed Redis): stores this replica's document, after a grace when it only knows its config. */
  async #seedEmpty(): Promise<void> {
    if (this.#offlineSince !== null) {
      this.#emptySeenAt ??= this.#now()
      const wait = OFFLINE_SEED_GRACE_MS - (this.#now() - this.#emptySeenAt)
      if (wait > 0) {
        setTimeout(() => void this.adopt(), wait + 10).unref()
        // A write now would start the fleet over from this replica's config: refuse it meanwhile.
        throw new StateUnavailableError(
          `Redis holds no state yet; this replica started from its config and waits ${Math.ceil(wait / 100) / 10}s for a replica that knows the fleet's split`,
        )
      }
    }
    const doc: PersistedState = { ...this.#doc, split: { ...this.#doc.split, generation: Math.max(1, this.#doc.split.generation) } }
    try {
      await this.#save(doc, null)
    } catch (err) {
      // Another replica seeded first; #save adopted its document.
      if (err instanceof WriteConflictError) return
      throw err
    }
    this.#apply(doc)
    this.#offlineSince = null
    this.#logger.warn(
      { green: doc.split.greenBuckets / 100, generation: doc.split.generation },
      'the shared store held no state (new or flushed); stored the split this replica routes with',
    )
  }

  /**
   * Takes another replica's document and tells the listeners what changed (as `remote`): the
   * events newer than `known`, or one stand-in when only the split or the targets moved.
   */
  #adopt(fresh: PersistedState, known: readonly AuditEvent[] = this.#doc.events): void {
    const before = this.#doc
    this.#apply(fresh)
    const added = newEvents(known, fresh.events).reverse()
    const moved =
      before.split.generation !== fresh.split.generation ||
      before.split.greenBuckets !== fresh.split.greenBuckets ||
      !sameData(before.targets ?? {}, fresh.targets ?? {})
    if (added.length === 0 && !moved) return
    const standIn: AuditEvent = { at: new Date(this.#now()).toISOString(), type: 'split', from: null, to: null, source: 'remote', reason: 'adopted from the shared store' }
    this.#notify(added.length > 0 ? added : [standIn], 'remote')
  }

  /** Writes a safety-first change made while the store was unreachable, re-based on what it holds now. */
  async #writePending(): Promise<void> {
    const pending = this.#pending!
    const stored = await this.#store.load()
    this.#pending = null
    // An empty store: the seeding that follows writes this replica's document.
    if (stored === null) return
    const next = pending.rebase(stored)
    if (next === null) {
      this.#logger.warn(
        { storedGeneration: stored.split.generation, event: pending.event.type },
        `the ${pending.event.type} made while the shared store was unreachable is not written: the split or the targets changed meanwhile`,
      )
      this.#adopt(stored)
      return
    }
    try {
      // The re-based document's first event is this write's, with its place in the stored log.
      await this.#store.save(next, next.events[0] ?? pending.event)
      // What the others did meanwhile (targets, events) reaches the listeners like any adopted change.
      this.#adopt(
        next,
        this.#doc.events.filter((e) => e !== pending.event),
      )
      this.#logger.warn({ generation: next.split.generation }, `wrote the ${pending.event.type} made while the shared store was unreachable`)
    } catch (err) {
      if (!(err instanceof WriteConflictError)) this.#pending = pending
      throw err
    }
  }

  /** Saves; a lost compare-and-set adopts the winner's document before the conflict goes up. */
  async #save(next: PersistedState, event: AuditEvent | null): Promise<void> {
    try {
      await this.#store.save(next, event)
    } catch (err) {
      if (!(err instanceof WriteConflictError)) throw err
      await this.#sync().catch(() => undefined)
      throw new WriteConflictError(this.#doc.split.generation)
    }
  }

  #serialize<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task, task)
    this.#queue = run.catch(() => undefined)
    return run
  }

  #watch(): void {
    this.#store.watch?.(() => void this.adopt())
  }

  #apply(doc: PersistedState): void {
    this.#doc = doc
    this.#tell(doc)
  }

  #tell(doc: PersistedState): void {
    for (const listener of this.#applyListeners) {
      try {
        listener(doc)
      } catch (err) {
        this.#logger.error({ err }, 'document listener failed')
      }
    }
  }

  #notify(events: readonly AuditEvent[], origin: ChangeOrigin): void {
    for (const event of events) {
      for (const listener of this.#listeners) {
        try {
          listener(this.#doc, event, origin)
        } catch (err) {
          this.#logger.error({ err }, 'change listener failed')
        }
      }
    }
  }
}

/** The events in `fresh` (newest first) that are newer than the newest one in `known`. */
function newEvents(known: readonly AuditEvent[], fresh: readonly AuditEvent[]): AuditEvent[] {
  const top = known[0]
  if (top === undefined) return fresh.slice(0, 1)
  const at = fresh.findIndex((e) => sameData(e, top))
  // Not found: the log moved on further than the list keeps; the newest event stands for all.
  return at === -1 ? fresh.slice(0, 1) : fresh.slice(0, at)
}
