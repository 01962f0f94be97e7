import { createHash, randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import type { Logger } from 'pino'
import type { RedisSettings } from '../../config/schema.js'
import type { WindowDelta } from '../../outcomes/window-delta.js'
import { FleetCounters } from './counters.js'
import { LeaderLease } from './lease.js'
import { RedisLink } from './link.js'
import { RedisStateStore } from './store.js'
import type { StoreStatus } from '../types.js'

/** How often a replica sends its window counts to Redis and reads the fleet's back. */
/** How long a replica's shared mirror report outlives its last share (it shares every few seconds). */
const REPORT_TTL_SECONDS = 30
const EXCHANGE_EVERY_MS = 200
/** How long start-up waits for Redis before it starts from the config and keeps trying. */
const CONNECT_WAIT_MS = 3_000
/** Each replica says it is alive this often; one silent for MEMBER_GONE_MS is no longer listed. */
const HEARTBEAT_EVERY_MS = 1_000
const MEMBER_GONE_MS = 5_000

/** A new link to Redis, once it answers or after 3 s (it keeps trying in the background). */
export async function connectLink(settings: RedisSettings, logger: Logger): Promise<RedisLink> {
  const link = new RedisLink(settings, logger)
  await link.ready(CONNECT_WAIT_MS)
  return link
}

/** How a replica names itself in leases, member lists and mirror reports. */
export function replicaId(): string {
  return `${hostname()}/${process.pid}/${randomUUID().slice(0, 8)}`
}

/**
 * The replica that should hold the lease under `prefix` among `replicas` (rendezvous
 * hashing): each lease ranks them by its own hash, so leases spread evenly and a replica
 * leaving moves only its own. Undefined when there are none.
 */
export function rankedFirst(prefix: string, replicas: readonly string[]): string | undefined {
  let best: string | undefined
  let bestScore = ''
  for (const id of replicas) {
    const score = createHash('sha256').update(`${prefix}\n${id}`).digest('hex')
    if (best === undefined || score > bestScore) [best, bestScore] = [id, score]
  }
  return best
}

/** A replica of the fleet as the others see it. */
export interface FleetMember {
  readonly replica: string
  readonly lastSeenMsAgo: number
}

/** /v1/status and /healthz: the store's connection and this replica's part in the fleet. */
export type FleetStatus = StoreStatus & {
  readonly replica: string
  readonly leader: boolean
  /** Replicas seen in the last 5 s (this one included), as of the last heartbeat. */
  readonly members: readonly FleetMember[]
}

/**
 * One replica's membership of a fleet: its Redis connection, the shared state store, the
 * window counters it exchanges and the lease that picks the replica driving rollouts.
 */
export class Fleet {
  readonly link: RedisLink
  readonly store: RedisStateStore
  readonly lease: LeaderLease
  readonly counters: FleetCounters
  /** The same counts for shadow traffic (both colours' answers to mirrored requests), under `<prefix>shadow:`. */
  readonly shadowCounters: FleetCounters
  readonly #logger: Logger
  readonly #membersKey: string
  readonly #reportPrefix: string
  #timer: NodeJS.Timeout | undefined
  #heartbeat: NodeJS.Timeout | undefined
  #members: FleetMember[] = []
  /** false on a link several services share: close() leaves it open. */
  readonly #ownsLink: boolean

  private constructor(link: RedisLink, ownsLink: boolean, prefix: string, windowMs: number, logger: Logger, replica?: string, spread = false) {
    this.#logger = logger
    this.link = link
    this.#ownsLink = ownsLink
    this.store = new RedisStateStore(this.link, { keyPrefix: prefix, logger })
    const id = replica ?? replicaId()
    // Several services: each lease ranks the live replicas by a hash of (service, replica), so
    // their rollouts spread over the fleet; one service alone needs no ranking.
    const defer = spread
      ? () => {
          const first = rankedFirst(prefix, [id, ...this.#members.map((m) => m.replica).filter((m) => m !== id)])
          return first !== undefined && first !== id
        }
      : undefined
    this.lease = new LeaderLease(this.link, { keyPrefix: prefix, id, logger, ...(defer === undefined ? {} : { defer }) })
    this.counters = new FleetCounters(this.link, { keyPrefix: prefix, windowMs, logger })
    this.shadowCounters = new FleetCounters(this.link, { keyPrefix: `${prefix}shadow:`, windowMs, logger })
    this.#membersKey = `${prefix}replicas`
    this.#reportPrefix = `${prefix}mirror-report:`
  }

  /** Connects; a Redis that does not answer within 3 s is waited for in the background. */
  static async connect(settings: RedisSettings, windowMs: number, logger: Logger): Promise<Fleet> {
    return new Fleet(await connectLink(settings, logger), true, settings.keyPrefix, windowMs, logger)
  }

  /**
   * One service's fleet on a link several services share, all its keys under `prefix`; its
   * close leaves the link open (whoever made the link closes it). `replica`: this process's
   * id, the same in every service's lease and member list.
   */
  static forService(link: RedisLink, prefix: string, windowMs: number, logger: Logger, replica?: string, spread = false): Fleet {
    return new Fleet(link, false, prefix, windowMs, logger, replica, spread)
  }

  /**
   * Starts leading when the lease is free, and the exchange of window counts: `own` gives
   * what this process counted since the last call (or nothing when workers report through
   * `counters.add`), `merge` takes the fleet's new counts (or only this replica's while
   * Redis is away).
   */
  start(
    own: (() => readonly WindowDelta[]) | undefined,
    merge: (deltas: readonly WindowDelta[]) => void,
    shadows?: { readonly own: () => readonly WindowDelta[]; readonly merge: (deltas: readonly WindowDelta[]) => void },
  ): void {
    this.lease.start()
    void this.#beat()
    this.#heartbeat ??= setInterval(() => void this.#beat(), HEARTBEAT_EVERY_MS)
    let exchanging = false
    this.#timer ??= setInterval(() => {
      if (exchanging) return
      exchanging = true
      if (own !== undefined) this.counters.add(own())
      if (shadows !== undefined) this.shadowCounters.add(shadows.own())
      const exchanges = [this.counters.exchange().then(({ deltas }) => merge(deltas))]
      if (shadows !== undefined) exchanges.push(this.shadowCounters.exchange().then(({ deltas }) => shadows.merge(deltas)))
      Promise.all(exchanges)
        .catch((err: unknown) => this.#logger.error({ err }, 'fleet counter exchange failed'))
        .finally(() => (exchanging = false))
    }, EXCHANGE_EVERY_MS)
  }

  /** Shares this replica's mirror report (JSON) for the fleet's sum; it lapses 30 s after the last share. */
  async shareReport(json: string): Promise<void> {
    await this.link.run((r) => r.set(this.#reportPrefix + this.lease.id, json, 'EX', REPORT_TTL_SECONDS))
  }

  /** The mirror reports the other replicas seen alive shared (JSON), newest of each. */
  async otherReports(): Promise<string[]> {
    const others = this.#members.map((m) => m.replica).filter((id) => id !== this.lease.id)
    if (others.length === 0) return []
    const found = await this.link.run((r) => r.mget(...others.map((id) => this.#reportPrefix + id)))
    return found.filter((json): json is string => json !== null)
  }

  status(): FleetStatus {
    return { ...this.store.status(), replica: this.lease.id, leader: this.lease.leads(), members: this.#members }
  }

  /** Hands the lease on at once (a stopping replica no longer drives rollouts), stops exchanging and leaves the member list. */
  async stopLeading(): Promise<void> {
    clearInterval(this.#timer)
    clearInterval(this.#heartbeat)
    this.#timer = undefined
    this.#heartbeat = undefined
    await this.lease.stop()
    await this.link.run((r) => r.zrem(this.#membersKey, this.lease.id)).catch(() => undefined)
  }

  /** Says this replica is alive and reads who else is (a sorted set scored by last heartbeat). */
  async #beat(): Promise<void> {
    try {
      const now = Date.now()
      const seen = await this.link.run(async (r) => {
        const replies = await r
          .multi()
          .zadd(this.#membersKey, String(now), this.lease.id)
          .zremrangebyscore(this.#membersKey, '-inf', String(now - MEMBER_GONE_MS))
          .zrange(this.#membersKey, '0', '-1', 'WITHSCORES')
          .exec()
        const failed = replies?.find(([err]) => err !== null)
        if (replies === null || failed !== undefined) throw failed?.[0] ?? new Error('the heartbeat was not run')
        return replies[2]![1] as string[]
      })
      const members: FleetMember[] = []
      for (let i = 0; i + 1 < seen.length; i += 2) members.push({ replica: seen[i]!, lastSeenMsAgo: Math.max(0, now - Number(seen[i + 1])) })
      this.#members = members
    } catch {
      // Redis away: the list stays as last read; /v1/status says degraded anyway.
    }
  }

  async close(): Promise<void> {
    await this.stopLeading()
    await this.store.close()
    if (this.#ownsLink) await this.link.close()
  }
}
