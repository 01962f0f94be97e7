import type { Counter, Gauge, Registry } from 'prom-client'
import { COLORS, type Color } from '../routing/types.js'
import { ERROR_KINDS, type ErrorKind, type OutcomeSink } from '../proxy/types.js'
import type { HistogramSeries, LeanHistogram } from './lean-histogram.js'
import type { Metrics } from './metrics.js'

const MAX_STATUS = 600

/** The metric families a service's numbers go into (with a `service` label when there are several). */
export interface Families {
  readonly requests: Counter<string>
  readonly duration: LeanHistogram
  readonly ttfb: LeanHistogram
  readonly upstreamErrors: Counter<string>
  readonly splitPercent: Gauge<string>
  readonly reverts: Counter<string>
  readonly splitChanges: Counter<string>
  readonly targetHealthy: Gauge<string>
  readonly mirrorRequests: Counter<string>
  readonly mirrorDiffs: Counter<string>
  readonly mirrorPercent: Gauge<string>
}

/** What one service records (a ServiceMetrics, or a single-service switchyard's Metrics). */
export interface MetricsOfService {
  readonly registry: Registry
  record(color: Color, status: number, durationMs: number, errorKind: ErrorKind | undefined, ttfbMs: number): void
  setSplit(greenBuckets: number): void
  splitChanged(source: string): void
  reverted(): void
  setTargetHealth(health: Record<Color, readonly { url: string; healthy: boolean }[]>): void
  mirrorRequest(result: string): void
  mirrorDiff(route: string, kind: string): void
  setMirror(buckets: number): void
  countConnections(read: () => Record<Color, number>): void
  setStateConnected(connected: boolean): void
  webhook(result: 'delivered' | 'failed', event: string): void
  text(remote?: readonly object[]): Promise<string>
}

/**
 * One service's metrics: its series of the shared families, label children bound ahead of
 * time so recording a request is array lookups and increments. Without several services
 * (no `services` key) its series carry no `service` label, exactly as before services came.
 */
export class ServiceMetrics implements MetricsOfService, OutcomeSink {
  readonly #f: Families
  /** [] or [service]: the first label values of every series of this service. */
  readonly #who: string[]
  /**
   * Requests by colour and status not yet added to `switchyard_requests_total`: [0, MAX_STATUS)
   * blue, then green. prom-client's counter hashes its labels on every inc(); these are added
   * in one inc(n) a series when the registry is read (flushRequests, the counter's collect),
   * off the request path.
   */
  readonly #pendingByStatus = new Float64Array(2 * MAX_STATUS)
  readonly #duration: Record<Color, HistogramSeries>
  readonly #ttfb: Record<Color, HistogramSeries>
  readonly #errors: Record<Color, Record<ErrorKind, Counter.Internal>>
  /** The target-health series this service set last, removed before the next set. */
  #health: string[][] = []
  /** The process-wide metrics (registry, webhooks, the store gauge) every service shares. */
  readonly shared: Metrics

  constructor(shared: Metrics, families: Families, service: string | null) {
    this.shared = shared
    this.#f = families
    const who = service === null ? [] : [service]
    this.#who = who
    this.#duration = { blue: families.duration.labels(...who, 'blue'), green: families.duration.labels(...who, 'green') }
    this.#ttfb = { blue: families.ttfb.labels(...who, 'blue'), green: families.ttfb.labels(...who, 'green') }
    const kinds = (color: Color) =>
      Object.fromEntries(ERROR_KINDS.map((kind) => [kind, families.upstreamErrors.labels(...who, color, kind)])) as Record<ErrorKind, Counter.Internal>
    this.#errors = { blue: kinds('blue'), green: kinds('green') }
    // Zero series exist from the start so that rate() and alerts work before the first error.
    for (const color of COLORS) for (const kind of ERROR_KINDS) this.#errors[color][kind].inc(0)
    families.reverts.labels(...who).inc(0)
  }

  get registry(): Registry {
    return this.shared.registry
  }

  /** OutcomeSink: one finished request (`ttfbMs` < 0: no first byte; the URL is not used here). */
  record(color: Color, status: number, durationMs: number, errorKind: ErrorKind | undefined, ttfbMs: number): void {
    const code = status > 0 && status < MAX_STATUS ? status : 0
    this.#pendingByStatus[(color === 'blue' ? 0 : MAX_STATUS) + code]! += 1
    this.#duration[color].observe(durationMs / 1000)
    if (ttfbMs >= 0) this.#ttfb[color].observe(ttfbMs / 1000)
    if (errorKind !== undefined) this.#errors[color][errorKind].inc()
  }

  /** Adds the requests counted since the last read to `switchyard_requests_total` (at scrape time). */
  flushRequests(): void {
    const pending = this.#pendingByStatus
    for (let i = 0; i < pending.length; i++) {
      const n = pending[i]!
      if (n === 0) continue
      pending[i] = 0
      const colorIndex = i < MAX_STATUS ? 0 : 1
      this.#f.requests.labels(...this.#who, COLORS[colorIndex]!, String(i - colorIndex * MAX_STATUS)).inc(n)
    }
  }

  /** The split gauge follows every change. */
  setSplit(greenBuckets: number): void {
    this.#f.splitPercent.labels(...this.#who, 'green').set(greenBuckets / 100)
    this.#f.splitPercent.labels(...this.#who, 'blue').set((10_000 - greenBuckets) / 100)
  }

  splitChanged(source: string): void {
    this.#f.splitChanges.labels(...this.#who, source).inc()
  }

  reverted(): void {
    this.#f.reverts.labels(...this.#who).inc()
  }

  /** Sets the target health gauge from a health report (at scrape time, off the request path); only this service's series. */
  setTargetHealth(health: Record<Color, readonly { url: string; healthy: boolean }[]>): void {
    for (const labels of this.#health) this.#f.targetHealthy.remove(...labels)
    this.#health = []
    for (const color of COLORS) {
      for (const target of health[color]) {
        const labels = [...this.#who, color, target.url]
        this.#health.push(labels)
        this.#f.targetHealthy.labels(...labels).set(target.healthy ? 1 : 0)
      }
    }
  }

  /** One sampled request's shadow, by result (the data path counts; off the client's answer). */
  mirrorRequest(result: string): void {
    this.#f.mirrorRequests.labels(...this.#who, result).inc()
  }

  /** One differing pair (route groups are bounded by rollout.analysis.routes.max, kinds by five). */
  mirrorDiff(route: string, kind: string): void {
    this.#f.mirrorDiffs.labels(...this.#who, route, kind).inc()
  }

  setMirror(buckets: number): void {
    this.#f.mirrorPercent.labels(...this.#who).set(buckets / 100)
  }

  countConnections(read: () => Record<Color, number>): void {
    this.shared.countConnections(read)
  }

  setStateConnected(connected: boolean): void {
    this.shared.setStateConnected(connected)
  }

  webhook(result: 'delivered' | 'failed', event: string): void {
    this.shared.webhook(result, event)
  }

  text(remote: readonly object[] = []): Promise<string> {
    return this.shared.text(remote)
  }
}

