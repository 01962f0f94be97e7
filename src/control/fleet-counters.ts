import type { Logger } from 'pino'
import { COLORS, type Color } from '../routing/types.js'
import type { WindowDelta } from './error-window.js'
import type { RedisLink } from './redis-link.js'

/** Seconds still re-read on every exchange: replicas send their counts up to ~0.3 s late. */
const SETTLE_SECONDS = 3

interface Counts {
  requests: number
  errors: number
  /** latency bin -> count */
  bins: Map<number, number>
}

type SecondCounts = Record<Color, Counts>

const empty = (): SecondCounts => ({
  blue: { requests: 0, errors: 0, bins: new Map() },
  green: { requests: 0, errors: 0, bins: new Map() },
})

/** What one exchange yields: counts to merge into the window, and whether they are the fleet's. */
export interface Exchange {
  readonly deltas: WindowDelta[]
  /** true: the fleet's new counts (this replica's included); false: only this replica's (Redis down). */
  readonly fleet: boolean
}

/**
 * The fleet's per-colour window counters in Redis: one hash per second,
 * `<prefix>counts:<second>`, with `blue:r`, `blue:e` and a field per latency bin, expiring
 * after the window. Every replica adds its own counts (HINCRBY) and reads back the sums, so
 * auto-revert and rollout analysis judge the whole fleet. Runs on a timer, off the request path.
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
    let replies: [Error | null, unknown][] | null
    try {
      replies = await this.#link.run((r) => {
        const pipeline = r.pipeline()
        const ttl = this.#windowSeconds + 60
        for (const delta of own) {
          const key = this.#prefix + delta.second
          pipeline.hincrby(key, `${delta.color}:r`, delta.requests)
          if (delta.errors > 0) pipeline.hincrby(key, `${delta.color}:e`, delta.errors)
          for (let i = 0; i + 1 < delta.latency.length; i += 2) pipeline.hincrby(key, `${delta.color}:${delta.latency[i]!}`, delta.latency[i + 1]!)
          pipeline.expire(key, ttl)
        }
        for (const s of seconds) pipeline.hgetall(this.#prefix + s)
        return pipeline.exec()
      })
    } catch (err) {
      // What was read before stays: after the outage only new increments come back.
      this.#logger.debug({ err: String(err) }, 'fleet counters not exchanged; judging this replica alone')
      return { deltas: own, fleet: false }
    }
    const reads = (replies ?? []).slice(-seconds.length)
    const deltas: WindowDelta[] = []
    seconds.forEach((second, i) => {
      const [err, hash] = reads[i] ?? [null, {}]
      if (err !== null) return
      const counts = parse(hash as Record<string, string>)
      const before = this.#seen.get(second) ?? empty()
      this.#seen.set(second, counts)
      for (const color of COLORS) {
        const delta = difference(color, second, counts[color], before[color])
        if (delta !== null) deltas.push(delta)
      }
    })
    this.#readUpTo = now
    for (const second of this.#seen.keys()) if (second < oldest) this.#seen.delete(second)
    return { deltas, fleet: true }
  }
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
    if (name === 'r') counts[color].requests = n
    else if (name === 'e') counts[color].errors = n
    else if (/^\d+$/.test(name)) counts[color].bins.set(Number(name), n)
  }
  return counts
}

/** The increments between two reads of one second; null when nothing was added. */
function difference(color: Color, second: number, now: Counts, before: Counts): WindowDelta | null {
  const requests = now.requests - before.requests
  if (requests <= 0) return null
  const latency: number[] = []
  for (const [bin, count] of now.bins) {
    const added = count - (before.bins.get(bin) ?? 0)
    if (added > 0) latency.push(bin, added)
  }
  // `since` is the second's start: a window reset inside that second drops these counts.
  return { color, second, requests, errors: Math.max(0, now.errors - before.errors), latency, since: second * 1000 }
}
