import type { Logger } from 'pino'
import type { Config } from '../../config/schema.js'
import type { ServiceSpec } from '../../config/services.js'
import type { WindowDelta } from '../../outcomes/window-delta.js'
import type { ConnectionCounts } from '../../proxy/proxy-state.js'
import type { Certificate } from '../../proxy/tls.js'
import type { ProxyTimeouts } from '../../proxy/types.js'
import type { Color, RoutingTable } from '../../routing/types.js'
import type { Pair } from '../../shadow/captured.js'
import { mergeHealth, type DataPlane, type WorkerInfo } from '../plane.js'
import { decodePair, toWireTable, type LaneStatus, type ToWorker, type WireHealth, type WireService } from './messages.js'
import { WorkerPool, type Report } from './worker-pool.js'

/** How long a broadcast waits for every worker to confirm; a split change usually takes ~1 ms. */
const PUBLISH_TIMEOUT_MS = 1_000

/** One service as the workers are to serve it, and where its workers' reports go. */
export interface ClusterService {
  readonly spec: ServiceSpec
  readonly targets: Record<Color, readonly string[]>
  /** The table its lanes start with; publish() brings every later one (also to workers started later). */
  readonly table: RoutingTable
  /** Receives the workers' outcome counts, for auto-revert, rollout analysis and /v1/status. */
  readonly merge: (deltas: readonly WindowDelta[]) => void
  /** Shadow pairs the workers captured, for the comparison. */
  readonly shadows: (pairs: readonly Pair[]) => void
}

export interface ClusterLanesOptions {
  readonly config: Config
  /** How many workers (config.workers). */
  readonly count: number
  /** Several services (lanes by Host and path, a `service` label), or the one `default` service as before them. */
  readonly several: boolean
  readonly services: readonly ClusterService[]
  readonly logger: Logger
  /** proxy.tls, read and checked here; each worker gets the PEMs (null: plain HTTP). */
  readonly certificates: readonly Certificate[] | null
}

/** What the primary holds of a service: all a worker started later needs to route as the others do. */
interface ServiceState {
  /** As first served: a kept service's lanes keep the config they were built with; only its match follows reloads. */
  spec: ServiceSpec
  targets: Record<Color, readonly string[]>
  table: RoutingTable
  timeouts: ProxyTimeouts
  health: WireHealth | null
  readonly merge: (deltas: readonly WindowDelta[]) => void
  readonly shadows: (pairs: readonly Pair[]) => void
}

const stateOf = (s: ClusterService): ServiceState => ({
  spec: s.spec,
  targets: { ...s.targets },
  table: s.table,
  timeouts: s.spec.config.timeouts,
  health: null,
  merge: s.merge,
  shadows: s.shadows,
})

const wire = (s: ServiceState): WireService => ({ spec: s.spec, targets: s.targets, table: toWireTable(s.table), timeouts: s.timeouts, health: s.health })

/**
 * The services of a switchyard with proxy workers, as the primary drives them: each service's
 * table, targets and settings are pushed to every worker by message (and to a replacement in
 * its init); each worker's reports reach the service they name. One service or several: the
 * same messages, the one service is named `default`.
 */
export class ClusterLanes {
  readonly #options: ClusterLanesOptions
  readonly #pool: WorkerPool
  #services: Map<string, ServiceState>
  #defaultService: string | null
  #headerTimeouts: ProxyTimeouts
  #certificates: readonly Certificate[] | null
  /** Rises with every published table and change of services: what workers acknowledge. */
  #seq = 0

  constructor(options: ClusterLanesOptions) {
    this.#options = options
    this.#services = new Map(options.services.map((s) => [s.spec.name, stateOf(s)]))
    this.#defaultService = options.config.proxy.defaultService
    this.#headerTimeouts = options.config.timeouts
    this.#certificates = options.certificates
    this.#pool = new WorkerPool(options.count, options.logger, {
      hello: () => ({ init: this.#init(), seq: this.#seq }),
      report: (message) => this.#report(message),
    })
  }

  get port(): number {
    return this.#pool.port
  }

  /** Forks every worker and resolves once all of them listen. */
  start(): Promise<void> {
    return this.#pool.start()
  }

  /** One service's data plane over every worker; what it pushes reaches that service's lanes only. */
  plane(name: string): DataPlane {
    const state = () => {
      const found = this.#services.get(name)
      if (found === undefined) throw new Error(`no lane for service ${name}`)
      return found
    }
    const status = async () =>
      (await this.#pool.query('status')).map(({ id, pid, answer }) => ({ id, pid, lane: 'services' in answer ? answer.services[name] : undefined }))
    return {
      setTargets: (color, targets) => {
        state().targets = { ...state().targets, [color]: [...targets] }
        this.#pool.broadcast({ t: 'targets', service: name, color, targets })
      },
      setTimeouts: (timeouts) => {
        state().timeouts = timeouts
        this.#pool.broadcast({ t: 'timeouts', service: name, timeouts })
      },
      setHealth: (healthCheck, outlier) => {
        state().health = { healthCheck, outlier }
        this.#pool.broadcast({ t: 'health', service: name, healthCheck, outlier })
      },
      publish: async (table) => {
        const found = this.#services.get(name)
        if (found === undefined) return
        found.table = table
        const seq = ++this.#seq
        this.#pool.broadcast({ t: 'table', service: name, seq, table: toWireTable(table) })
        const late = await this.#pool.confirmed(seq, PUBLISH_TIMEOUT_MS)
        if (late !== undefined) this.#options.logger.warn({ service: name, generation: table.generation }, `split change not confirmed by every worker: ${late}`)
      },
      health: async () => mergeHealth((await status()).flatMap(({ lane }) => (lane === undefined ? [] : [lane.health]))),
      inFlight: async () => {
        const total = { blue: 0, green: 0 }
        for (const { lane } of await status()) {
          total.blue += lane?.inFlight.blue ?? 0
          total.green += lane?.inFlight.green ?? 0
        }
        return total
      },
      connections: async () => sumConnections((await status()).flatMap(({ lane }) => (lane === undefined ? [] : [lane]))),
      drainColor: (color, deadlineMs) => this.#pool.broadcast({ t: 'drainColor', service: name, color, deadlineMs }),
      cancelDrain: (color) => this.#pool.broadcast({ t: 'cancelDrain', service: name, color }),
      setCertificates: (certificates) => this.setCertificates(certificates),
      // Each worker's whole registry (every service's series): aggregate it once, not per service.
      remoteMetrics: async () => (await this.#pool.query('metrics')).flatMap(({ answer }) => ('metrics' in answer ? [answer.metrics] : [])),
      workers: async (): Promise<WorkerInfo[]> =>
        (await status()).map(({ id, pid, lane }) => ({ id, pid, requests: lane?.requests ?? 0, inFlight: lane?.inFlight ?? { blue: 0, green: 0 } })),
      close: (deadlineMs) => this.close(deadlineMs),
    }
  }

  /**
   * A reload's services: `added` holds the new ones (a service already served keeps its lanes,
   * table and counts in every worker, and takes the new match); services left out are removed
   * in every worker once their requests finish.
   */
  setServices(config: Config, specs: readonly ServiceSpec[], added: ReadonlyMap<string, ClusterService>): void {
    const next = new Map<string, ServiceState>()
    for (const spec of specs) {
      const kept = this.#services.get(spec.name)
      const input = added.get(spec.name)
      if (kept !== undefined) next.set(spec.name, { ...kept, spec: { ...kept.spec, match: spec.match } })
      else if (input !== undefined) next.set(spec.name, stateOf({ ...input, spec }))
    }
    this.#services = next
    this.#defaultService = config.proxy.defaultService
    this.#pool.broadcast({ t: 'services', seq: ++this.#seq, defaultService: this.#defaultService, services: [...next.values()].map(wire) })
  }

  /** The server's header timeout in every worker (several services; one service's timeouts carry it). */
  setHeaderTimeout(config: Config): void {
    this.#headerTimeouts = config.timeouts
    this.#pool.broadcast({ t: 'headerTimeout', timeouts: config.timeouts })
  }

  /** Every worker serves them to new handshakes; a worker started later gets them at its init. */
  setCertificates(certificates: readonly Certificate[]): void {
    if (this.#certificates === null) throw new Error('the proxy listens without TLS; proxy.tls takes effect on restart')
    this.#certificates = certificates
    this.#pool.broadcast({ t: 'certificates', certificates })
  }

  close(deadlineMs: number): Promise<void> {
    return this.#pool.close(deadlineMs)
  }

  #init(): ToWorker {
    return {
      t: 'init',
      config: this.#options.config,
      several: this.#options.several,
      defaultService: this.#defaultService,
      services: [...this.#services.values()].map(wire),
      headerTimeouts: this.#headerTimeouts,
      seq: this.#seq,
      certificates: this.#certificates,
    }
  }

  /** A report goes to the service it names; one of a service removed meanwhile is dropped. */
  #report(message: Report): void {
    const service = this.#services.get(message.service)
    if (service === undefined) return
    if (message.t === 'window') service.merge(message.deltas)
    else service.shadows(message.pairs.map(decodePair))
  }
}

/** Requests, streams and WebSockets open per colour, summed over the workers. */
function sumConnections(lanes: readonly LaneStatus[]): Record<Color, ConnectionCounts> {
  const total = { blue: { requests: 0, streams: 0, websockets: 0 }, green: { requests: 0, streams: 0, websockets: 0 } }
  for (const lane of lanes) {
    for (const color of ['blue', 'green'] as const) {
      total[color].requests += lane.connections[color].requests
      total[color].streams += lane.connections[color].streams
      total[color].websockets += lane.connections[color].websockets
    }
  }
  return total
}
