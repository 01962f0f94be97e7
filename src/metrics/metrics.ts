import { AggregatorRegistry, Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client'
import { COLORS, type Color } from '../routing/types.js'
import type { ErrorKind, OutcomeSink } from '../proxy/types.js'

import { LeanHistogram } from './lean-histogram.js'
import { ServiceMetrics, type Families, type MetricsOfService } from './service-metrics.js'

export { ServiceMetrics, type MetricsOfService } from './service-metrics.js'

/**
 * switchyard's Prometheus metrics on a registry of its own (never the global one, so app
 * instances and tests do not leak into each other). Each service records through its
 * ServiceMetrics; a single-service switchyard's are also this object's own methods.
 */
export class Metrics implements MetricsOfService, OutcomeSink {
  readonly registry = new Registry()
  readonly #webhooks: Counter<'result' | 'event'>
  /** What `switchyard_connections` reads at scrape time: the proxy's in-flight count per colour. */
  #openConnections: (() => Record<Color, number>) | undefined
  /** Registered on first use: only fleet replicas have a shared store. */
  #stateConnected: Gauge | undefined
  readonly #families: Families
  readonly #services = new Map<string, ServiceMetrics>()
  /** Several services: every per-service series carries `service`. */
  readonly #labelled: boolean
  readonly #default: ServiceMetrics

  constructor(options: { defaultMetrics?: boolean; services?: boolean } = {}) {
    const registers = [this.registry]
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry })
    const labelled = options.services === true
    this.#labelled = labelled
    const by = (...names: string[]) => (labelled ? ['service', ...names] : names)
    const requests = new Counter({
      name: 'switchyard_requests_total',
      help: 'Proxied requests by colour and the status code the client got',
      labelNames: by('color', 'code'),
      registers,
      // The services count requests in arrays and add them here when the registry is read.
      collect: () => {
        for (const service of this.#services.values()) service.flushRequests()
      },
    })
    const buckets = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300]
    const duration = new LeanHistogram({
      name: 'switchyard_request_duration_seconds',
      help: 'Time from request to the end of the response, by colour',
      labelNames: by('color'),
      buckets,
      registers,
    })
    const ttfb = new LeanHistogram({
      name: 'switchyard_time_to_first_byte_seconds',
      help: 'Time from request to the first byte of the body the client got (a stream: its first token), by colour; requests that got none are not observed',
      labelNames: by('color'),
      buckets,
      registers,
    })
    const upstreamErrors = new Counter({
      name: 'switchyard_upstream_errors_total',
      help: 'Upstream failures by colour and kind (connect, timeout, idle, reset, protocol, client)',
      labelNames: by('color', 'kind'),
      registers,
    })
    const splitPercent = new Gauge({
      name: 'switchyard_split_percent',
      help: 'Share of traffic routed to each colour, in percent',
      labelNames: by('color'),
      registers,
    })
    const reverts = new Counter({
      name: 'switchyard_reverts_total',
      help: 'Automatic reverts of green to 0 %',
      labelNames: by(),
      registers,
    })
    const splitChanges = new Counter({
      name: 'switchyard_split_changes_total',
      help: 'Changes of the split by who made them (api, auto-revert, ...)',
      labelNames: by('source'),
      registers,
    })
    this.#webhooks = new Counter({
      name: 'switchyard_webhook_deliveries_total',
      help: 'Webhook deliveries by result (delivered, failed after retries) and event',
      labelNames: ['result', 'event'],
      registers,
    })
    const targetHealthy = new Gauge({
      name: 'switchyard_target_healthy',
      help: 'Whether a target takes traffic (1) or is ejected or failing its health checks (0)',
      labelNames: by('color', 'target'),
      registers,
    })
    const open = () => this.#openConnections?.()
    new Gauge({
      name: 'switchyard_connections',
      help: 'Client requests being proxied to each colour right now, streamed responses and open WebSockets included',
      labelNames: ['color'],
      registers,
      // Read at scrape time from counts the proxy keeps anyway: nothing is added to a request.
      collect() {
        const counts = open()
        for (const color of COLORS) this.labels(color).set(counts?.[color] ?? 0)
      },
    })
    const mirrorRequests = new Counter({
      name: 'switchyard_mirror_requests_total',
      help: 'Sampled blue requests by what became of their shadow: compared, dropped (concurrency bound), too_large (body), method (not mirrored), no_target, cancelled (client left), timeout (blue outlasted mirror.timeout)',
      labelNames: by('result'),
      registers,
    })
    const mirrorDiffs = new Counter({
      name: 'switchyard_mirror_diffs_total',
      help: "Mirrored pairs where green's answer differed from blue's, by route group and kind (status, body, field, stream, latency)",
      labelNames: by('route', 'kind'),
      registers,
    })
    const mirrorPercent = new Gauge({ name: 'switchyard_mirror_percent', help: "Share of blue's requests mirrored to green as shadows", labelNames: by(), registers })
    this.#families = { requests, duration, ttfb, upstreamErrors, splitPercent, reverts, splitChanges, targetHealthy, mirrorRequests, mirrorDiffs, mirrorPercent }
    this.#default = this.service('default')
  }

  /**
   * The metrics of one service, made on first ask. Label cardinality stays bounded by the
   * config: only configured services ask.
   */
  service(name: string): ServiceMetrics {
    let found = this.#services.get(name)
    if (found === undefined) {
      found = new ServiceMetrics(this, this.#families, this.#labelled ? name : null)
      this.#services.set(name, found)
    }
    return found
  }

  // A single-service switchyard's (and a proxy worker's) numbers, as before services came.

  /** OutcomeSink: one finished request (`ttfbMs` < 0: no first byte; the URL is not used here). */
  record(color: Color, status: number, durationMs: number, errorKind: ErrorKind | undefined, ttfbMs: number): void {
    this.#default.record(color, status, durationMs, errorKind, ttfbMs)
  }

  setSplit(greenBuckets: number): void {
    this.#default.setSplit(greenBuckets)
  }

  splitChanged(source: string): void {
    this.#default.splitChanged(source)
  }

  setTargetHealth(health: Record<Color, readonly { url: string; healthy: boolean }[]>): void {
    this.#default.setTargetHealth(health)
  }

  reverted(): void {
    this.#default.reverted()
  }

  mirrorRequest(result: string): void {
    this.#default.mirrorRequest(result)
  }

  mirrorDiff(route: string, kind: string): void {
    this.#default.mirrorDiff(route, kind)
  }

  setMirror(buckets: number): void {
    this.#default.setMirror(buckets)
  }

  /**
   * `switchyard_connections` reads this process's proxy from now on (one process, or a worker);
   * a primary of workers has no proxy and reads 0, so the sum over processes is the workers'.
   */
  countConnections(read: () => Record<Color, number>): void {
    this.#openConnections = read
  }

  /** Fleet mode only (at scrape time): whether the shared store answers. */
  setStateConnected(connected: boolean): void {
    this.#stateConnected ??= new Gauge({
      name: 'switchyard_state_store_connected',
      help: 'Fleet mode: 1 while this replica reaches the shared state store (Redis), 0 while it routes with its last known split',
      registers: [this.registry],
    })
    this.#stateConnected.set(connected ? 1 : 0)
  }

  webhook(result: 'delivered' | 'failed', event: string): void {
    this.#webhooks.labels(result, event).inc()
  }

  /** Prometheus text of this registry, summed with other processes' (`getMetricsAsJSON()`) ones. */
  async text(remote: readonly object[] = []): Promise<string> {
    if (remote.length === 0) return this.registry.metrics()
    const own = await this.registry.getMetricsAsJSON()
    return AggregatorRegistry.aggregate([own, ...remote]).metrics()
  }
}
