import type { Logger } from 'pino'
import type { Config } from './config/schema.js'
import { createProxyServer, type ProxyServer } from './proxy/proxy-server.js'
import type { OutcomeSink, ProxyTimeouts, TargetHealth } from './proxy/types.js'
import { Router } from './routing/router.js'
import type { Color, RoutingTable, TableSource } from './routing/types.js'

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
  /** Resolves once every proxy process routes with `table` (at once for a local proxy). */
  publish(table: RoutingTable): Promise<void>
  health(): Promise<Record<Color, TargetHealth[]>>
  inFlight(): Promise<Record<Color, number>>
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
): ProxyServer {
  const router = new Router({
    keys: config.sticky.keys,
    cookie: config.sticky.cookie,
    cookieMaxAgeSeconds: Math.round(config.sticky.cookieMaxAge / 1000),
    overrideHeader: config.override.header,
  })
  return createProxyServer({ tables, router, sink, upstreams: targets, timeouts: config.timeouts, logger, accessLog: config.log.access })
}

/** Adds up health reports of the same targets from several processes. */
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
    publish: async () => undefined,
    health: async () => proxy.health(),
    inFlight: async () => proxy.inFlight(),
    remoteMetrics: async () => [],
    workers: async () => [{ id: 0, pid: process.pid, requests: served(), inFlight: proxy.inFlight() }],
    close: (deadlineMs) => proxy.close(deadlineMs),
  }
}
