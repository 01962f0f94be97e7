import { randomBytes } from 'node:crypto'
import type { Logger } from 'pino'
import { makeTable, COLORS, type Color, type RoutingTable, type TableSource } from '../../routing/types.js'
import { Replica, type ChangeOrigin } from '../../state/replica.js'
import type { AuditEvent, EventType, PersistedState, RevertInfo, RolloutState, SplitState, StateStore, TargetOverrides } from '../../state/types.js'
import { GenerationConflictError } from '../errors.js'
import { checkGreenHealthy, type ReleasePlane } from './plane.js'
import { TargetBook } from './targets.js'
import { DrainPolicy } from './drain-policy.js'
import type { Applied, ChangeListener, ReleaseOptions, SplitChange } from './types.js'
import { logAction } from './action-log.js'
import { ALL, auditEvent, checkBasis, mirrorTo, revertTo, rolloutTo, sameList, seedDocument, splitTo, targetsTo, toPercent, withEvent, type Cause, type RolloutCarriage } from './transitions.js'

export type { ChangeOrigin } from '../../state/replica.js'
export type { Applied, ChangeListener, ReleaseOptions, SplitChange } from './types.js'
/** How many times a revert retries after losing a write race to an unrelated change. */
const REVERT_ATTEMPTS = 5

/**
 * One release of one service, and its one writer. It holds the persisted document (split,
 * generation, revert latch, rollout, target overrides, sticky salt, audit log) through a
 * Replica, and every change goes through it: setSplit (promote, rollback, rollout steps),
 * revert, setTargets, swapColors, and the rollout's own records. Each write passes the health
 * gate where it moves green up, is durable before it is acknowledged, and returns its
 * propagation: the promise that every proxy process routes with it. It also carries the
 * release into the data plane: tables, targets, and the drain of a colour sent to 0.
 */
export class Release implements TableSource {
  readonly #replica: Replica
  readonly #logger: Logger
  readonly #maxEvents: number
  readonly #now: () => number
  readonly #reshuffle: () => boolean
  readonly #drainDeadline: () => number
  readonly #listeners: ChangeListener[] = []
  readonly #newGreenHooks: (() => Promise<void>)[] = []
  readonly #targets: TargetBook
  #table: RoutingTable = makeTable(0, 0)
  #plane: ReleasePlane | undefined
  #propagation: Promise<void> = Promise.resolve()
  readonly #drains = new DrainPolicy(0)

  constructor(store: StateStore, options: ReleaseOptions) {
    this.#logger = options.logger
    this.#maxEvents = options.maxEvents ?? 1000
    this.#now = options.now ?? Date.now
    this.#reshuffle = options.reshuffle ?? (() => false)
    this.#drainDeadline = options.drainDeadline ?? (() => 0)
    this.#targets = new TargetBook(options.configTargets ?? { blue: [], green: [] })
    this.#targets.onChange((color, targets) => this.#plane?.setTargets(color, targets))
    this.#replica = new Replica(store, { logger: this.#logger, now: this.#now, initial: { ...seedDocument(0), split: { greenBuckets: 0, generation: 0, reverted: null } } })
    this.#replica.onApply((doc) => this.#route(doc))
    this.#replica.onChange((doc, event, origin) => this.#changed(doc, event, origin))
  }

  /** Restores the stored release, or seeds it with the config's split (see Replica.init). */
  async init(seedGreenBuckets: number, seedMirrorBuckets = 0): Promise<{ restored: boolean; offline?: string }> {
    const result = await this.#replica.init(seedDocument(seedGreenBuckets, seedMirrorBuckets))
    this.#targets.settle(this.targetOverrides())
    this.#drains.reset(this.state().greenBuckets)
    return result
  }

  /**
   * From now on the release drives `plane`: new tables, targets and drains. `startedWith` is
   * the `current()` and `targets()` the plane started with; what changed since is pushed now.
   */
  attach(plane: ReleasePlane, startedWith: { readonly table: RoutingTable; readonly targets: Record<Color, readonly string[]> }): void {
    this.#plane = plane
    this.#drains.reset(this.state().greenBuckets)
    // A change adopted while the plane was starting (a fleet's split read meanwhile) reaches it now.
    if (startedWith.table !== this.#table) this.#propagation = plane.publish(this.#table)
    for (const color of COLORS) {
      if (!sameList(startedWith.targets[color], this.#targets.of(color))) plane.setTargets(color, this.#targets.of(color))
    }
  }

  /** The current routing snapshot (TableSource). One reference read. */
  current(): RoutingTable {
    return this.#table
  }

  state(): SplitState {
    return this.#replica.doc().split
  }

  /** The audit log, newest first. */
  events(): readonly AuditEvent[] {
    return this.#replica.doc().events
  }

  /** The rollout, if one was ever started (kept after it ends, until the next one). */
  rollout(): RolloutState | null {
    return this.#replica.doc().rollout ?? null
  }

  /** The share of blue's requests mirrored to green, in buckets (0: none). */
  mirror(): number {
    return this.#replica.doc().mirror?.buckets ?? 0
  }

  /** Targets set through the API in place of the config's (shared by a fleet). */
  targetOverrides(): TargetOverrides {
    return this.#replica.doc().targets ?? {}
  }

  /** What each colour points at now. */
  targets(): Record<Color, readonly string[]> {
    return this.#targets.all()
  }

  /** True while this replica routes with its config's split because it has not yet read the fleet's. */
  startedOffline(): boolean {
    return this.#replica.startedOffline()
  }

  /** Resolves once the last change routes (and samples shadows) in every proxy process. */
  propagated(): Promise<void> {
    return this.#propagation
  }

  onChange(listener: ChangeListener): void {
    this.#listeners.push(listener)
  }

  /** `listener` sees a colour pointed at other targets, here or through another replica. */
  onTargets(listener: (color: Color, targets: readonly string[]) => void): void {
    this.#targets.onChange(listener)
  }

  /** `hook` runs (and is awaited) after green points at new targets here: a new release to judge. */
  onNewGreen(hook: () => Promise<void>): void {
    this.#newGreenHooks.push(hook)
  }

  /** Brings this replica up to the shared store's release. Never throws. */
  adopt(): Promise<void> {
    return this.#replica.adopt()
  }

  /** Applies a split change once it is durable; clears a revert latch. */
  async setSplit(change: SplitChange): Promise<Applied<SplitState>> {
    await this.#gate(change.greenBuckets, change.force)
    const event = await this.#replica.write((doc) => {
      checkBasis(doc, change.basedOn)
      if (change.ifGeneration !== undefined && change.ifGeneration !== doc.split.generation) {
        throw new GenerationConflictError(change.ifGeneration, doc.split.generation)
      }
      return splitTo(doc, { ...change, ...(change.newRelease === true ? { salt: newSalt() } : {}) }, this.#now(), this.#maxEvents)
    })
    const split = this.state()
    logAction(this.#logger, event, change, split.generation)
    return { value: split, propagated: this.#propagation }
  }

  /** Mirrors `buckets` of blue's requests to green as shadows (a `mirror` event); no user moves, so no health gate. */
  async setMirror(buckets: number, cause: Cause): Promise<Applied<number>> {
    const event = await this.#replica.write((doc) => mirrorTo(doc, buckets, cause, this.#now(), this.#maxEvents))
    logAction(this.#logger, event, cause, this.state().generation)
    return { value: this.mirror(), propagated: this.#propagation }
  }

  promote(cause: Cause & { readonly ifGeneration?: number; readonly force?: boolean }): Promise<Applied<SplitState>> {
    return this.setSplit({ ...cause, greenBuckets: ALL, type: 'promote' })
  }

  rollback(cause: Cause & { readonly ifGeneration?: number }): Promise<Applied<SplitState>> {
    return this.setSplit({ ...cause, greenBuckets: 0, type: 'rollback' })
  }

  /**
   * Sends green to 0 and latches the revert. Routing swaps before the write so that it reacts
   * at once even when the store is slow, and stays so when the store fails (written once it
   * answers). False when green is already at 0 (in a fleet: another replica reverted first).
   */
  async revert(reason: Omit<RevertInfo, 'at'>): Promise<boolean> {
    const before = this.state().greenBuckets
    const reverted = await this.#replica.writeFirst(REVERT_ATTEMPTS, (doc) => revertTo(doc, reason, this.#now(), this.#maxEvents))
    if (reverted) {
      const event = { type: 'revert', from: toPercent(before), to: toPercent(0), source: 'auto-revert', reason: reason.reason } as const
      logAction(this.#logger, event, {}, this.state().generation, { errorRate: reason.errorRate, requests: reason.requests })
    }
    return reverted
  }

  /**
   * Points a colour at other targets (the config's again when they are the same), stored with
   * its `targets` event before anything changes. New green targets are a new release: its
   * evidence starts over, and with sticky.reshuffle perRelease it draws a new group of users.
   */
  async setTargets(color: Color, next: readonly string[], cause: Cause): Promise<Applied<AuditEvent>> {
    const override = this.#targets.overrideFor(color, next)
    const salt = color === 'green' && this.#reshuffle() ? newSalt() : undefined
    const from = this.#targets.of(color)
    const event = await this.#replica.write((doc) =>
      targetsTo(doc, { color, override, from, to: next, ...cause, ...(salt === undefined ? {} : { salt }) }, this.#now(), this.#maxEvents),
    )
    this.#targets.apply(color, next, true)
    logAction(this.#logger, event, cause, this.state().generation)
    if (color === 'green') await this.#runNewGreenHooks()
    return { value: event, propagated: this.#propagation }
  }

  /**
   * After a promotion the colours swap roles so the next release deploys to the idle one. At
   * every moment all traffic goes to the new release: blue takes green's targets first.
   */
  async swapColors(source: string): Promise<void> {
    const released = [...this.#targets.of('green')]
    const previous = [...this.#targets.of('blue')]
    await this.setTargets('blue', released, { source, reason: 'swap colours after promotion: blue takes the new release' })
    await this.setSplit({ greenBuckets: 0, type: 'split', source, reason: 'swap colours after promotion', force: true })
    await this.setTargets('green', previous, { source, reason: 'swap colours after promotion: green is idle for the next release' })
  }

  /**
   * The config was re-read: a colour whose config targets changed follows them (they win over
   * targets set through the API, whose shared override stays for replicas on the old config).
   * The file is this replica's truth, so they apply even when the event cannot be stored.
   */
  async reloadTargets(wanted: Record<Color, readonly string[]>, who?: string): Promise<void> {
    const before = this.#targets.all()
    for (const color of this.#targets.setConfig(wanted)) {
      const from = before[color]
      this.#targets.apply(color, this.#targets.effective(color, this.targetOverrides()), true)
      const salt = color === 'green' && this.#reshuffle() ? newSalt() : undefined
      const override = this.targetOverrides()[color] ?? null
      const to = this.#targets.of(color)
      const cause = { source: 'reload', reason: 'config reloaded', who }
      await this.#replica
        .write((doc) => targetsTo(doc, { color, override, from, to, ...cause, ...(salt === undefined ? {} : { salt }) }, this.#now(), this.#maxEvents))
        .catch((err: unknown) => this.#logger.warn({ err: String(err) }, 'new targets from the config apply; their audit event could not be stored'))
      logAction(this.#logger, { type: 'targets', from: { color, targets: [...from] }, to: { color, targets: [...to] }, ...cause }, cause, this.state().generation)
      if (color === 'green') await this.#runNewGreenHooks().catch(() => undefined)
    }
  }

  /**
   * Records an event that does not move the split (a rollout paused, a shared degradation),
   * with the rollout state to store in the same write when given.
   */
  async record(event: { readonly type: EventType; readonly from: unknown; readonly to: unknown } & Cause, carriage: RolloutCarriage = {}): Promise<AuditEvent> {
    const stored = await this.#replica.write((doc) => {
      checkBasis(doc, carriage.basedOn)
      return withEvent(doc, auditEvent(this.#now(), event.type, event.from, event.to, event), this.#maxEvents, { rollout: carriage.rollout })
    })
    logAction(this.#logger, stored, event, this.state().generation)
    return stored
  }

  /** Stores rollout progress (checks, counters) without an audit event. */
  async saveRollout(rollout: RolloutState | null, basedOn?: RolloutState | null): Promise<void> {
    await this.#replica.write((doc) => {
      checkBasis(doc, basedOn)
      return rolloutTo(doc, rollout)
    })
  }

  async #gate(greenBuckets: number, force: boolean | undefined): Promise<void> {
    if (force === true || this.#plane === undefined || greenBuckets === 0 || greenBuckets <= this.state().greenBuckets) return
    checkGreenHealthy((await this.#plane.health()).green)
  }

  /** A document taken up: a new table when the split, the salt or the mirror share moved, pushed to every proxy process. */
  #route(doc: PersistedState): void {
    const salt = doc.release ?? ''
    const mirror = doc.mirror?.buckets ?? 0
    const t = this.#table
    if (t.generation === doc.split.generation && t.greenBuckets === doc.split.greenBuckets && t.salt === salt && t.mirrorBuckets === mirror) return
    this.#table = makeTable(doc.split.generation, doc.split.greenBuckets, salt, mirror)
    if (this.#plane !== undefined) this.#propagation = this.#plane.publish(this.#table)
  }

  #changed(doc: PersistedState, event: AuditEvent, origin: ChangeOrigin): void {
    if (origin === 'remote') {
      // Another replica pointed a colour at new targets: this one follows.
      for (const color of COLORS) {
        const wanted = this.#targets.effective(color, this.targetOverrides())
        if (this.#targets.apply(color, wanted)) this.#logger.info({ color, targets: wanted }, `${color} targets changed through another replica`)
      }
    }
    if (this.#plane !== undefined) this.#drains.follow(doc.split.greenBuckets, this.#plane, this.#drainDeadline())
    for (const listener of this.#listeners) {
      try {
        listener(doc.split, event, origin)
      } catch (err) {
        this.#logger.error({ err }, 'release change listener failed')
      }
    }
  }

  async #runNewGreenHooks(): Promise<void> {
    for (const hook of this.#newGreenHooks) await hook()
  }
}

/** A new release's sticky salt: short, random, never reused. */
function newSalt(): string {
  return randomBytes(6).toString('base64url')
}
