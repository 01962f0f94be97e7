import type { Logger } from 'pino'
import type { Config } from '../config/schema.js'
import type { ServiceSpec } from '../config/services.js'
import type { ServiceMetrics } from '../metrics/metrics.js'
import { WindowRecorder, type WindowDelta } from '../outcomes/window-delta.js'
import type { ProxyServer } from '../proxy/proxy-server.js'
import type { Certificate } from '../proxy/tls.js'
import type { Color, RoutingTable } from '../routing/types.js'
import type { Pair } from '../shadow/captured.js'
import { buildServicesProxy, serviceLanes, type ServiceLaneParts } from './build-proxy.js'
import { TableHolder } from './local.js'
import { PairQueue } from './mirror-sink.js'
import { outcomeSink, type OutcomeRecord } from './outcome-sink.js'
import type { DataPlane } from './plane.js'

/** What one service's lane is started with: what app.ts has of it. */
export interface ServiceInput {
  readonly spec: ServiceSpec
  readonly targets: Record<Color, readonly string[]>
  /** The table its lane starts with; later ones come through its DataPlane's publish. */
  readonly table: RoutingTable
  readonly metrics: ServiceMetrics
  /** Where its shadow pairs go for comparison. */
  readonly shadows: (pairs: readonly Pair[]) => void
  /** Each request straight into its analysis; null when batched for the fleet exchange (takeOwn). */
  readonly record: OutcomeRecord | null
  /**
   * With proxy workers (ClusterServicesDataPlane): the batches of counts they report for this
   * service, as a single service's `outcomes.merge` takes them. Unused by ServicesDataPlane.
   */
  readonly merge?: (deltas: readonly WindowDelta[]) => void
}

/** A lane's parts that outlive a reload: its table, its outcome sink and its batches. */
export interface Lane {
  readonly parts: ServiceLaneParts
  readonly tables: TableHolder
  readonly served: () => number
  /** Outcomes batched for someone to take (the fleet exchange, a worker's report); null when recorded directly. */
  readonly recorder: WindowRecorder | null
  readonly pairs: PairQueue
}

/** What a lane is built from: a ServiceInput, or a proxy worker's share of one (whose report takes the pairs: null). */
export type LaneInput = Pick<ServiceInput, 'targets' | 'table' | 'metrics' | 'record'> & { readonly shadows: ServiceInput['shadows'] | null }

/** One service's lane parts, in this process or in a proxy worker. */
export function laneOf(spec: ServiceSpec, input: LaneInput): Lane {
  const { config } = spec
  const recorder = input.record === null ? new WindowRecorder() : null
  const record: OutcomeRecord = input.record ?? ((color, durationMs, isError, ttfbMs, route) => recorder!.record(color, durationMs, isError, ttfbMs, route))
  const sink = outcomeSink(input.metrics, () => config.rollout.analysis, record)
  const tables = new TableHolder(input.table)
  const pairs = new PairQueue(input.metrics, input.shadows)
  const parts = { spec, targets: input.targets, tables, sink, mirror: pairs }
  return { parts, tables, served: () => sink.served(), recorder, pairs }
}

/**
 * The data plane of a switchyard fronting several services (workers: 1): one proxy server,
 * one lane per service. Each service's control side drives its own lane through `plane(name)`,
 * a DataPlane like a single-service switchyard's; a reload adds and removes lanes.
 */
export class ServicesDataPlane {
  readonly #proxy: ProxyServer
  #lanes: ReadonlyMap<string, Lane>
  readonly port: number

  private constructor(proxy: ProxyServer, lanes: ReadonlyMap<string, Lane>, port: number) {
    this.#proxy = proxy
    this.#lanes = lanes
    this.port = port
  }

  static async start(config: Config, inputs: readonly ServiceInput[], logger: Logger, certificates: readonly Certificate[] | null): Promise<ServicesDataPlane> {
    const lanes = new Map(inputs.map((input) => [input.spec.name, laneOf(input.spec, input)]))
    const proxy = buildServicesProxy(config, [...lanes.values()].map((l) => l.parts), logger, certificates)
    inputs[0]?.metrics.countConnections(() => proxy.inFlight())
    try {
      const address = await proxy.listen(config.proxy.port, config.proxy.host)
      return new ServicesDataPlane(proxy, lanes, address.port)
    } catch (err) {
      await proxy.close(0)
      throw err
    }
  }

  /** One service's data plane: its lane, and the server-wide parts every service shares. */
  plane(name: string): DataPlane {
    const lane = () => {
      const found = this.#proxy.lane(name)
      if (found === undefined) throw new Error(`no lane for service ${name}`)
      return found
    }
    const proxy = this.#proxy
    return {
      setTargets: (color, targets) => lane().setTargets(color, targets),
      setTimeouts: (timeouts) => lane().setTimeouts(timeouts),
      setHealth: (healthCheck, outlier) => lane().setHealth(healthCheck, outlier),
      publish: async (table) => this.#lanes.get(name)?.tables.set(table),
      health: async () => lane().health(),
      inFlight: async () => lane().inFlight(),
      connections: async () => lane().connections(),
      drainColor: (color, deadlineMs) => lane().drainColor(color, deadlineMs),
      cancelDrain: (color) => lane().cancelDrain(color),
      remoteMetrics: async () => [],
      workers: async () => [{ id: 0, pid: process.pid, requests: this.#lanes.get(name)?.served() ?? 0, inFlight: lane().inFlight() }],
      setCertificates: (certificates) => proxy.setCertificates(certificates),
      close: (deadlineMs) => proxy.close(deadlineMs),
    }
  }

  /** With a fleet: what a service's lane counted since the last call, for the exchange to take. */
  takeOwn(name: string): (() => WindowDelta[]) | undefined {
    const recorder = this.#lanes.get(name)?.recorder
    return recorder === null || recorder === undefined ? undefined : () => recorder.take()
  }

  /**
   * A reload's services: `inputs` holds the new ones (a service already served keeps its
   * lane, table and counts); services left out are removed once their requests finish.
   */
  setServices(config: Config, services: readonly ServiceSpec[], inputs: ReadonlyMap<string, ServiceInput>): void {
    const lanes = new Map<string, Lane>()
    for (const spec of services) {
      const kept = this.#lanes.get(spec.name)
      const input = inputs.get(spec.name)
      if (kept !== undefined) lanes.set(spec.name, { ...kept, parts: { ...kept.parts, spec } })
      else if (input !== undefined) lanes.set(spec.name, laneOf(spec, input))
    }
    this.#lanes = lanes
    this.#proxy.setServices({ lanes: serviceLanes([...lanes.values()].map((l) => l.parts)), defaultService: config.proxy.defaultService })
  }

  /** The server's own timeouts (the header timeout); each lane's come through its plane. */
  setHeaderTimeout(config: Config): void {
    this.#proxy.setHeaderTimeout(config.timeouts)
  }

  close(deadlineMs: number): Promise<void> {
    return this.#proxy.close(deadlineMs)
  }
}
