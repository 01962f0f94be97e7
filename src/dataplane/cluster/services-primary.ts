import type { Logger } from 'pino'
import type { Config } from '../../config/schema.js'
import type { ServiceSpec } from '../../config/services.js'
import type { WindowDelta } from '../../outcomes/window-delta.js'
import type { Certificate } from '../../proxy/tls.js'
import type { DataPlane } from '../plane.js'
import type { ServiceInput } from '../services.js'
import { ClusterLanes, type ClusterService } from './lanes.js'

/** A service's input as the workers serve it: its counts come back through `merge`. */
function clusterService(input: ServiceInput): ClusterService {
  const { spec, targets, table, shadows, merge } = input
  if (merge === undefined) throw new Error(`service ${spec.name}: with proxy workers its ServiceInput needs \`merge\` (the workers' counts go there)`)
  return { spec, targets, table, shadows, merge }
}

/**
 * The data plane of a switchyard fronting several services with proxy workers (`workers` > 1):
 * ServicesDataPlane's surface over N processes. Each worker serves every service, one lane
 * each; `plane(name)` pushes to that service's lanes in all of them and sums what they answer
 * for it; their counts of a service reach its `merge`.
 */
export class ClusterServicesDataPlane {
  readonly #lanes: ClusterLanes

  private constructor(lanes: ClusterLanes) {
    this.#lanes = lanes
  }

  /** Forks config.workers workers serving `inputs`' services; resolves once every one listens. */
  static async start(config: Config, inputs: readonly ServiceInput[], logger: Logger, certificates: readonly Certificate[] | null): Promise<ClusterServicesDataPlane> {
    const services = inputs.map(clusterService)
    const lanes = new ClusterLanes({ config, count: config.workers, several: true, services, logger, certificates })
    await lanes.start()
    return new ClusterServicesDataPlane(lanes)
  }

  get port(): number {
    return this.#lanes.port
  }

  /**
   * One service's data plane over every worker: publish resolves once each worker has the
   * table; health, in-flight and connections are that service's, summed over the workers;
   * remoteMetrics are the workers' whole registries (every service's series, so a scrape
   * aggregates them from one plane only); close closes every worker.
   */
  plane(name: string): DataPlane {
    return this.#lanes.plane(name)
  }

  /** Undefined: the workers report their counts to the primary, which hands them to the service's `merge`. */
  takeOwn(_name: string): (() => WindowDelta[]) | undefined {
    return undefined
  }

  /**
   * A reload's services in every worker: `inputs` holds the new ones (a service already served
   * keeps its lanes, table and counts); services left out are removed once their requests finish.
   */
  setServices(config: Config, services: readonly ServiceSpec[], inputs: ReadonlyMap<string, ServiceInput>): void {
    const added = new Map<string, ClusterService>()
    for (const spec of services) {
      const input = inputs.get(spec.name)
      if (input !== undefined) added.set(spec.name, clusterService(input))
    }
    this.#lanes.setServices(config, services, added)
  }

  /** The server's own timeouts (the header timeout) in every worker; each lane's come through its plane. */
  setHeaderTimeout(config: Config): void {
    this.#lanes.setHeaderTimeout(config)
  }

  close(deadlineMs: number): Promise<void> {
    return this.#lanes.close(deadlineMs)
  }
}
