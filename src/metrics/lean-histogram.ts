import type { MetricValueWithName, Registry } from 'prom-client'

/** What prom-client's Histogram.get() gives, and its registry and aggregator read. */
export interface HistogramExport {
  readonly name: string
  readonly help: string
  readonly type: 'histogram'
  readonly values: MetricValueWithName<string>[]
  readonly aggregator: 'sum'
}

/** One label set's counts: what `observe` touches per request (a typed array, two numbers). */
export class HistogramSeries {
  readonly labels: Readonly<Record<string, string>>
  /** Observations per bucket, not cumulative: [i] counts bounds[i-1] < v <= bounds[i]; the last, v > every bound. */
  readonly counts: Float64Array
  sum = 0
  count = 0
  readonly #bounds: readonly number[]

  constructor(labels: Record<string, string>, bounds: readonly number[]) {
    this.labels = labels
    this.#bounds = bounds
    this.counts = new Float64Array(bounds.length + 1)
  }

  observe(value: number): void {
    const bounds = this.#bounds
    let i = 0
    while (i < bounds.length && value > bounds[i]!) i++
    this.counts[i]! += 1
    this.sum += value
    this.count += 1
  }
}

/**
 * A Prometheus histogram whose series are bound once and observed with no label work at all.
 * prom-client's Histogram hashes the label object, looks the series up by that string and
 * checks the labels on every observe() (with its Counter, ~5 % of the socket engine's CPU at
 * c50); here a series is an object the caller keeps. What it exports (get()) is exactly what
 * prom-client's Histogram exports for the same observations, so the text format, the
 * registry and the workers' aggregation (AggregatorRegistry, `aggregator: 'sum'`) see no
 * difference (test/metrics/lean-histogram.test.ts compares the two).
 */
export class LeanHistogram {
  readonly name: string
  readonly help: string
  readonly type = 'histogram' as const
  readonly aggregator = 'sum' as const
  readonly labelNames: readonly string[]
  readonly #bounds: readonly number[]
  readonly #series = new Map<string, HistogramSeries>()

  constructor(options: { name: string; help: string; labelNames: readonly string[]; buckets: readonly number[]; registers: readonly Registry[] }) {
    this.name = options.name
    this.help = options.help
    this.labelNames = options.labelNames
    this.#bounds = [...options.buckets].sort((a, b) => a - b)
    // prom-client's registry takes any object with its Metric's shape; it reads name, get() and reset().
    for (const registry of options.registers) registry.registerMetric(this as unknown as Parameters<Registry['registerMetric']>[0])
  }

  /** The series of these label values (in labelNames' order), made on first ask and kept. */
  labels(...values: string[]): HistogramSeries {
    if (values.length !== this.labelNames.length) throw new Error(`${this.name} has ${this.labelNames.length} labels, got ${values.length} values`)
    const key = values.join('\0')
    let series = this.#series.get(key)
    if (series === undefined) {
      series = new HistogramSeries(Object.fromEntries(this.labelNames.map((name, i) => [name, values[i]!])), this.#bounds)
      this.#series.set(key, series)
    }
    return series
  }

  get(): Promise<HistogramExport> {
    const values: MetricValueWithName<string>[] = []
    const bucket = `${this.name}_bucket`
    for (const series of this.#series.values()) {
      let cumulative = 0
      this.#bounds.forEach((le, i) => {
        cumulative += series.counts[i]!
        values.push({ labels: { le, ...series.labels }, value: cumulative, metricName: bucket })
      })
      values.push({ labels: { le: '+Inf', ...series.labels }, value: series.count, metricName: bucket })
      values.push({ labels: { ...series.labels }, value: series.sum, metricName: `${this.name}_sum` })
      values.push({ labels: { ...series.labels }, value: series.count, metricName: `${this.name}_count` })
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator })
  }

  /** Registry.resetMetrics(): every series back to zero (the series the callers keep stay valid). */
  reset(): void {
    for (const series of this.#series.values()) {
      series.counts.fill(0)
      series.sum = 0
      series.count = 0
    }
  }
}
