import type { Logger } from 'pino'
import type { Config, HealthCheckSettings } from '../../config/schema.js'
import { DEFAULT_SERVICE } from '../../config/services.js'
import type { WindowDelta } from '../../outcomes/window-delta.js'
import type { ConnectionCounts } from '../../proxy/proxy-state.js'
import type { Certificate } from '../../proxy/tls.js'
import type { ProxyTimeouts, TargetHealth } from '../../proxy/types.js'
import type { Color, RoutingTable } from '../../routing/types.js'
import type { Pair } from '../../shadow/captured.js'
import type { DataPlane, WorkerInfo } from '../plane.js'
import { ClusterLanes } from './lanes.js'

export interface ClusterOptions {
  readonly config: Config
  readonly count: number
  readonly targets: Record<Color, readonly string[]>
  /** The table the workers start with; publish() brings every later one (also to workers started later). */
  readonly table: RoutingTable
  /** Receives the workers' outcome counts, for auto-revert, rollout analysis and /v1/status. */
  readonly report: (deltas: readonly WindowDelta[]) => void
  /** Shadow pairs the workers captured, for the comparison. */
  readonly shadows: (pairs: readonly Pair[]) => void
  readonly logger: Logger
  /** proxy.tls, read and checked here; each worker gets the PEMs (null: plain HTTP). */
  readonly certificates: readonly Certificate[] | null
}

/**
 * N proxy worker processes on one port (node:cluster) serving one service, driven from the
 * primary: each gets the table by message and swaps it whole; their window counts are merged
 * here so that auto-revert judges all of them together; a worker that dies is replaced. The
 * one service (`default`) of ClusterLanes, which several services share (services-primary.ts).
 */
export class ClusterDataPlane implements DataPlane {
  readonly #lanes: ClusterLanes
  readonly #plane: DataPlane

  constructor(options: ClusterOptions) {
    const { config, count, targets, table, report, shadows, logger, certificates } = options
    const spec = { name: DEFAULT_SERVICE, match: { hosts: [], pathPrefixes: [] }, config }
    this.#lanes = new ClusterLanes({ config, count, several: false, services: [{ spec, targets, table, merge: report, shadows }], logger, certificates })
    this.#plane = this.#lanes.plane(DEFAULT_SERVICE)
  }

  get port(): number {
    return this.#lanes.port
  }

  /** Forks every worker and resolves once all of them listen. */
  start(): Promise<void> {
    return this.#lanes.start()
  }

  setTargets(color: Color, targets: readonly string[]): void {
    this.#plane.setTargets(color, targets)
  }

  setTimeouts(timeouts: ProxyTimeouts): void {
    this.#plane.setTimeouts(timeouts)
  }

  setHealth(healthCheck: HealthCheckSettings, outlier: Config['outlierDetection']): void {
    this.#plane.setHealth(healthCheck, outlier)
  }

  publish(table: RoutingTable): Promise<void> {
    return this.#plane.publish(table)
  }

  health(): Promise<Record<Color, TargetHealth[]>> {
    return this.#plane.health()
  }

  inFlight(): Promise<Record<Color, number>> {
    return this.#plane.inFlight()
  }

  connections(): Promise<Record<Color, ConnectionCounts>> {
    return this.#plane.connections()
  }

  drainColor(color: Color, deadlineMs: number): void {
    this.#plane.drainColor(color, deadlineMs)
  }

  cancelDrain(color: Color): void {
    this.#plane.cancelDrain(color)
  }

  setCertificates(certificates: readonly Certificate[]): void {
    this.#plane.setCertificates(certificates)
  }

  remoteMetrics(): Promise<object[]> {
    return this.#plane.remoteMetrics()
  }

  workers(): Promise<WorkerInfo[]> {
    return this.#plane.workers()
  }

  close(deadlineMs: number): Promise<void> {
    return this.#lanes.close(deadlineMs)
  }
}
