import type { Logger } from 'pino'
import type { Config, HealthCheckSettings } from '../config/schema.js'
import { createProxyServer, type ProxyServer } from '../proxy/proxy-server.js'
import { readCaFile, type Certificate } from '../proxy/tls.js'
import type { ConnectionCounts } from '../proxy/proxy-state.js'
import type { ActiveHealth, OutcomeSink, ProxyTimeouts, TargetHealth } from '../proxy/types.js'
import { PreviewSigner } from '../routing/preview.js'
import { Router } from '../routing/router.js'
import type { Color, RoutingTable, TableSource } from '../routing/types.js'

/** One proxy process as /v1/status lists it. */
export interface WorkerInfo {
  readonly id: number
  readonly pid: number
  /** Requests this process finished since it started. */
  readonly requests: number
  readonly inFlight: Record<Color, number>
}

/**
 * What the control side drives: the proxy in this process, or N proxy worker processes.
 * Everything here runs off the request path.
 */
export interface DataPlane {
  setTargets(color: Color, targets: readonly string[]): void
  setTimeouts(timeouts: ProxyTimeouts): void
  /** New health-check and outlier settings (config reload). */
  setHealth(healthCheck: HealthCheckSettings, outlier: Config['outlierDetection']): void
  /** Resolves once every proxy process routes with `table` (at once for a local proxy). */
  publish(table: RoutingTable): Promise<void>
  health(): Promise<Record<Color, TargetHealth[]>>
  inFlight(): Promise<Record<Color, number>>
  /** Requests, streams and WebSockets open per colour, summed over the proxy processes. */
  connections(): Promise<Record<Color, ConnectionCounts>>
  /** Starts (or restarts) the drain of a colour whose share went to 0; see ProxyServer.drainColor. */
  drainColor(color: Color, deadlineMs: number): void
  /** Cancels a pending drain of `color` (its share rose again before the deadline). */
  cancelDrain(color: Color): void
  /** Serves new proxy certificates (proxy.tls) in every proxy process; throws when refused here. */
  setCertificates(certificates: readonly Certificate[]): void
  /** Each other process's `registry.getMetricsAsJSON()`, to aggregate with this one's. */
  remoteMetrics(): Promise<object[]>
  workers(): Promise<WorkerInfo[]>
  close(deadlineMs: number): Promise<void>
}

/** Builds one process's proxy from the config: the sticky policy, the targets and the timeouts. */
export function buildProxy(
  config: Config,
  targets: Record<Color, readonly string[]>,
  tables: TableSource,
  sink: OutcomeSink,
  logger: Logger,
  /** proxy.tls, read and checked (the primary reads them for its workers); null: plain HTTP. */
  certificates: readonly Certificate[] | null = null,
): ProxyServer {
  const router = new Router({
    keys: config.sticky.keys,
    cookie: config.sticky.cookie,
    cookieMaxAgeSeconds: Math.round(config.sticky.cookieMaxAge / 1000),
    cookieSameSite: config.sticky.cookieSameSite,
    cookieSecure: config.sticky.cookieSecure,
    overrideHeader: config.override.header,
    preview: new PreviewSigner(config.override.previewSecret),
    previewCookie: config.override.previewCookie,
  })
  return createProxyServer({
    tables,
    router,
    sink,
    upstreams: targets,
    timeouts: config.timeouts,
    logger,
    accessLog: config.log.access,
    healthCheck: config.healthCheck,
    outlier: config.outlierDetection,
    limits: config.limits,
    tls: certificates,
    redirectHttp: config.proxy.redirectHttp,
    trustedProxies: config.proxy.trustedProxies,
    upstreamTls: {
      rejectUnauthorized: !config.upstreams.tls.insecureSkipVerify,
      ca: config.upstreams.tls.ca === null ? undefined : readCaFile('upstreams.tls.ca', config.upstreams.tls.ca),
      servername: config.upstreams.tls.servername ?? undefined,
    },
  })
}

/** Active verdicts from the least to the most alarming, for mergeHealth. */
const ACTIVE_RANK: Record<ActiveHealth, number> = { off: 0, healthy: 1, unknown: 2, unhealthy: 3 }

/**
 * Adds up health reports of the same targets from several processes: healthy only if every
 * process says so, the worst active verdict, the latest ejection end.
 */
export function mergeHealth(reports: readonly Record<Color, readonly TargetHealth[]>[]): Record<Color, TargetHealth[]> {
  const merge = (color: Color): TargetHealth[] => {
    const byUrl = new Map<string, TargetHealth>()
    for (const report of reports) {
      for (const h of report[color]) {
        const seen = byUrl.get(h.url)
        if (seen === undefined) {
          byUrl.set(h.url, h)
          continue
        }
        const newer = (h.lastErrorAt ?? '') > (seen.lastErrorAt ?? '') ? h : seen
        byUrl.set(h.url, {
          url: h.url,
          healthy: seen.healthy && h.healthy,
          active: ACTIVE_RANK[h.active] > ACTIVE_RANK[seen.active] ? h.active : seen.active,
          ejectedUntil: (h.ejectedUntil ?? '') > (seen.ejectedUntil ?? '') ? h.ejectedUntil : seen.ejectedUntil,
          consecutiveFailures: Math.max(seen.consecutiveFailures, h.consecutiveFailures),
          lastError: newer.lastError,
          lastErrorAt: newer.lastErrorAt,
          inFlight: seen.inFlight + h.inFlight,
        })
      }
    }
    return [...byUrl.values()]
  }
  return { blue: merge('blue'), green: merge('green') }
}

/** The data plane of a single-process switchyard: the proxy in this process. */
export function localDataPlane(proxy: ProxyServer, served: () => number): DataPlane {
  return {
    setTargets: (color, targets) => proxy.setTargets(color, targets),
    setTimeouts: (timeouts) => proxy.setTimeouts(timeouts),
    setHealth: (healthCheck, outlier) => proxy.setHealth(healthCheck, outlier),
    publish: async () => undefined,
    health: async () => proxy.health(),
    inFlight: async () => proxy.inFlight(),
    connections: async () => proxy.connections(),
    drainColor: (color, deadlineMs) => proxy.drainColor(color, deadlineMs),
    cancelDrain: (color) => proxy.cancelDrain(color),
    remoteMetrics: async () => [],
    workers: async () => [{ id: 0, pid: process.pid, requests: served(), inFlight: proxy.inFlight() }],
    setCertificates: (certificates) => proxy.setCertificates(certificates),
    close: (deadlineMs) => proxy.close(deadlineMs),
  }
}
