import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import { COLORS, type Color } from '../routing/types.js'
import { ERROR_KINDS, type ErrorKind, type OutcomeSink } from '../proxy/types.js'

const MAX_STATUS = 600

/**
 * switchyard's Prometheus metrics on a registry of its own (never the global one, so app
 * instances and tests do not leak into each other). Label children are bound ahead of time
 * so recording a request is array lookups and increments.
 */
export class Metrics implements OutcomeSink {
  readonly registry = new Registry()
  readonly #requests: Counter<'color' | 'code'>
  readonly #splitPercent: Gauge<'color'>
  readonly #reverts: Counter
  readonly #splitChanges: Counter<'source'>
  readonly #webhooks: Counter<'result' | 'event'>
  readonly #targetHealthy: Gauge<'color' | 'target'>
  /** What `switchyard_connections` reads at scrape time: the proxy's in-flight count per colour. */
  #openConnections: (() => Record<Color, number>) | undefined
  /** Registered on first use: only fleet replicas have a shared store. */
  #stateConnected: Gauge | undefined
  readonly #byStatus: (Counter.Internal | undefined)[][]
  readonly #duration: Record<Color, Histogram.Internal<"color">>
  readonly #ttfb: Record<Color, Histogram.Internal<'color'>>
  readonly #errors: Record<Color, Record<ErrorKind, Counter.Internal>>
  readonly #mirrorRequests: Counter<'result'>
  readonly #mirrorDiffs: Counter<'route' | 'kind'>
  readonly #mirrorPercent: Gauge

  constructor(options: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry]
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry })
    this.#requests = new Counter({
      name: 'switchyard_requests_total',
      help: 'Proxied requests by colour and the status code the client got',
      labelNames: ['color', 'code'],
      registers,
    })
    const buckets = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300]
    const duration = new Histogram({
      name: 'switchyard_request_duration_seconds',
      help: 'Time from request to the end of the response, by colour',
      labelNames: ['color'],
      buckets,
      registers,
    })
    const ttfb = new Histogram({
      name: 'switchyard_time_to_first_byte_seconds',
      help: 'Time from request to the first byte of the body the client got (a stream: its first token), by colour; requests that got none are not observed',
      labelNames: ['color'],
      buckets,
      registers,
    })
    const upstreamErrors = new Counter({
      name: 'switchyard_upstream_errors_total',
      help: 'Upstream failures by colour and kind (connect, timeout, idle, reset, protocol, client)',
      labelNames: ['color', 'kind'],
      registers,
    })
    this.#splitPercent = new Gauge({
      name: 'switchyard_split_percent',
      help: 'Share of traffic routed to each colour, in percent',
      labelNames: ['color'],
      registers,
    })
    this.#reverts = new Counter({
      name: 'switchyard_reverts_total',
      help: 'Automatic reverts of green to 0 %',
      registers,
    })
    this.#splitChanges = new Counter({
      name: 'switchyard_split_changes_total',
      help: 'Changes of the split by who made them (api, auto-revert, ...)',
      labelNames: ['source'],
      registers,
    })
    this.#webhooks = new Counter({
      name: 'switchyard_webhook_deliveries_total',
      help: 'Webhook deliveries by result (delivered, failed after retries) and event',
      labelNames: ['result', 'event'],
      registers,
    })
    this.#targetHealthy = new Gauge({
      name: 'switchyard_target_healthy',
      help: 'Whether a target takes traffic (1) or is ejected or failing its health checks (0)',
      labelNames: ['color', 'target'],
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
    this.#mirrorRequests = new Counter({
      name: 'switchyard_mirror_requests_total',
      help: 'Sampled blue requests by what became of their shadow: compared, dropped (concurrency bound), too_large (body), method (not mirrored), no_target, cancelled (client left), timeout (blue outlasted mirror.timeout)',
      labelNames: ['result'],
      registers,
    })
    this.#mirrorDiffs = new Counter({
      name: 'switchyard_mirror_diffs_total',
      help: "Mirrored pairs where green's answer differed from blue's, by route group and kind (status, body, field, stream, latency)",
      labelNames: ['route', 'kind'],
      registers,
    })
    this.#mirrorPercent = new Gauge({ name: 'switchyard_mirror_percent', help: "Share of blue's requests mirrored to green as shadows", registers })
    this.#byStatus = COLORS.map(() => new Array<Counter.Internal | undefined>(MAX_STATUS))
    this.#duration = { blue: duration.labels('blue'), green: duration.labels('green') }
    this.#ttfb = { blue: ttfb.labels('blue'), green: ttfb.labels('green') }
    const kinds = (color: Color) =>
      Object.fromEntries(ERROR_KINDS.map((kind) => [kind, upstreamErrors.labels(color, kind)])) as Record<ErrorKind, Counter.Internal>
    this.#errors = { blue: kinds('blue'), green: kinds('green') }
    // Zero series exist from the start so that rate() and alerts work before the first error.
    for (const color of COLORS) for (const kind of ERROR_KINDS) this.#errors[color][kind].inc(0)
    this.#reverts.inc(0)
  }

  /** OutcomeSink: one finished request (`ttfbMs` < 0: no first byte; the URL is not used here). */
  record(color: Color, status: number, durationMs: number, errorKind: ErrorKind | undefined, ttfbMs: number): void {
    const row = this.#byStatus[color === 'blue' ? 0 : 1]!
    const code = status > 0 && status < MAX_STATUS ? status : 0
    let child = row[code]
    if (child === undefined) {
      child = this.#requests.labels(color, String(code))
      row[code] = child
    }
    child.inc()
    this.#duration[color].observe(durationMs / 1000)
    if (ttfbMs >= 0) this.#ttfb[color].observe(ttfbMs / 1000)
    if (errorKind !== undefined) this.#errors[color][errorKind].inc()
  }

  /** The split gauge follows every change. */
  setSplit(greenBuckets: number): void {
    this.#splitPercent.labels('green').set(greenBuckets / 100)
    this.#splitPercent.labels('blue').set((10_000 - greenBuckets) / 100)
  }

  splitChanged(source: string): void {
    this.#splitChanges.labels(source).inc()
  }

  /**
   * `switchyard_connections` reads this process's proxy from now on (one process, or a worker);
   * a primary of workers has no proxy and reads 0, so the sum over processes is the workers'.
   */
  countConnections(read: () => Record<Color, number>): void {
    this.#openConnections = read
  }

  /** Sets the target health gauge from a health report (at scrape time, off the request path). */
  setTargetHealth(health: Record<Color, readonly { url: string; healthy: boolean }[]>): void {
    this.#targetHealthy.reset()
    for (const color of COLORS) {
      for (const target of health[color]) this.#targetHealthy.labels(color, target.url).set(target.healthy ? 1 : 0)
    }
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

  reverted(): void {
    this.#reverts.inc()
  }

  /** One sampled request's shadow, by result (the data path counts; off the client's answer). */
  mirrorRequest(result: string): void {
    this.#mirrorRequests.labels(result).inc()
  }

  /** One differing pair (route groups are bounded by rollout.analysis.routes.max, kinds by five). */
  mirrorDiff(route: string, kind: string): void {
    this.#mirrorDiffs.labels(route, kind).inc()
  }

  setMirror(buckets: number): void {
    this.#mirrorPercent.set(buckets / 100)
  }

  /** Prometheus text of this registry, summed with other processes' (`getMetricsAsJSON()`) ones. */
  async text(remote: readonly object[] = []): Promise<string> {
    if (remote.length === 0) return this.registry.metrics()
    const own = await this.registry.getMetricsAsJSON()
    return AggregatorRegistry.aggregate([own, ...remote]).metrics()
  }
}
