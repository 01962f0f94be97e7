/*
 * Over 300 lines because the Lua scripts (load, compare-and-set save, restore) are kept beside
 * the code that calls them and checks their replies, so the write protocol reads in one place.
 */
import { randomUUID } from 'node:crypto'
import type { Logger } from 'pino'
import { StateUnavailableError, StateUnconfirmedError, WriteConflictError } from '../errors.js'
import type { RedisLink } from './link.js'
import { decodeState, encodeState } from '../codec.js'
import type { AuditEvent, PersistedState, StateStore, StoreStatus } from '../types.js'

/** How often each replica compares its write version with Redis's: heals a missed message. */
const RECONCILE_EVERY_MS = 500
/**
 * A write must run within this long of Redis's clock reading before it (well inside the
 * command timeout), so a write held up by a hung Redis never lands after its 503.
 */
const WRITE_DEADLINE_MS = 700

/** Reads the state hash and the newest events in one step. */
const LOAD = `
local head = redis.call('HMGET', KEYS[1], 'rev', 'epoch', 'wid', 'doc')
local events = redis.call('LRANGE', KEYS[2], 0, tonumber(ARGV[1]) - 1)
return {head[1] or false, head[2] or false, head[3] or false, head[4] or false, events}
`

/**
 * The compare-and-set: writes only when the stored version (write version, epoch and write id)
 * is the one the writer read (0: nothing stored, which also starts a new epoch). Adds the
 * events, trims the log and announces the new version, all in one atomic step. A script that
 * runs after its deadline (Redis's clock) writes nothing: its writer has given up and told
 * the admin so.
 */
const SAVE = `
local t = redis.call('TIME')
if tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) > tonumber(ARGV[9]) then return {-1, 0, '', ''} end
local head = redis.call('HMGET', KEYS[1], 'rev', 'epoch', 'wid')
local rev = tonumber(head[1] or '0')
local epoch = head[2] or ''
local wid = head[3] or ''
if rev ~= tonumber(ARGV[1]) or (rev ~= 0 and (epoch ~= ARGV[2] or wid ~= ARGV[3])) then return {0, rev, epoch, wid} end
if rev == 0 then
  epoch = ARGV[4]
  redis.call('DEL', KEYS[2])
end
rev = rev + 1
redis.call('HSET', KEYS[1], 'rev', rev, 'epoch', epoch, 'wid', ARGV[5], 'doc', ARGV[6])
for i = 10, #ARGV do redis.call('LPUSH', KEYS[2], ARGV[i]) end
if #ARGV >= 10 then redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[7]) - 1) end
redis.call('PUBLISH', ARGV[8], epoch .. ':' .. rev .. ':' .. ARGV[5])
return {1, rev, epoch, ARGV[5]}
`

/**
 * Puts a replica's newer state back when Redis went back in time: only over the exact older
 * version the replica found to be in its own history, so a write made on top of the older
 * state meanwhile (and acknowledged) is never overwritten.
 */
const RESTORE = `
local head = redis.call('HMGET', KEYS[1], 'rev', 'epoch', 'wid')
if (head[2] or '') ~= ARGV[2] or tonumber(head[1] or '0') ~= tonumber(ARGV[4]) or (head[3] or '') ~= ARGV[5] then return 0 end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[1], 'rev', ARGV[1], 'epoch', ARGV[2], 'wid', ARGV[3], 'doc', ARGV[6])
for i = 9, #ARGV do redis.call('LPUSH', KEYS[2], ARGV[i]) end
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[7]) - 1)
redis.call('PUBLISH', ARGV[8], ARGV[2] .. ':' .. ARGV[1] .. ':' .. ARGV[3])
return 1
`

/** How many versions of its epoch a replica remembers, to tell an older state of its own history from a diverged one. */
const HISTORY = 1000

/**
 * A version of the stored state: the epoch (new when Redis lost everything), the write
 * version and the id of the write that made it (two writes at one version differ in it).
 */
interface Version {
  readonly epoch: string
  readonly rev: number
  readonly wid: string
}

/** What an empty Redis (no state under the prefix) counts as. */
const NOTHING_STORED: Version = { epoch: '', rev: 0, wid: '' }

function versionOf(rev: string | null, epoch: string | null, wid: string | null): Version {
  return rev === null ? NOTHING_STORED : { epoch: epoch ?? '', rev: Number(rev), wid: wid ?? '' }
}

/**
 * The fleet's state in Redis: `<prefix>state` (a hash: write version, epoch, the split and
 * rollout as JSON), `<prefix>events` (the audit log, newest first) and the channel
 * `<prefix>changes`. Every write is a compare-and-set on the write version, so two admins
 * writing through two replicas cannot interleave; the loser gets WriteConflictError.
 */
export class RedisStateStore implements StateStore {
  readonly kind = 'shared'
  readonly #link: RedisLink
  readonly #logger: Logger
  readonly #maxEvents: number
  readonly #keys: { readonly state: string; readonly events: string; readonly channel: string }
  /** The version this replica last read or wrote; null before the first read. */
  #version: Version | null = null
  /** Write ids of the versions of this epoch this replica saw, by write version. */
  readonly #history = new Map<number, string>()
  #listener: (() => void) | undefined
  #timer: NodeJS.Timeout | undefined
  /** Why the stored state cannot be read, while it cannot. */
  #problem: string | null = null
  /** The older version refresh() found, which restore() may write over. */
  #behind: Version | null = null

  constructor(link: RedisLink, options: { keyPrefix: string; logger: Logger; maxEvents?: number }) {
    this.#link = link
    this.#logger = options.logger
    this.#maxEvents = options.maxEvents ?? 1000
    const p = options.keyPrefix
    this.#keys = { state: `${p}state`, events: `${p}events`, channel: `${p}changes` }
  }

  async load(): Promise<PersistedState | null> {
    const reply = (await this.#link.run((r) => r.eval(LOAD, 2, this.#keys.state, this.#keys.events, this.#maxEvents))) as [
      string | null,
      string | null,
      string | null,
      string | null,
      string[],
    ]
    const [rev, epoch, wid, doc, events] = reply
    if (rev === null || doc === null) {
      this.#saw(NOTHING_STORED)
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
    this.#saw(versionOf(rev, epoch, wid))
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
    const base = this.#version ?? { epoch: '', rev: -1, wid: '' }
    // A first write carries the whole log this replica holds (a flushed Redis gets it back).
    const added = base.rev === 0 ? [...state.events].reverse() : event === null || event === undefined ? [] : [event]
    const args = [base.rev, base.epoch, base.wid, randomUUID(), randomUUID(), JSON.stringify(encodeState(state, false)), this.#maxEvents, this.#keys.channel]
    const events = added.map((e) => JSON.stringify(e))
    let reply = await this.#runSave(args, events)
    // Too late wrote nothing; so does a second try. A busy process reads Redis's clock late as
    // surely as a hung Redis runs the script late (a replica starting beside others, seen in CI).
    if (reply[0] === -1) reply = await this.#runSave(args, events)
    const [ok, rev, epoch, wid] = reply
    if (ok === -1) throw new StateUnavailableError(`Redis at ${this.#link.where} ran the write too late, so it wrote nothing`)
    if (ok !== 1) throw new WriteConflictError(state.split.generation)
    this.#saw({ epoch, rev, wid })
  }

  /** One run of the SAVE script, due within WRITE_DEADLINE_MS of Redis's clock read just before it. */
  async #runSave(args: (string | number)[], events: string[]): Promise<[number, number, string, string]> {
    let sent = false
    return (await this.#link
      .run(async (r) => {
        const [seconds, micros] = await r.time()
        const deadline = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000) + WRITE_DEADLINE_MS
        sent = true
        return r.eval(SAVE, 2, this.#keys.state, this.#keys.events, ...args, deadline, ...events)
      })
      .catch((err: unknown) => {
        // The script went out and no answer came back: it may have run (Redis stopped after it, a timeout).
        throw sent && err instanceof StateUnavailableError ? new StateUnconfirmedError(err.detail, { cause: err }) : err
      })) as [number, number, string, string]
  }

  async refresh(): Promise<PersistedState | null | undefined | 'behind'> {
    const stored = await this.#storedVersion()
    if (stored.rev === 0) {
      this.#saw(NOTHING_STORED)
      this.#readable()
      return null
    }
    if (this.#known(stored)) return undefined
    const seen = this.#version
    if (seen !== null && seen.epoch === stored.epoch) {
      // An older version of this replica's own history: Redis lost the writes after it.
      if (stored.rev < seen.rev && this.#history.get(stored.rev) === stored.wid) {
        this.#behind = stored
        this.#logger.warn(
          { stored: stored.rev, seen: seen.rev },
          'Redis holds an older state than this replica saw (restarted from an old snapshot?): writing the newer one back',
        )
        return 'behind'
      }
    }
    return this.load()
  }

  async restore(state: PersistedState): Promise<void> {
    const seen = this.#version
    const behind = this.#behind
    this.#behind = null
    if (seen === null || behind === null) throw new WriteConflictError(state.split.generation)
    const doc = JSON.stringify(encodeState(state, false))
    const done = await this.#link.run((r) =>
      r.eval(
        RESTORE,
        2,
        this.#keys.state,
        this.#keys.events,
        seen.rev,
        seen.epoch,
        seen.wid,
        behind.rev,
        behind.wid,
        doc,
        this.#maxEvents,
        this.#keys.channel,
        ...[...state.events].reverse().map((e) => JSON.stringify(e)),
      ),
    )
    if (done !== 1) throw new WriteConflictError(state.split.generation)
  }

  /** The version Redis holds now (one HMGET). */
  async #storedVersion(): Promise<Version> {
    const [rev = null, epoch = null, wid = null] = await this.#link.run((r) => r.hmget(this.#keys.state, 'rev', 'epoch', 'wid'))
    return versionOf(rev, epoch, wid)
  }

  /** True when `version` is the one this replica last read or wrote. */
  #known(version: Version): boolean {
    const seen = this.#version
    return seen !== null && seen.rev === version.rev && seen.epoch === version.epoch && seen.wid === version.wid
  }

  /** Remembers a version this replica read or wrote. */
  #saw(version: Version): void {
    if (this.#version?.epoch !== version.epoch) this.#history.clear()
    this.#version = version
    this.#history.set(version.rev, version.wid)
    if (this.#history.size > HISTORY) this.#history.delete(this.#history.keys().next().value!)
  }

  /**
   * Calls `onChange` on every announced write of another replica, every time the connection
   * comes back, and whenever the periodic reconcile finds a version it has not seen.
   */
  watch(onChange: () => void): void {
    this.#listener = onChange
    void this.#link.subscribe(this.#keys.channel, (message) => {
      // Announced as epoch:rev:wid (SAVE, RESTORE).
      const [epoch = '', rev = '0', wid = ''] = message.split(':')
      if (!this.#known(versionOf(rev, epoch, wid))) onChange()
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
      if (!this.#known(await this.#storedVersion())) this.#listener()
    } catch (err) {
      this.#logger.debug({ err: String(err) }, 'state reconcile failed')
    }
  }
}
