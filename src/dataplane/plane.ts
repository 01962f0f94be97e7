import type { Config, HealthCheckSettings } from '../config/schema.js'
import type { Certificate } from '../proxy/tls.js'
import type { ConnectionCounts } from '../proxy/proxy-state.js'
import type { ActiveHealth, ProxyTimeouts, TargetHealth } from '../proxy/types.js'
import type { Color, RoutingTable } from '../routing/types.js'

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
  /**
   * Every proxy process routes with `table` from now on: pushed, never pulled, the same way
   * for one process and for N workers. Resolves once each of them has it.
   */
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
