import type { Logger } from 'pino'
import { COLORS, type Color } from '../../routing/types.js'
import type { WindowDelta } from '../../outcomes/window-delta.js'
import type { RedisLink } from './link.js'

/** Seconds still re-read on every exchange: replicas send their counts up to ~0.3 s late. */
const SETTLE_SECONDS = 3
/** How late (after it happened) a replica's count can reach Redis: exchange period plus worker reports, with room. */
const PUSH_LAG_MS = 500
/** As for state writes: counts that reach Redis this long after its clock was read are dropped, not added late. */
const PUSH_DEADLINE_MS = 700

/**
 * Adds one replica's counts in one step (a reader never sees a second's requests without its
 * errors), unless it runs after its deadline: then the replica has already judged them alone.
 */
const PUSH = `
local t = redis.call('TIME')
if tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) > tonumber(ARGV[1]) then return 0 end
local ops = cjson.decode(ARGV[3])
for i = 1, #ops, 3 do redis.call('HINCRBY', KEYS[ops[i]], ops[i + 1], ops[i + 2]) end
for i = 1, #KEYS do redis.call('EXPIRE', KEYS[i], ARGV[2]) end
return 1
`

interface Counts {
  requests: number
  errors: number
  /** latency bin -> count */
  bins: Map<number, number>
  /** time-to-first-byte bin -> count */
  ttfb: Map<number, number>
  /** route group -> requests */
  routeRequests: Map<string, number>
  /** route group -> errors */
  routeErrors: Map<string, number>
}

type SecondCounts = Record<Color, Counts>

const emptyCounts = (): Counts => ({ requests: 0, errors: 0, bins: new Map(), ttfb: new Map(), routeRequests: new Map(), routeErrors: new Map() })
const empty = (): SecondCounts => ({ blue: emptyCounts(), green: emptyCounts() })

/** What one exchange yields: counts to merge into the window, and whether they are the fleet's. */
export interface Exchange {
  readonly deltas: WindowDelta[]
  /** true: the fleet's new counts (this replica's included); false: only this replica's (Redis down). */
  readonly fleet: boolean
}

/**
 * The fleet's per-colour window counters in Redis: one hash per second,
 * `<prefix>counts:<second>`, with `blue:r`, `blue:e`, a field per latency bin (`blue:<bin>`)
 * and per time-to-first-byte bin (`blue:t<bin>`), and `blue:qr:<group>` and `blue:qe:<group>`
 * per route group (requests, errors; a group may contain ':'), expiring after the window.
 * Every replica adds its own counts (HINCRBY) and reads back the sums, so auto-revert and
 * rollout analysis judge the whole fleet. Runs on a timer, off the request path.
 */
export class FleetCounters {
  readonly #link: RedisLink
  readonly #logger: Logger
  readonly #prefix: string
  #windowSeconds: number
  readonly #clock: () => number
  #queued: WindowDelta[] = []
  /** The fleet's counts per second as last read, to turn each read into increments. */
  readonly #seen = new Map<number, SecondCounts>()
  #readUpTo = -1
  /** When the last successful read was sent (epoch ms): increments read after it happened after it, less the push lag. */
  #lastReadAt = 0

  constructor(link: RedisLink, options: { keyPrefix: string; windowMs: number; logger: Logger; clock?: () => number }) {
    this.#link = link
    this.#logger = options.logger
    this.#prefix = `${options.keyPrefix}counts:`
    this.#windowSeconds = Math.max(1, Math.round(options.windowMs / 1000))
    this.#clock = options.clock ?? Date.now
  }

  /** A new autoRevert.window (config reload): how far back the fleet's counts are read. */
  setWindow(windowMs: number): void {
    this.#windowSeconds = Math.max(1, Math.round(windowMs / 1000))
  }

  /** Queues this replica's counts for the next exchange. */
  add(deltas: readonly WindowDelta[]): void {
    for (const delta of deltas) this.#queued.push(delta)
  }

  /**
   * Sends the queued counts and reads what the fleet added since the last exchange. When
   * Redis cannot be reached, hands back this replica's own counts so that it goes on judging
   * its own traffic.
   */
  async exchange(): Promise<Exchange> {
    const own = this.#queued
    this.#queued = []
    const now = Math.floor(this.#clock() / 1000)
    const oldest = now - this.#windowSeconds + 1
    const from = Math.max(oldest, this.#readUpTo < 0 ? oldest : Math.min(this.#readUpTo + 1, now - SETTLE_SECONDS))
    const seconds: number[] = []
    for (let s = from; s <= now; s++) seconds.push(s)
    const readAt = this.#clock()
    let pushed: boolean
    let hashes: Record<string, string>[]
    try {
      ;[pushed, hashes] = await this.#link.run(async (r) => {
        const [secs, micros] = await r.time()
        const deadline = Number(secs) * 1000 + Math.floor(Number(micros) / 1000) + PUSH_DEADLINE_MS
        const pipeline = r.pipeline()
        const { keys, ops } = this.#operations(own)
        if (keys.length > 0) pipeline.eval(PUSH, keys.length, ...keys, deadline, this.#windowSeconds + 60, JSON.stringify(ops))
        for (const s of seconds) pipeline.hgetall(this.#prefix + s)
        const replies = (await pipeline.exec()) ?? []
        // A pipeline resolves even when its commands time out: any error is an outage here.
        const failed = replies.find(([err]) => err !== null)
        if (failed !== undefined || replies.length !== seconds.length + (keys.length > 0 ? 1 : 0)) {
          throw failed?.[0] ?? new Error('the pipeline answered short')
        }
        const reads = replies.slice(keys.length > 0 ? 1 : 0).map(([, hash]) => hash as Record<string, string>)
        return [keys.length === 0 || replies[0]![1] === 1, reads] as const
      })
    } catch (err) {
      // What was read before stays: after the outage only new increments come back.
      this.#logger.debug({ err: String(err) }, 'fleet counters not exchanged; judging this replica alone')
      return { deltas: own, fleet: false }
    }
    const floor = this.#lastReadAt - PUSH_LAG_MS
    const deltas: WindowDelta[] = []
    seconds.forEach((second, i) => {
      const counts = parse(hashes[i] ?? {})
      const before = this.#seen.get(second) ?? empty()
      this.#seen.set(second, counts)
      for (const color of COLORS) {
        const delta = difference(color, second, counts[color], before[color], floor)
        if (delta !== null) deltas.push(delta)
      }
    })
    this.#readUpTo = now
    this.#lastReadAt = readAt
    for (const second of this.#seen.keys()) if (second < oldest) this.#seen.delete(second)
    // Counts that reached Redis too late were not added there: they count here only.
    if (!pushed) deltas.push(...own)
    return { deltas, fleet: true }
  }

  /** The keys and [key index, field, increment] triples of one push. */
  #operations(deltas: readonly WindowDelta[]): { keys: string[]; ops: (number | string)[] } {
    const keys: string[] = []
    const index = new Map<number, number>()
    const ops: (number | string)[] = []
    for (const delta of deltas) {
      let k = index.get(delta.second)
      if (k === undefined) {
        keys.push(this.#prefix + delta.second)
        k = keys.length
        index.set(delta.second, k)
      }
      ops.push(k, `${delta.color}:r`, delta.requests)
      if (delta.errors > 0) ops.push(k, `${delta.color}:e`, delta.errors)
      for (let i = 0; i + 1 < delta.latency.length; i += 2) ops.push(k, `${delta.color}:${delta.latency[i]!}`, delta.latency[i + 1]!)
      const ttfb = delta.ttfb ?? []
      for (let i = 0; i + 1 < ttfb.length; i += 2) ops.push(k, `${delta.color}:t${ttfb[i]!}`, ttfb[i + 1]!)
      const routes = delta.routes ?? []
      for (let i = 0; i + 2 < routes.length; i += 3) {
        const route = routes[i]
        const requests = routes[i + 1]
        const errors = routes[i + 2]
        // A lone surrogate would make the script's JSON decoding, and so the whole push, fail.
        if (typeof route !== 'string' || route === '' || !wellFormed(route)) continue
        if (typeof requests === 'number' && requests > 0) ops.push(k, `${delta.color}:qr:${route}`, requests)
        if (typeof errors === 'number' && errors > 0) ops.push(k, `${delta.color}:qe:${route}`, errors)
      }
    }
    return { keys, ops }
  }
}

/** No unpaired UTF-16 surrogates (String.prototype.isWellFormed, before ES2024 typings). */
function wellFormed(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0xd800 || c > 0xdfff) continue
    if (c >= 0xdc00) return false
    const next = s.charCodeAt(i + 1)
    if (!(next >= 0xdc00 && next <= 0xdfff)) return false
    i++
  }
  return true
}

function parse(hash: Record<string, string>): SecondCounts {
  const counts = empty()
  for (const [field, value] of Object.entries(hash)) {
    const colon = field.indexOf(':')
    const color = field.slice(0, colon)
    if (color !== 'blue' && color !== 'green') continue
    const name = field.slice(colon + 1)
    const n = Number(value)
    if (!Number.isFinite(n)) continue
    const c = counts[color]
    if (name === 'r') c.requests = n
    else if (name === 'e') c.errors = n
    else if (DIGITS.test(name)) c.bins.set(Number(name), n)
    else if (TTFB.test(name)) c.ttfb.set(Number(name.slice(1)), n)
    // The group is everything after the second colon: it may hold colons of its own.
    else if (name.startsWith('qr:') && name.length > 3) c.routeRequests.set(name.slice(3), n)
    else if (name.startsWith('qe:') && name.length > 3) c.routeErrors.set(name.slice(3), n)
  }
  return counts
}

const DIGITS = /^\d+$/
const TTFB = /^t\d+$/

/**
 * The increments between two reads of one second; null when nothing was added. `since`
 * is the earliest these requests can have happened (the second's start, or the last read
 * less the push lag): a window reset after it drops them, as for a worker's counts.
 */
function difference(color: Color, second: number, now: Counts, before: Counts, floor: number): WindowDelta | null {
  const requests = Math.max(0, now.requests - before.requests)
  const errors = Math.max(0, now.errors - before.errors)
  const latency = added(now.bins, before.bins)
  const ttfb = added(now.ttfb, before.ttfb)
  const routes: (string | number)[] = []
  const groups = new Set([...now.routeRequests.keys(), ...now.routeErrors.keys()])
  for (const group of groups) {
    const r = Math.max(0, (now.routeRequests.get(group) ?? 0) - (before.routeRequests.get(group) ?? 0))
    const e = Math.max(0, (now.routeErrors.get(group) ?? 0) - (before.routeErrors.get(group) ?? 0))
    if (r > 0 || e > 0) routes.push(group, r, e)
  }
  if (requests === 0 && errors === 0 && latency.length === 0 && ttfb.length === 0 && routes.length === 0) return null
  return {
    color,
    second,
    requests,
    errors,
    latency,
    since: Math.max(second * 1000, floor),
    ...(ttfb.length > 0 ? { ttfb } : {}),
    ...(routes.length > 0 ? { routes } : {}),
  }
}

/** What each bin gained between two reads, as [bin, count, ...]. */
function added(now: ReadonlyMap<number, number>, before: ReadonlyMap<number, number>): number[] {
  const out: number[] = []
  for (const [bin, count] of now) {
    const gained = count - (before.get(bin) ?? 0)
    if (gained > 0) out.push(bin, gained)
  }
  return out
}
