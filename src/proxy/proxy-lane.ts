import type { Logger } from 'pino'
import type { Router } from '../routing/router.js'
import type { Color, TableSource } from '../routing/types.js'
import { DEFAULT_OUTLIER, HEALTH_CHECK_OFF, logHealthEvents } from './health-checker.js'
import { Mirror, type MirrorSettings, type MirrorSink } from './mirror.js'
import { ProxyState, type ConnectionCounts } from './proxy-state.js'
import type { RequestIds } from './request-id.js'
import type { TrustedProxies } from './trusted-proxies.js'
import type { HealthCheckSettings, OutcomeSink, OutlierSettings, ProxyLimits, ProxyTimeouts, TargetHealth } from './types.js'
import type { UpstreamTls } from './upstream-connections.js'
import { UpstreamPool, type PoolHealth } from './upstream-pool.js'

/** What one service's part of the data path is built from: its table, its router, its targets. */
export interface LaneOptions {
  /** Read once per request. */
  tables: TableSource
  router: Router
  /** Gets exactly one record per finished request or WebSocket handshake. */
  sink: OutcomeSink
  /** Origins such as http://127.0.0.1:3001. */
  upstreams: { blue: readonly string[]; green: readonly string[] }
  timeouts: ProxyTimeouts
  /** Active health checks of each target; off when absent. */
  healthCheck?: HealthCheckSettings | undefined
  /** Passive ejection after consecutive errors; Envoy's defaults (5, 30 s) when absent. */
  outlier?: OutlierSettings | undefined
  /** Shadow traffic: how shadows are sent and where their pairs go; none when absent. */
  mirror?: { readonly settings: MirrorSettings; readonly sink: MirrorSink } | undefined
}

/** What a lane shares with the others of its server. */
export interface LaneShared {
  readonly logger: Logger
  readonly accessLog: boolean
  readonly requestIds: RequestIds | null
  readonly limits: ProxyLimits
  readonly trust: TrustedProxies | null
  readonly tls: boolean
  readonly upstreamTls: UpstreamTls
}

/**
 * One service's part of the data path: its request state (table, router, pools, mirror,
 * in-flight counts, drains) and what the control side does to it. A single-service proxy has
 * one lane; requests find theirs before anything else is done for them.
 */
export class ProxyLane {
  readonly state: ProxyState
  readonly #upstreamTls: UpstreamTls
  /** Pools replaced by setTargets that still finish their requests. */
  readonly #retiring = new Set<UpstreamPool>()
  #health: PoolHealth
  #closed = false

  /** Throws on an invalid upstream URL (no pool is left open then). `service`: its name when the proxy fronts several. */
  constructor(options: LaneOptions, shared: LaneShared, service?: string) {
    this.#upstreamTls = shared.upstreamTls
    const connections = shared.limits.maxConnectionsPerTarget
    const blue = new UpstreamPool(options.upstreams.blue, options.timeouts, undefined, connections, shared.upstreamTls)
    let green: UpstreamPool
    try {
      green = new UpstreamPool(options.upstreams.green, options.timeouts, undefined, connections, shared.upstreamTls)
    } catch (err) {
      void blue.destroy()
      throw err
    }
    this.#health = { healthCheck: options.healthCheck ?? HEALTH_CHECK_OFF, outlier: options.outlier ?? DEFAULT_OUTLIER, listener: logHealthEvents(shared.logger) }
    blue.setHealth(this.#health)
    green.setHealth(this.#health)
    this.state = new ProxyState({ ...shared, tables: options.tables, router: options.router, sink: options.sink, timeouts: options.timeouts, pools: { blue, green }, service })
    if (options.mirror !== undefined) this.state.mirror = new Mirror(options.mirror.settings, this.state.pools, options.mirror.sink)
  }

  setTargets(color: Color, targets: readonly string[]): void {
    const pools = this.state.pools
    const previous = pools[color]
    const pool = new UpstreamPool(targets, this.state.timeouts, previous, this.state.limits.maxConnectionsPerTarget, this.#upstreamTls)
    pool.setHealth(this.#health)
    pools[color] = pool
    this.#retire(previous)
  }

  setHealth(healthCheck: HealthCheckSettings, outlier: OutlierSettings): void {
    this.#health = { ...this.#health, healthCheck, outlier }
    if (this.#closed) return
    this.state.pools.blue.setHealth(this.#health)
    this.state.pools.green.setHealth(this.#health)
  }

  /** Applies to requests that start afterwards (a new connect or keep-alive timeout rebuilds the pools). */
  setTimeouts(timeouts: ProxyTimeouts): void {
    const before = this.state.timeouts
    this.state.timeouts = timeouts
    // Both belong to a pool's connections, so only new pools can take them.
    if (timeouts.connect !== before.connect || timeouts.upstreamKeepAlive !== before.upstreamKeepAlive) {
      for (const color of ['blue', 'green'] as const) this.setTargets(color, this.state.pools[color].targets.map((target) => target.url))
    }
  }

  health(): Record<Color, TargetHealth[]> {
    return { blue: this.state.pools.blue.health(), green: this.state.pools.green.health() }
  }

  inFlight(): Record<Color, number> {
    return this.state.inFlight()
  }

  connections(): Record<Color, ConnectionCounts> {
    return this.state.connections()
  }

  drainColor(color: Color, deadlineMs: number): void {
    this.state.drainColor(color, deadlineMs)
  }

  cancelDrain(color: Color): void {
    this.state.cancelDrain(color)
  }

  /**
   * Closes the lane's pools: gracefully (`drained`: nothing is in flight, so nothing waits) or
   * at once. Shadows still out are cancelled, uncompared. Health checks stop.
   */
  async close(drained: boolean): Promise<void> {
    this.#closed = true
    this.state.mirror?.close()
    const pools = [this.state.pools.blue, this.state.pools.green, ...this.#retiring]
    await Promise.all(pools.map((pool) => (drained ? pool.close() : pool.destroy()).catch(() => undefined)))
  }

  /** A lane whose service left the config: what is in flight on it finishes, then its pools close. */
  async retire(): Promise<void> {
    await this.state.whenIdle()
    await this.close(true)
  }

  #retire(pool: UpstreamPool): void {
    this.#retiring.add(pool)
    // undici's close() waits for the requests in flight on this pool.
    pool
      .close()
      .catch(() => undefined)
      .finally(() => this.#retiring.delete(pool))
  }
}
