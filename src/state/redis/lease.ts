import type { Logger } from 'pino'
import type { RedisLink } from './link.js'

/**
 * Takes the lease when free, renews it when ours; 1 when this replica holds it after the call.
 * With ARGV[3] = 1 (deferring to another replica) a free lease is left free: 2.
 */
const ACQUIRE = `
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
elseif not holder then
  if ARGV[3] == '1' then return 2 end
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
`

/** Renewals in a row a holder must be told to defer before it hands the lease on (no flapping on a member list in flux). */
const HAND_OVER_AFTER = 5
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`

/**
 * One replica of the fleet at a time drives the rollout (its checks and steps): the holder
 * of a lease in Redis that it renews every second. A holder that dies or loses Redis stops
 * leading before its lease runs out, and another takes over.
 */
export class LeaderLease {
  readonly #link: RedisLink
  readonly #logger: Logger
  readonly #key: string
  readonly #id: string
  readonly #ttlMs: number
  #renewedAt = 0
  #timer: NodeJS.Timeout | undefined
  #renewing: Promise<void> = Promise.resolve()
  #stopped = false
  /** Whether another live replica should hold this lease rather than this one (several services: spread). */
  readonly #defer: (() => boolean) | undefined
  /** When this replica, deferring, first saw the lease free (0: not seen free). */
  #freeSince = 0
  /** Renewals in a row this holder was told to defer. */
  #deferred = 0

  constructor(link: RedisLink, options: { keyPrefix: string; id: string; logger: Logger; ttlMs?: number; defer?: () => boolean }) {
    this.#defer = options.defer
    this.#link = link
    this.#logger = options.logger
    this.#key = `${options.keyPrefix}leader`
    this.#id = options.id
    this.#ttlMs = options.ttlMs ?? 3_000
  }

  get id(): string {
    return this.#id
  }

  start(): void {
    this.#stopped = false
    void this.#renew()
    this.#timer ??= setInterval(() => void this.#renew(), Math.floor(this.#ttlMs / 3))
  }

  /** True while the lease is ours with a margin: it was renewed less than 2/3 of its life ago. */
  leads(): boolean {
    return Date.now() - this.#renewedAt < (this.#ttlMs * 2) / 3
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer)
    this.#timer = undefined
    this.#stopped = true
    // A renewal in flight would take the lease again after the release.
    await this.#renewing
    if (this.#renewedAt === 0) return
    this.#renewedAt = 0
    await this.#link.run((r) => r.eval(RELEASE, 1, this.#key, this.#id)).catch(() => undefined)
  }

  #renew(): Promise<void> {
    this.#renewing = this.#tryRenew()
    return this.#renewing
  }

  async #tryRenew(): Promise<void> {
    if (this.#stopped) return
    const asked = Date.now()
    const led = this.leads()
    const defer = this.#defer?.() === true
    if (led && defer && ++this.#deferred >= HAND_OVER_AFTER) {
      // Another live replica ranks first for this lease: hand it on (it takes it at its next renewal).
      this.#deferred = 0
      this.#renewedAt = 0
      await this.#link.run((r) => r.eval(RELEASE, 1, this.#key, this.#id)).catch(() => undefined)
      this.#logger.info({ replica: this.#id }, 'handing the lease to the replica that ranks first for it')
      return
    }
    if (!defer) this.#deferred = 0
    // A free lease waits one lease life for the replica that ranks first; past that anyone takes it.
    const wait = !led && defer && (this.#freeSince === 0 || asked - this.#freeSince < this.#ttlMs)
    try {
      const answer = await this.#link.run((r) => r.eval(ACQUIRE, 1, this.#key, this.#id, this.#ttlMs, wait ? '1' : '0'))
      const held = answer === 1
      this.#freeSince = answer === 2 ? this.#freeSince || asked : 0
      this.#renewedAt = held ? asked : 0
      if (held && !led) this.#logger.info({ replica: this.#id }, 'this replica leads the fleet: it drives rollouts')
    } catch {
      // Without Redis nobody can be sure to lead; the lease runs out on its own.
    }
  }
}
