/** The request histograms and counter skip prom-client's per-call label work but export exactly what it would. */
import { AggregatorRegistry, Histogram, Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { LeanHistogram } from '../../src/metrics/lean-histogram.js'
import { Metrics } from '../../src/metrics/metrics.js'

const BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300]
const OPTIONS = { name: 'h_seconds', help: 'a histogram', labelNames: ['service', 'color'], buckets: BUCKETS }

/** Values on, between, below and above the bounds (prom-client's buckets are `le`: v <= bound). */
function observations(seed: number): number[] {
  const values = [0, 0.001, 0.0010001, 0.005, 0.3, 1, 2.5, 299.99, 300, 300.5, 1e6, 0.25]
  let x = seed
  for (let i = 0; i < 500; i++) {
    x = (x * 1103515245 + 12345) % 2 ** 31
    values.push((x / 2 ** 31) ** 4 * 400)
  }
  return values
}

/** The same observations into prom-client's Histogram and into a LeanHistogram, each on its own registry. */
function both(seed: number): { prom: Registry; lean: Registry } {
  const prom = new Registry()
  const lean = new Registry()
  const ph = new Histogram({ ...OPTIONS, registers: [prom] })
  const lh = new LeanHistogram({ ...OPTIONS, registers: [lean] })
  const labels = [
    ['a', 'blue'],
    ['a', 'green'],
    ['b', 'blue'],
  ] as const
  observations(seed).forEach((value, i) => {
    const [service, color] = labels[i % labels.length]!
    ph.labels(service, color).observe(value)
    lh.labels(service, color).observe(value)
  })
  return { prom, lean }
}

describe('LeanHistogram', () => {
  it("exports the same text as prom-client's Histogram for the same observations", async () => {
    const { prom, lean } = both(7)
    const text = await lean.metrics()
    expect(text).toContain('h_seconds_bucket{le="0.001",service="a",color="blue"}')
    expect(text).toBe(await prom.metrics())
  })

  it("aggregates across processes (AggregatorRegistry) the same as prom-client's", async () => {
    const one = both(1)
    const two = both(2)
    const prom = AggregatorRegistry.aggregate([await one.prom.getMetricsAsJSON(), await two.prom.getMetricsAsJSON()])
    const lean = AggregatorRegistry.aggregate([await one.lean.getMetricsAsJSON(), await two.lean.getMetricsAsJSON()])
    expect(await lean.metrics()).toBe(await prom.metrics())
  })

  it('keeps a series its caller holds through a registry reset, counting from zero', async () => {
    const registry = new Registry()
    const h = new LeanHistogram({ ...OPTIONS, registers: [registry] })
    const series = h.labels('a', 'blue')
    series.observe(0.2)
    registry.resetMetrics()
    series.observe(0.002)
    const text = await registry.metrics()
    expect(text).toContain('h_seconds_count{service="a",color="blue"} 1')
    expect(text).toContain('h_seconds_bucket{le="0.005",service="a",color="blue"} 1')
    expect(text).toContain('h_seconds_sum{service="a",color="blue"} 0.002')
  })

  it('names the mistake when label values do not match its labels', () => {
    const h = new LeanHistogram({ ...OPTIONS, registers: [] })
    expect(() => h.labels('a')).toThrow('h_seconds has 2 labels, got 1 values')
  })
})

describe('switchyard_requests_total', () => {
  it('counts every request by colour and status, across reads of the registry', async () => {
    const metrics = new Metrics({ defaultMetrics: false })
    for (let i = 0; i < 3; i++) metrics.record('blue', 200, 5, undefined, 1)
    metrics.record('green', 503, 5, 'connect', -1)
    metrics.record('green', 0, 5, 'reset', -1)
    let text = await metrics.text()
    expect(text).toMatch(/^switchyard_requests_total\{color="blue",code="200"\} 3$/m)
    expect(text).toMatch(/^switchyard_requests_total\{color="green",code="503"\} 1$/m)
    expect(text).toMatch(/^switchyard_requests_total\{color="green",code="0"\} 1$/m)
    expect(text).toMatch(/^switchyard_request_duration_seconds_count\{color="green"\} 2$/m)
    expect(text).toMatch(/^switchyard_time_to_first_byte_seconds_count\{color="blue"\} 3$/m)
    metrics.record('blue', 200, 5, undefined, 1)
    metrics.record('blue', 204, 5, undefined, 1)
    text = await metrics.text()
    expect(text).toMatch(/^switchyard_requests_total\{color="blue",code="200"\} 4$/m)
    expect(text).toMatch(/^switchyard_requests_total\{color="blue",code="204"\} 1$/m)
    // Read again with nothing new: nothing is added twice.
    expect(await metrics.text()).toMatch(/^switchyard_requests_total\{color="blue",code="200"\} 4$/m)
  })

  it('sums the services of a multi-service switchyard under their own label', async () => {
    const metrics = new Metrics({ defaultMetrics: false, services: true })
    metrics.service('api').record('green', 200, 1, undefined, 1)
    metrics.service('web').record('green', 200, 1, undefined, 1)
    metrics.service('web').record('green', 200, 1, undefined, 1)
    const text = await metrics.text()
    expect(text).toMatch(/^switchyard_requests_total\{service="api",color="green",code="200"\} 1$/m)
    expect(text).toMatch(/^switchyard_requests_total\{service="web",color="green",code="200"\} 2$/m)
    expect(text).toMatch(/^switchyard_request_duration_seconds_count\{service="web",color="green"\} 2$/m)
  })
})
