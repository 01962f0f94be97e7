import type { Logger } from 'pino'
import type { AnalysisSettings, Config } from '../config/schema.js'
import type { Metrics } from '../metrics/metrics.js'
import type { WindowDelta } from '../outcomes/window-delta.js'
import { WindowRecorder } from '../outcomes/window-delta.js'
import type { Certificate } from '../proxy/tls.js'
import type { Color, RoutingTable } from '../routing/types.js'
import { buildProxy } from './build-proxy.js'
import { ClusterDataPlane } from './cluster/primary.js'
import { localDataPlane, TableHolder } from './local.js'
import { outcomeSink, type OutcomeRecord } from './outcome-sink.js'
import type { DataPlane } from './plane.js'
import { PairQueue } from './mirror-sink.js'
import type { Pair } from '../shadow/captured.js'

export interface DataPlaneOptions {
  readonly config: Config
  readonly targets: Record<Color, readonly string[]>
  /** The table every proxy process starts with; later ones come through DataPlane.publish. */
  readonly table: RoutingTable
  readonly metrics: Metrics
  /** The analysis settings as they are now (a reload of abandonAfter applies at once in this process). */
  readonly analysis: () => AnalysisSettings
  /** proxy.tls, read and checked (null: plain HTTP). */
  readonly certificates: readonly Certificate[] | null
  readonly logger: Logger
  /** Where shadow pairs go for comparison (off the request path, in batches). */
  readonly shadows: (pairs: readonly Pair[]) => void
  /** Where outcomes go. */
  readonly outcomes: {
    /** Batches of counts reported by the proxy workers. */
    readonly merge: (deltas: readonly WindowDelta[]) => void
    /**
     * One process: each request straight into the analysis; null when they are batched
     * instead, for the fleet exchange to take (StartedDataPlane.takeOwn).
     */
    readonly direct: OutcomeRecord | null
  }
}

export interface StartedDataPlane {
  readonly plane: DataPlane
  readonly port: number
  /** One process with batched outcomes: what it counted since the last call (the fleet exchange takes it). */
  readonly takeOwn: (() => WindowDelta[]) | undefined
}

/**
 * Starts the proxy: in this process (`workers: 1`), or as N worker processes that report their
 * outcomes here. Either way the result is one DataPlane that tables and targets are pushed to.
 */
export async function startDataPlane(options: DataPlaneOptions): Promise<StartedDataPlane> {
  const { config, targets, table, metrics, certificates, logger, outcomes } = options
  if (config.workers > 1) {
    // Proxy workers report their outcomes into this process; this process steers.
    const workers = new ClusterDataPlane({ config, count: config.workers, targets, table, report: outcomes.merge, shadows: options.shadows, logger, certificates })
    await workers.start()
    return { plane: workers, port: workers.port, takeOwn: undefined }
  }
  const recorder = outcomes.direct === null ? new WindowRecorder() : null
  const record: OutcomeRecord = outcomes.direct ?? ((color, durationMs, isError, ttfbMs, route) => recorder!.record(color, durationMs, isError, ttfbMs, route))
  const sink = outcomeSink(metrics, options.analysis, record)
  const tables = new TableHolder(table)
  const proxy = buildProxy(config, targets, tables, sink, logger, certificates, new PairQueue(metrics, options.shadows))
  metrics.countConnections(() => proxy.inFlight())
  const plane = localDataPlane(proxy, tables, () => sink.served())
  try {
    const address = await proxy.listen(config.proxy.port, config.proxy.host)
    return { plane, port: address.port, takeOwn: recorder === null ? undefined : () => recorder.take() }
  } catch (err) {
    await proxy.close(0)
    throw err
  }
}
