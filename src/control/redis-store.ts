import { randomUUID } from 'node:crypto'
import type { Logger } from 'pino'
import { StateUnavailableError, WriteConflictError } from './errors.js'
import type { RedisLink } from './redis-link.js'
import { decodeState, encodeState } from './state-codec.js'
import type { AuditEvent, PersistedState, StateStore, StoreStatus } from './types.js'

/** How often each replica compares its write version with Redis's: heals a missed message. */
const RECONCILE_EVERY_MS = 500
/**
 * A write must run within this long of Redis's clock reading before it (well inside the
 * command timeout), so a write held up by a hung Redis never lands after its 503.
 */
const WRITE_DEADLINE_MS = 700

/** Reads the state hash and the newest events in one step. */
const LOAD = `
local head = redis.call('HMGET', KEYS[1], 'rev', 'epoch', 'doc')
local events = redis.call('LRANGE', KEYS[2], 0, tonumber(ARGV[1]) - 1)
return {head[1] or false, head[2] or false, head[3] or false, events}
`

/**
 * The compare-and-set: writes only when the stored write version is the one the writer read
 * (0: nothing stored, which also starts a new epoch). Adds the events, trims the log and
 * announces the new version, all in one atomic step. A script that runs after its deadline
 * (Redis's clock) writes nothing: its writer has given up and told the admin so.
 */
const SAVE = `
local t = redis.call('TIME')
if tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) > tonumber(ARGV[7]) then return {-1, 0, ''} end
local head = redis.call('HMGET', KEYS[1], 'rev', 'epoch')
local rev = tonumber(head[1] or '0')
local epoch = head[2] or ''
if rev ~= tonumber(ARGV[1]) or (rev ~= 0 and epoch ~= ARGV[2]) then return {0, rev, epoch} end
if rev == 0 then
  epoch = ARGV[3]
  redis.call('DEL', KEYS[2])
end
rev = rev + 1
redis.call('HSET', KEYS[1], 'rev', rev, 'epoch', epoch, 'doc', ARGV[4])
for i = 8, #ARGV do redis.call('LPUSH', KEYS[2], ARGV[i]) end
if #ARGV >= 8 then redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[5]) - 1) end
redis.call('PUBLISH', ARGV[6], epoch .. ':' .. rev)
return {1, rev, epoch}
`

/**
 * Puts a replica's newer state back when Redis went back in time (same epoch, an older write
 * version): only over an older version, so of several replicas the one that saw most wins.
 */
const RESTORE = `
local head = redis.call('HMGET', KEYS[1], 'rev', 'epoch')
local rev = tonumber(head[1] or '0')
if (head[2] or '') ~= ARGV[2] or rev >= tonumber(ARGV[1]) then return {0, rev, head[2] or ''} end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[1], 'rev', ARGV[1], 'epoch', ARGV[2], 'doc', ARGV[3])
for i = 6, #ARGV do redis.call('LPUSH', KEYS[2], ARGV[i]) end
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[4]) - 1)
redis.call('PUBLISH', ARGV[5], ARGV[2] .. ':' .. ARGV[1])
return {1, tonumber(ARGV[1]), ARGV[2]}
`

/** Where a replica's view of the stored state is: an epoch (changes when Redis lost it) and a version. */
interface Version {
  readonly epoch: string
  readonly rev: number
}

/**
 * The fleet's state in Redis: `<prefix>state` (a hash: write version, epoch, the split and
 * rollout as JSON), `<prefix>events` (the audit log, newest first) and the channel
 * `<prefix>changes`. Every write is a compare-and-set on the write version, so two admins
 * writing through two replicas cannot interleave; the loser gets WriteConflictError.
 */
export class RedisStateStore implements StateStore {
  readonly #link: RedisLink
  readonly #logger: Logger
  readonly #maxEvents: number
  readonly #keys: { readonly state: string; readonly events: string; readonly channel: string }
  /** The version this replica last read or wrote; null before the first read. */
  #version: Version | null = null
  #listener: (() => void) | undefined
  #timer: NodeJS.Timeout | undefined
  /** Why the stored state cannot be read, while it cannot. */
  #problem: string | null = null

  constructor(link: RedisLink, options: { keyPrefix: string; logger: Logger; maxEvents?: number }) {
    this.#link = link
    this.#logger = options.logger
    this.#maxEvents = options.maxEvents ?? 1000
    const p = options.keyPrefix
    this.#keys = { state: `${p}state`, events: `${p}events`, channel: `${p}changes` }
  }

  /** The channel every write is announced on. */
  get channel(): string {
    return this.#keys.channel
  }

  async load(): Promise<PersistedState | null> {
    const reply = (await this.#link.run((r) => r.eval(LOAD, 2, this.#keys.state, this.#keys.events, this.#maxEvents))) as [
      string | null,
      string | null,
      string | null,
      string[],
    ]
    const [rev, epoch, doc, events] = reply
    if (rev === null || doc === null) {
      this.#version = { epoch: '', rev: 0 }
      this.#readable()
      return null
    }
    let data: unknown
    try {
      data = { ...(JSON.parse(doc) as object), events: events.map((e) => JSON.parse(e) as unknown) }
    } catch (err) {
      this.#unreadable(` (${(err as Error).message})`)
    }
    const decoded = decodeState(data)
    if (typeof decoded === 'string') this.#unreadable(decoded)
    this.#version = { epoch: epoch ?? '', rev: Number(rev) }
    this.#readable()
    return decoded
  }

  /**
   * What Redis holds under the prefix is not a state this version can read (another program,
   * a hand edit): the replica keeps routing as it does, says degraded and refuses changes
   * until an operator fixes or deletes the keys. Nothing is overwritten.
   */
  #unreadable(problem: string): never {
    const message = `Redis key ${this.#keys.state} does not hold a switchyard state${problem}; fix it or delete ${this.#keys.state} and ${this.#keys.events}`
    if (this.#problem !== message) this.#logger.error({ key: this.#keys.state }, message)
    this.#problem = message
    throw new StateUnavailableError(message)
  }

  #readable(): void {
    if (this.#problem !== null) this.#logger.info({ key: this.#keys.state }, 'the shared state in Redis is readable again')
    this.#problem = null
  }

  async save(state: PersistedState, event?: AuditEvent | null): Promise<void> {
    const base = this.#version ?? { epoch: '', rev: -1 }
    // A first write carries the whole log this replica holds (a flushed Redis gets it back).
    const added = base.rev === 0 ? [...state.events].reverse() : event === null || event === undefined ? [] : [event]
    const doc = JSON.stringify(encodeState(state, false))
    const reply = (await this.#link.run(async (r) => {
      const [seconds, micros] = await r.time()
      const deadline = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000) + WRITE_DEADLINE_MS
      return r.eval(
        SAVE,
        2,
        this.#keys.state,
        this.#keys.events,
        base.rev,
        base.epoch,
        randomUUID(),
        doc,
        this.#maxEvents,
        this.#keys.channel,
        deadline,
        ...added.map((e) => JSON.stringify(e)),
      )
    })) as [number, number, string]
    const [ok, rev, epoch] = reply
    if (ok === -1) throw new StateUnavailableError(`Redis at ${this.#link.where} ran the write too late, so it wrote nothing`)
    if (ok !== 1) throw new WriteConflictError(state.split.generation)
    this.#version = { epoch, rev }
  }

  async refresh(): Promise<PersistedState | null | undefined | 'behind'> {
    const [rev, epoch] = await this.#link.run((r) => r.hmget(this.#keys.state, 'rev', 'epoch'))
    if (rev === null) {
      this.#version = { epoch: '', rev: 0 }
      this.#readable()
      return null
    }
    const seen = this.#version
    if (seen !== null && seen.epoch === epoch) {
      if (seen.rev === Number(rev)) return undefined
      if (seen.rev > Number(rev)) {
        this.#logger.warn(
          { stored: Number(rev), seen: seen.rev },
          'Redis holds an older state than this replica saw (restarted from an old snapshot?): writing the newer one back',
        )
        return 'behind'
      }
    }
    return this.load()
  }

  async restore(state: PersistedState): Promise<void> {
    const seen = this.#version
    if (seen === null) throw new WriteConflictError(state.split.generation)
    const doc = JSON.stringify(encodeState(state, false))
    const reply = (await this.#link.run((r) =>
      r.eval(
        RESTORE,
        2,
        this.#keys.state,
        this.#keys.events,
        seen.rev,
        seen.epoch,
        doc,
        this.#maxEvents,
        this.#keys.channel,
        ...[...state.events].reverse().map((e) => JSON.stringify(e)),
      ),
    )) as [number, number, string]
    if (reply[0] !== 1) throw new WriteConflictError(state.split.generation)
  }

  /**
   * Calls `onChange` on every announced write of another replica, every time the connection
   * comes back, and whenever the periodic reconcile finds a version it has not seen.
   */
  watch(onChange: () => void): void {
    this.#listener = onChange
    void this.#link.subscribe(this.#keys.channel, (message) => {
      const seen = this.#version
      if (seen === null || message !== `${seen.epoch}:${seen.rev}`) onChange()
    })
    this.#link.onUp(onChange)
    this.#timer ??= setInterval(() => void this.#reconcile(), RECONCILE_EVERY_MS)
    this.#timer.unref()
  }

  status(): StoreStatus {
    const link = this.#link.status()
    return {
      store: 'redis',
      connected: link.connected,
      state: link.connected && this.#problem === null ? 'ok' : 'degraded',
      since: link.since,
      lastError: this.#problem ?? link.lastError,
      revision: this.#version?.rev ?? null,
    }
  }

  async close(): Promise<void> {
    clearInterval(this.#timer)
    this.#timer = undefined
  }

  async #reconcile(): Promise<void> {
    if (!this.#link.connected || this.#listener === undefined) return
    try {
      const [rev, epoch] = await this.#link.run((r) => r.hmget(this.#keys.state, 'rev', 'epoch'))
      const seen = this.#version
      if (seen === null || seen.rev !== Number(rev ?? 0) || (seen.rev !== 0 && seen.epoch !== epoch)) this.#listener()
    } catch (err) {
      this.#logger.debug({ err: String(err) }, 'state reconcile failed')
    }
  }
}
