import { Pool } from 'undici'
import type { TargetHealth } from './types.js'

/** A target with this many transport failures in a row is unhealthy. */
export const UNHEALTHY_AFTER = 3

/** How long an unhealthy target is skipped before one request probes it again. */
export const PROBE_INTERVAL_MS = 5_000

/** One upstream origin: its keep-alive connection pool and its passive health. */
export class UpstreamTarget {
  readonly url: string
  readonly origin: string
  readonly secure: boolean
  readonly hostname: string
  readonly port: number
  readonly pool: Pool
  consecutiveFailures = 0
  lastError: string | null = null
  lastErrorAt = 0
  /** Requests and WebSocket tunnels currently using this target. */
  inFlight = 0
  #probeAt = 0

  constructor(url: string, connectTimeoutMs: number) {
    const parsed = parseTarget(url)
    this.url = url
    this.origin = parsed.origin
    this.secure = parsed.protocol === 'https:'
    // URL keeps IPv6 hosts bracketed; sockets want them bare.
    this.hostname = parsed.hostname.startsWith('[') ? parsed.hostname.slice(1, -1) : parsed.hostname
    this.port = parsed.port === '' ? (this.secure ? 443 : 80) : Number(parsed.port)
    this.pool = new Pool(this.origin, { connect: { timeout: connectTimeoutMs } })
  }

  /** Whether this target should take the next request: healthy, or due for a probe. */
  available(now: number): boolean {
    if (this.consecutiveFailures < UNHEALTHY_AFTER) return true
    if (now - Math.max(this.lastErrorAt, this.#probeAt) < PROBE_INTERVAL_MS) return false
    this.#probeAt = now
    return true
  }

  /** Notes an answer from the upstream; any answer, even a 5xx, proves the transport works. */
  succeeded(): void {
    if (this.consecutiveFailures !== 0) this.consecutiveFailures = 0
  }

  /** Notes a transport failure (connect, timeout, reset, protocol). */
  failed(description: string): void {
    this.consecutiveFailures++
    this.lastError = description
    this.lastErrorAt = Date.now()
  }

  /** Copies passive health from the target this one replaces. */
  inherit(from: UpstreamTarget): void {
    this.consecutiveFailures = from.consecutiveFailures
    this.lastError = from.lastError
    this.lastErrorAt = from.lastErrorAt
  }

  /** The health report of /v1/upstreams. */
  health(): TargetHealth {
    return {
      url: this.url,
      healthy: this.consecutiveFailures < UNHEALTHY_AFTER,
      consecutiveFailures: this.consecutiveFailures,
      lastError: this.lastError,
      lastErrorAt: this.lastError === null ? null : new Date(this.lastErrorAt).toISOString(),
      inFlight: this.inFlight,
    }
  }
}

function parseTarget(url: string): URL {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new Error(`"${url}" is not a valid upstream URL`)
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new Error(`"${url}" must use http or https`)
  }
  return parsed
}

/**
 * The targets of one colour, picked round-robin. Unhealthy targets are skipped (but probed
 * now and then) unless every target is unhealthy. Replaced whole when the targets change.
 */
export class UpstreamPool {
  readonly targets: readonly UpstreamTarget[]
  #next = 0

  /** Builds pools for `urls`; throws on an invalid URL. Health carries over for URLs in `previous`. */
  constructor(urls: readonly string[], connectTimeoutMs: number, previous?: UpstreamPool) {
    const targets: UpstreamTarget[] = []
    try {
      for (const url of urls) targets.push(new UpstreamTarget(url, connectTimeoutMs))
    } catch (err) {
      for (const target of targets) void target.pool.destroy()
      throw err
    }
    if (previous !== undefined) {
      for (const target of targets) {
        const before = previous.targets.find((old) => old.url === target.url)
        if (before !== undefined) target.inherit(before)
      }
    }
    this.targets = Object.freeze(targets)
  }

  /** The target for the next request, or undefined when this colour has none. */
  pick(): UpstreamTarget | undefined {
    const targets = this.targets
    const count = targets.length
    if (count <= 1) return targets[0]
    let now = 0
    for (let tried = 0; tried < count; tried++) {
      const target = targets[this.#advance(count)]!
      if (target.consecutiveFailures < UNHEALTHY_AFTER) return target
      if (now === 0) now = Date.now()
      if (target.available(now)) return target
    }
    // Everything is down: keep rotating rather than refusing outright.
    return targets[this.#advance(count)]
  }

  #advance(count: number): number {
    const index = this.#next
    this.#next = index + 1 === count ? 0 : index + 1
    return index
  }

  /** Health of every target, in configured order. */
  health(): TargetHealth[] {
    return this.targets.map((target) => target.health())
  }

  /** Stops taking requests; resolves once the requests in flight have finished. */
  async close(): Promise<void> {
    await Promise.all(this.targets.map((target) => target.pool.close()))
  }

  /** Aborts whatever is still in flight and closes every connection. */
  async destroy(): Promise<void> {
    await Promise.all(this.targets.map((target) => target.pool.destroy()))
  }
}
