/** Medians over rounds of one system's runs, and the formatting the report's tables share. */
import { sumCounts, type MirrorCounts } from './mirror-metrics.js'
import type { CpuTicks } from './procs.js'
import type { LoadTool, RunRecord } from './report.js'
import { NOISY_CPU_PERCENT, type ScenarioName, type SystemName } from './settings.js'

export interface Summary {
  readonly system: SystemName
  readonly rounds: number
  readonly rps: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly errors: number
  readonly requests: number
  readonly rssMaxBytes: number | null
  /** Medians over the runs of the proxy's user and kernel CPU µs per request; null for `direct` or older results. */
  readonly cpuPerRequestUs: CpuTicks | null
  readonly perRoundRps: readonly number[]
  /** Runs during which other processes took more than NOISY_CPU_PERCENT of a CPU. */
  readonly noisyRuns: number
  /** Mirror rows: shadows by result, summed over the successful runs. */
  readonly mirror: MirrorCounts | undefined
}

/** The median; NaN for no values. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN
  const s = [...values].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

/** Medians of the successful runs of one system in one scenario, or undefined if none succeeded. */
export function summarize(runs: readonly RunRecord[], tool: LoadTool, scenario: ScenarioName, system: SystemName): Summary | undefined {
  const mine = runs.filter((r) => r.tool === tool && r.scenario === scenario && r.system === system)
  const ok = mine.flatMap((r) => (r.result === undefined ? [] : [r.result]))
  if (ok.length === 0) return undefined
  const rss = mine.flatMap((r) => (r.rssMaxBytes === null ? [] : [r.rssMaxBytes]))
  const cpu = mine.flatMap((r) => (r.result === undefined || r.cpuPerRequestUs == null ? [] : [r.cpuPerRequestUs]))
  return {
    system,
    rounds: ok.length,
    rps: median(ok.map((r) => r.rps)),
    p50Ms: median(ok.map((r) => r.p50Ms)),
    p99Ms: median(ok.map((r) => r.p99Ms)),
    errors: ok.reduce((s, r) => s + r.errors, 0),
    requests: ok.reduce((s, r) => s + r.requests, 0),
    rssMaxBytes: rss.length === 0 ? null : Math.max(...rss),
    cpuPerRequestUs: cpu.length === 0 ? null : { user: median(cpu.map((c) => c.user)), system: median(cpu.map((c) => c.system)) },
    perRoundRps: ok.map((r) => r.rps),
    noisyRuns: mine.filter((r) => r.foreignCpuPercent > NOISY_CPU_PERCENT).length,
    mirror: mine.some((r) => r.mirror !== undefined)
      ? sumCounts(mine.flatMap((r) => (r.result === undefined || r.mirror === undefined ? [] : [r.mirror])))
      : undefined,
  }
}

/** A whole number with thousands separators. */
export const int = (n: number): string => Math.round(n).toLocaleString('en-US')

/** Milliseconds with 2 to 0 decimals, by size. */
export function ms(n: number): string {
  if (n >= 100) return n.toFixed(0)
  if (n >= 10) return n.toFixed(1)
  return n.toFixed(2)
}

/** Errors summed over rounds, with their share of all requests. */
export function formatErrors(s: Summary): string {
  if (s.errors === 0) return '0'
  const pct = (100 * s.errors) / Math.max(1, s.requests + s.errors)
  return `${int(s.errors)} (${pct < 0.01 ? '<0.01' : pct.toFixed(2)} %)`
}
