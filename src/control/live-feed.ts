import type { Logger } from 'pino'
import type { ConnectionCounts } from '../proxy/proxy-state.js'
import type { TargetHealth } from '../proxy/types.js'
import { COLORS, type Color } from '../routing/types.js'
import type { FleetStatus } from '../state/redis/fleet.js'
import type { ErrorWindow } from './analysis/error-window.js'

/** One colour's traffic in one second, as the stats frames of the event stream carry it. */
export interface LiveColorStats {
  readonly requests: number
  readonly errors: number
  readonly errorRate: number
  readonly p50Ms: number | null
  readonly p99Ms: number | null
}

/**
 * `event: stats` (GET /v1/events/stream?stats=1), once a second: each colour's traffic in the
 * last whole second (fleet-wide in a fleet, like /v1/status's window), this replica's open
 * connections, and digests of what the page would otherwise have to poll for.
 */
export interface StatsFrame {
  readonly type: 'stats'
  readonly at: string
  /** The second counted (epoch seconds) and its length. */
  readonly second: number
  readonly seconds: number
  readonly blue: LiveColorStats
  readonly green: LiveColorStats
  /** This replica's requests, streams and WebSockets open per colour. */
  readonly connections: Record<Color, ConnectionCounts>
  /** Connections still open on a colour that takes no new requests (its share is 0): a drain. */
  readonly draining: Record<Color, number>
  /** Enough of GET /v1/rollout to tell when it changed (a new verdict, a new step); null: none. */
  readonly rollout: { readonly id: unknown; readonly phase: unknown; readonly step: unknown; readonly checks: unknown; readonly verdictAt: string | null } | null
  /** In a fleet: this replica, whether it leads, and the replicas seen lately; null alone. */
  readonly fleet: { readonly replica: string; readonly leader: boolean; readonly members: FleetStatus['members'] } | null
}

/** `event: health`: a target of this replica became routable or stopped being so. */
export interface HealthFrame {
  readonly type: 'health'
  readonly at: string
  readonly target: string
  readonly color: Color
  readonly healthy: boolean
  /** Why, in words: an ejection and its last error, failed active checks, or the recovery. */
  readonly why: string
  readonly active: TargetHealth['active']
  readonly ejectedUntil: string | null
  /** Whose view this is (the fleet replica id); null alone. */
  readonly replica: string | null
}

export type LiveFrame = StatsFrame | HealthFrame

export interface LiveFeedOptions {
  readonly window: () => ErrorWindow
  /** The data plane's view of targets and connections (merged over workers), once started. */
  readonly plane: () => {
    health(): Promise<Record<Color, readonly TargetHealth[]>>
    connections(): Promise<Record<Color, ConnectionCounts>>
  }
  /** Green's share now, in buckets (0..10000). */
  readonly greenBuckets: () => number
  readonly rollout: () => Record<string, unknown> | null
  readonly fleet: () => FleetStatus | null
  readonly logger: Logger
}

interface Subscriber {
  readonly listener: (frame: LiveFrame) => void
  readonly stats: boolean
}

/** Ticks this long after each second ends: workers report every 100 ms, the fleet every 200 ms. */
const SETTLE_MS = 400

/**
 * The stream-only part of GET /v1/events/stream: one timer for every open stream, running only
 * while one is open. Each tick reads what already exists (the error window's buckets, the data
 * plane's health and connection counts), so the request path does no extra work for it.
 *
 * Health changes are found by comparing each tick's target health with the last: the same
 * merged view GET /v1/upstreams shows, in one process or over N workers, and the only way to
 * see an ejection end (the data path notices that lazily and tells nobody). A change reaches
 * the stream within a second.
 *
 * They are frames without an id, not audit events, on purpose: health is each replica's own
 * view (its own probes and ejections, from where it stands on the network), not a change to the
 * release that anyone made. In a fleet the shared, persisted log (1,000 events, one writer,
 * compare-and-set through Redis) would get N copies of every flap, which would push out the
 * split and rollout history it exists for and compete with real changes for the write. So each
 * replica streams what it sees, marked with its replica id, and a reconnect does not replay it
 * (the page re-reads GET /v1/upstreams instead).
 */
export class LiveFeed {
  readonly #o: LiveFeedOptions
  readonly #subscribers = new Set<Subscriber>()
  #timer: NodeJS.Timeout | undefined
  #ticking = false
  /** Each target's health at the last tick, by `color url`; undefined until the first read. */
  #health: Map<string, TargetHealth> | undefined

  constructor(options: LiveFeedOptions) {
    this.#o = options
  }

  /** Sends `listener` the health frames from now on, and the stats frames when `stats`; the returned function stops it. */
  subscribe(listener: (frame: LiveFrame) => void, options: { readonly stats: boolean }): () => void {
    const subscriber = { listener, stats: options.stats }
    this.#subscribers.add(subscriber)
    if (this.#timer === undefined) {
      // What is unhealthy already is the starting point, not news.
      void this.#readHealth().then((health) => (this.#health ??= health === undefined ? undefined : index(health)))
      this.#schedule()
    }
    return () => {
      this.#subscribers.delete(subscriber)
      if (this.#subscribers.size === 0) this.stop()
    }
  }

  /** Stops ticking (the last stream closed, or the process is stopping). */
  stop(): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
    this.#health = undefined
  }

  #schedule(): void {
    const now = Date.now()
    this.#timer = setTimeout(() => void this.#tick(), 1000 - (now % 1000) + SETTLE_MS)
    this.#timer.unref()
  }

  async #tick(): Promise<void> {
    this.#schedule()
    if (this.#ticking) return
    this.#ticking = true
    try {
      const stats = [...this.#subscribers].some((s) => s.stats)
      const [health, connections] = await Promise.all([this.#readHealth(), stats ? this.#o.plane().connections() : undefined])
      // The last stream closed meanwhile: nobody to tell, and the next one starts from a fresh look.
      if (this.#timer === undefined) return
      if (health !== undefined) for (const frame of this.#changes(health)) this.#send(frame, false)
      if (connections !== undefined) this.#send(this.#stats(connections), true)
    } catch (err) {
      this.#o.logger.debug({ err: String(err) }, 'live stats skipped a second')
    } finally {
      this.#ticking = false
    }
  }

  async #readHealth(): Promise<Record<Color, readonly TargetHealth[]> | undefined> {
    try {
      return await this.#o.plane().health()
    } catch {
      // The data plane is not started yet, or a worker did not answer: the next tick tries again.
      return undefined
    }
  }

  #send(frame: LiveFrame, statsOnly: boolean): void {
    for (const subscriber of this.#subscribers) {
      if (statsOnly && !subscriber.stats) continue
      try {
        subscriber.listener(frame)
      } catch {
        // One broken stream must not stop the others.
      }
    }
  }

  #changes(health: Record<Color, readonly TargetHealth[]>): HealthFrame[] {
    const before = this.#health
    const now = index(health)
    this.#health = now
    if (before === undefined) return []
    const at = new Date().toISOString()
    const replica = this.#o.fleet()?.replica ?? null
    const frames: HealthFrame[] = []
    for (const [key, target] of now) {
      const was = before.get(key)
      // A target new since the last tick (new targets) has no transition yet.
      if (was === undefined || was.healthy === target.healthy) continue
      const color = key.slice(0, key.indexOf(' ')) as Color
      frames.push({ type: 'health', at, target: target.url, color, healthy: target.healthy, why: why(target, was), active: target.active, ejectedUntil: target.ejectedUntil, replica })
    }
    return frames
  }

  #stats(connections: Record<Color, ConnectionCounts>): StatsFrame {
    const second = Math.floor(Date.now() / 1000) - 1
    const window = this.#o.window().second(second)
    const green = this.#o.greenBuckets()
    const open = (c: Color) => connections[c].requests + connections[c].websockets
    const rollout = this.#o.rollout()
    const fleet = this.#o.fleet()
    const last = (rollout?.analysis as { last?: { at?: string } | null } | undefined)?.last
    return {
      type: 'stats',
      at: new Date().toISOString(),
      second,
      seconds: 1,
      blue: live(window.blue),
      green: live(window.green),
      connections,
      draining: { blue: green === 10_000 ? open('blue') : 0, green: green === 0 ? open('green') : 0 },
      rollout: rollout === null ? null : { id: rollout.id, phase: rollout.phase, step: rollout.step, checks: (rollout.analysis as { checks?: unknown } | undefined)?.checks, verdictAt: last?.at ?? null },
      fleet: fleet === null ? null : { replica: fleet.replica, leader: fleet.leader, members: fleet.members },
    }
  }
}

function index(health: Record<Color, readonly TargetHealth[]>): Map<string, TargetHealth> {
  return new Map(COLORS.flatMap((color) => health[color].map((target): [string, TargetHealth] => [`${color} ${target.url}`, target])))
}

function live(stats: LiveColorStats): LiveColorStats {
  const { requests, errors, errorRate, p50Ms, p99Ms } = stats
  return { requests, errors, errorRate, p50Ms, p99Ms }
}

/** Why `target` changed from `was`, in words. */
function why(target: TargetHealth, was: TargetHealth): string {
  const error = target.lastError === null ? '' : `: ${target.lastError}`
  if (!target.healthy) {
    if (target.ejectedUntil !== null) return `ejected after ${target.consecutiveFailures} errors in a row${error}`
    return 'fails its active health checks'
  }
  if (was.ejectedUntil !== null && was.active !== 'unhealthy') return 'ejection over: takes requests again'
  return 'passes its active health checks again'
}
