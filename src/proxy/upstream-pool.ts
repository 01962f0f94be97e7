import type { Pool } from 'undici'
import { undici } from '../lazy.js'
import { SocketPool } from './raw/socket-pool.js'
import { ActiveCheck, DEFAULT_OUTLIER, HealthChecker, type HealthListener } from './health-checker.js'
import { UPSTREAM_KEEP_ALIVE_MS, type HealthCheckSettings, type OutlierSettings, type TargetHealth } from './types.js'
import { tlsConnectOptions, undiciKeepAlive, VERIFY_UPSTREAM_TLS, type ConnectionTimeouts, type UpstreamTls } from './upstream-connections.js'

/** How a pool judges its targets: active checks, passive ejection, and who hears of changes. */
export interface PoolHealth {
  readonly healthCheck: HealthCheckSettings
  readonly outlier: OutlierSettings
  readonly listener?: HealthListener | undefined
}

/** One upstream origin: its keep-alive connection pool and its health. */
export class UpstreamTarget {
  readonly url: string
  readonly origin: string
  readonly secure: boolean
  readonly hostname: string
  readonly port: number
  /** For an https:// target, the TLS options of its connections (the WebSocket path uses them too). */
  readonly tls: { readonly ca?: string; readonly rejectUnauthorized: boolean; readonly servername?: string } | undefined
  /** 5xx answers and transport failures in a row; any other answer resets it. */
  consecutiveFailures = 0
  lastError: string | null = null
  lastErrorAt = 0
  /** Requests and WebSocket tunnels currently using this target. */
  inFlight = 0
  /** When the passive ejection ends (epoch ms); 0 when not ejected. */
  ejectedUntil = 0
  /** The active health-check verdict, kept up to date by the pool's HealthChecker. */
  readonly activeCheck = new ActiveCheck()
  /** Set by UpstreamPool.setHealth. */
  outlier: OutlierSettings = DEFAULT_OUTLIER
  listener: HealthListener | undefined = undefined
  readonly #connectTimeoutMs: number
  readonly #keepAliveMs: number
  readonly #connections: number
  #sockets: SocketPool | undefined = undefined
  #pool: Pool | undefined = undefined
  #retired: 'close' | 'destroy' | undefined = undefined

  /** `connections` caps the pool's connections (0 = undici's default, unlimited). */
  constructor(url: string, timeouts: ConnectionTimeouts, connections = 0, tls: UpstreamTls = VERIFY_UPSTREAM_TLS) {
    const parsed = parseTarget(url)
    this.url = url
    this.origin = parsed.origin
    this.secure = parsed.protocol === 'https:'
    // URL keeps IPv6 hosts bracketed; sockets want them bare.
    this.hostname = parsed.hostname.startsWith('[') ? parsed.hostname.slice(1, -1) : parsed.hostname
    this.port = parsed.port === '' ? (this.secure ? 443 : 80) : Number(parsed.port)
    this.tls = this.secure ? tlsConnectOptions(tls) : undefined
    this.#connectTimeoutMs = timeouts.connect
    this.#keepAliveMs = timeouts.upstreamKeepAlive ?? UPSTREAM_KEEP_ALIVE_MS
    this.#connections = connections
  }

  /**
   * The undici pool to this target, made on first use (node's engine, mirroring, health checks;
   * not the socket engine). Asked for after retirePool (a late retry), it is born closed.
   */
  get pool(): Pool {
    if (this.#pool !== undefined) return this.#pool
    this.#pool = new (undici().Pool)(this.origin, {
      connect: { timeout: this.#connectTimeoutMs, ...this.tls },
      ...undiciKeepAlive(this.#keepAliveMs),
      ...(this.#connections > 0 ? { connections: this.#connections } : {}),
    })
    if (this.#retired !== undefined) void this.#pool[this.#retired]()
    return this.#pool
  }

  /** Closes (letting requests in flight finish) or destroys the undici pool, if one was made. */
  async retirePool(how: 'close' | 'destroy'): Promise<void> {
    this.#retired = how
    await this.#pool?.[how]()
  }

  /** The socket engine's keep-alive connections to this target, made on first use. */
  get sockets(): SocketPool {
    return (this.#sockets ??= new SocketPool(this, this.#connectTimeoutMs, this.#connections, this.#keepAliveMs))
  }

  /** Closes the socket engine's idle connections; busy ones close as their requests end. */
  closeSockets(): void {
    this.#sockets?.close()
  }

  /** Whether this target should take requests: not ejected and not actively unhealthy. */
  routable(): boolean {
    if (this.activeCheck.state === 'unhealthy') return false
    if (this.ejectedUntil === 0) return true
    if (Date.now() < this.ejectedUntil) return false
    this.ejectedUntil = 0
    return true
  }

  /**
   * Notes an answer from the upstream with its status: a 5xx counts towards ejection like a
   * transport failure, anything else resets the count. Without a status it is a non-5xx.
   */
  succeeded(status?: number): void {
    if (status !== undefined && status >= 500) this.#error(`status ${status}`)
    else if (this.consecutiveFailures !== 0) this.consecutiveFailures = 0
  }

  /** Notes a transport failure (connect, timeout, reset, protocol). */
  failed(description: string): void {
    this.#error(description)
  }

  /**
   * Ejects at `consecutiveErrors` in a row. The count is not reset by the ejection itself, so a
   * target that still fails when it comes back is ejected again on its first failure.
   */
  #error(description: string): void {
    const now = Date.now()
    this.consecutiveFailures++
    this.lastError = description
    this.lastErrorAt = now
    const limit = this.outlier.consecutiveErrors
    if (limit === 0 || this.consecutiveFailures < limit || this.ejectedUntil > now) return
    this.ejectedUntil = now + this.outlier.ejectionTime
    try {
      this.listener?.({ url: this.url, event: 'ejected', reason: description })
    } catch {
      // The request path must not fail because a listener did.
    }
  }

  /** Copies health (passive and active) from the target this one replaces. */
  inherit(from: UpstreamTarget): void {
    this.consecutiveFailures = from.consecutiveFailures
    this.lastError = from.lastError
    this.lastErrorAt = from.lastErrorAt
    this.ejectedUntil = from.ejectedUntil
    this.activeCheck.copyFrom(from.activeCheck)
  }

  /** The health report of /v1/upstreams. */
  health(now = Date.now()): TargetHealth {
    const ejected = this.ejectedUntil > now
    const active = this.activeCheck.state
    return {
      url: this.url,
      healthy: !ejected && active !== 'unhealthy',
      active,
      ejectedUntil: ejected ? new Date(this.ejectedUntil).toISOString() : null,
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
 * The targets of one colour, picked round-robin over the routable ones (not ejected, not
 * actively unhealthy); when none is routable, over all of them (Envoy's panic mode). Owns the
 * active health checks of its targets. Replaced whole when the targets change.
 */
export class UpstreamPool {
  readonly targets: readonly UpstreamTarget[]
  #next = 0
  #checker: HealthChecker | undefined = undefined
  #closed = false

  /**
   * Builds pools for `urls`; throws on an invalid URL. Health carries over for URLs in
   * `previous`. `connections` caps each target's connections (0 = unlimited); `tls` verifies
   * https:// targets.
   */
  constructor(urls: readonly string[], timeouts: ConnectionTimeouts, previous?: UpstreamPool, connections = 0, tls: UpstreamTls = VERIFY_UPSTREAM_TLS) {
    // A target opens nothing until used, so an invalid URL leaves nothing to close.
    const targets = urls.map((url) => new UpstreamTarget(url, timeouts, connections, tls))
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
    for (let tried = 0; tried < count; tried++) {
      const target = targets[this.#advance(count)]!
      if (target.routable()) return target
    }
    // Panic mode: with nothing healthy, every target gets its turn rather than none.
    return targets[this.#advance(count)]
  }

  /**
   * Another target than `failed`, for one retry after a connect failure: the next routable one
   * after it, else the next one; undefined when the colour has no other target. Leaves the
   * round-robin cursor alone, so retries do not skew the rotation.
   */
  pickOther(failed: UpstreamTarget): UpstreamTarget | undefined {
    const targets = this.targets
    const count = targets.length
    if (count <= 1) return undefined
    const start = targets.indexOf(failed)
    let fallback: UpstreamTarget | undefined
    for (let step = 1; step < count; step++) {
      const target = targets[(start + step + count) % count]!
      if (target === failed) continue
      if (target.routable()) return target
      fallback ??= target
    }
    return fallback
  }

  #advance(count: number): number {
    const index = this.#next
    this.#next = index + 1 === count ? 0 : index + 1
    return index
  }

  /**
   * Applies health settings: the outlier limits at once, and active checks restarted with the
   * new settings (a verdict survives unless the path changed). Ignored once closed.
   */
  setHealth(health: PoolHealth): void {
    if (this.#closed) return
    this.#checker?.stop()
    this.#checker = undefined
    const path = health.healthCheck.path
    for (const target of this.targets) {
      target.outlier = health.outlier
      target.listener = health.listener
      target.activeCheck.configure(path)
    }
    if (path === '' || this.targets.length === 0) return
    this.#checker = new HealthChecker(this.targets, health.healthCheck, health.listener)
    this.#checker.start()
  }

  /** Health of every target, in configured order. */
  health(): TargetHealth[] {
    const now = Date.now()
    return this.targets.map((target) => target.health(now))
  }

  /** Stops taking requests; resolves once the requests in flight have finished. */
  async close(): Promise<void> {
    this.#stopChecks()
    for (const target of this.targets) target.closeSockets()
    await Promise.all(this.targets.map((target) => target.retirePool('close')))
  }

  /** Aborts whatever is still in flight and closes every connection. */
  async destroy(): Promise<void> {
    this.#stopChecks()
    for (const target of this.targets) target.closeSockets()
    await Promise.all(this.targets.map((target) => target.retirePool('destroy')))
  }

  #stopChecks(): void {
    this.#closed = true
    this.#checker?.stop()
    this.#checker = undefined
  }
}
