import { randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import type { Logger } from 'pino'
import type { RedisSettings } from '../config/schema.js'
import type { WindowDelta } from './error-window.js'
import { FleetCounters } from './fleet-counters.js'
import { LeaderLease } from './leader-lease.js'
import { RedisLink } from './redis-link.js'
import { RedisStateStore } from './redis-store.js'
import type { StoreStatus } from './types.js'

/** How often a replica sends its window counts to Redis and reads the fleet's back. */
const EXCHANGE_EVERY_MS = 200
/** How long start-up waits for Redis before it starts from the config and keeps trying. */
const CONNECT_WAIT_MS = 3_000

/** /v1/status and /healthz: the store's connection and this replica's part in the fleet. */
export type FleetStatus = StoreStatus & { readonly replica: string; readonly leader: boolean }

/**
 * One replica's membership of a fleet: its Redis connection, the shared state store, the
 * window counters it exchanges and the lease that picks the replica driving rollouts.
 */
export class Fleet {
  readonly link: RedisLink
  readonly store: RedisStateStore
  readonly lease: LeaderLease
  readonly counters: FleetCounters
  readonly #logger: Logger
  #timer: NodeJS.Timeout | undefined

  private constructor(settings: RedisSettings, windowMs: number, logger: Logger) {
    this.#logger = logger
    this.link = new RedisLink(settings, logger)
    this.store = new RedisStateStore(this.link, { keyPrefix: settings.keyPrefix, logger })
    this.lease = new LeaderLease(this.link, { keyPrefix: settings.keyPrefix, id: `${hostname()}/${process.pid}/${randomUUID().slice(0, 8)}`, logger })
    this.counters = new FleetCounters(this.link, { keyPrefix: settings.keyPrefix, windowMs, logger })
  }

  /** Connects; a Redis that does not answer within 3 s is waited for in the background. */
  static async connect(settings: RedisSettings, windowMs: number, logger: Logger): Promise<Fleet> {
    const fleet = new Fleet(settings, windowMs, logger)
    await fleet.link.ready(CONNECT_WAIT_MS)
    return fleet
  }

  /**
   * Starts leading when the lease is free, and the exchange of window counts: `own` gives
   * what this process counted since the last call (or nothing when workers report through
   * `counters.add`), `merge` takes the fleet's new counts (or only this replica's while
   * Redis is away).
   */
  start(own: (() => readonly WindowDelta[]) | undefined, merge: (deltas: readonly WindowDelta[]) => void): void {
    this.lease.start()
    let exchanging = false
    this.#timer ??= setInterval(() => {
      if (exchanging) return
      exchanging = true
      if (own !== undefined) this.counters.add(own())
      this.counters
        .exchange()
        .then(({ deltas }) => merge(deltas))
        .catch((err: unknown) => this.#logger.error({ err }, 'fleet counter exchange failed'))
        .finally(() => (exchanging = false))
    }, EXCHANGE_EVERY_MS)
  }

  status(): FleetStatus {
    return { ...this.store.status(), replica: this.lease.id, leader: this.lease.leads() }
  }

  /** Hands the lease on at once (a stopping replica no longer drives rollouts) and stops exchanging. */
  async stopLeading(): Promise<void> {
    clearInterval(this.#timer)
    this.#timer = undefined
    await this.lease.stop()
  }

  async close(): Promise<void> {
    await this.stopLeading()
    await this.store.close()
    await this.link.close()
  }
}
