/**
 * A fleet's mirror report: each replica compares the pairs it mirrored, and the report an
 * operator reads is their sum. Counts add up exactly; the time ratios (quantiles, which do not
 * add) are the pair-weighted mean of the replicas' p50 and the highest p90: approximate, and
 * said so by `approximateRatios`. Examples are the replicas' first ones, up to the usual cap.
 */
import type { NoiseSnapshot } from './noise.js'
import type { KindCount, PathCount, RatioQuantiles, ReportSnapshot, RouteReport } from './report.js'

/** What one replica shares of its report. */
export interface SharedReport extends ReportSnapshot {
  readonly noise: NoiseSnapshot
}

const MAX_EXAMPLES = 20

function share(part: number, whole: number): number {
  return whole === 0 ? 0 : Math.round((part / whole) * 10_000) / 10_000
}

function kinds(lists: readonly (readonly KindCount[])[], pairs: number): KindCount[] {
  const sums = new Map<string, number>()
  for (const list of lists) for (const k of list) sums.set(k.kind, (sums.get(k.kind) ?? 0) + k.count)
  return [...sums]
    .map(([kind, count]) => ({ kind: kind as KindCount['kind'], count, share: share(count, pairs) }))
    .sort((a, b) => b.count - a.count || (a.kind < b.kind ? -1 : 1))
}

function ratios(parts: readonly { pairs: number; ratio: RatioQuantiles | null }[]): RatioQuantiles | null {
  const known = parts.filter((p): p is { pairs: number; ratio: RatioQuantiles } => p.ratio !== null && p.pairs > 0)
  if (known.length === 0) return null
  const weight = known.reduce((n, p) => n + p.pairs, 0)
  const p50 = known.reduce((n, p) => n + p.ratio.p50 * p.pairs, 0) / weight
  return { p50: Math.round(p50 * 100) / 100, p90: Math.max(...known.map((p) => p.ratio.p90)) }
}

function mergeRoutes(routes: readonly RouteReport[]): RouteReport {
  const pairs = routes.reduce((n, r) => n + r.pairs, 0)
  const differing = routes.reduce((n, r) => n + r.differing, 0)
  const paths = new Map<string, { count: number; noise: number; noisy: boolean }>()
  for (const r of routes) {
    for (const p of r.paths) {
      const entry = paths.get(p.path) ?? { count: 0, noise: 0, noisy: false }
      entry.count += p.count
      entry.noise += p.noise
      entry.noisy ||= p.noisy
      paths.set(p.path, entry)
    }
  }
  return {
    route: routes[0]!.route,
    pairs,
    differing,
    share: share(differing, pairs),
    latencyRatio: ratios(routes.map((r) => ({ pairs: r.pairs, ratio: r.latencyRatio }))),
    ttfbRatio: ratios(routes.map((r) => ({ pairs: r.pairs, ratio: r.ttfbRatio }))),
    kinds: kinds(routes.map((r) => r.kinds), pairs),
    paths: [...paths]
      .map(([path, e]): PathCount => ({ path, count: e.count, share: share(e.count, pairs), noise: e.noise, noisy: e.noisy }))
      .sort((a, b) => b.count - a.count || b.noise - a.noise || (a.path < b.path ? -1 : 1)),
    otherPaths: routes.reduce((n, r) => n + r.otherPaths, 0),
  }
}

function mergeNoise(snapshots: readonly NoiseSnapshot[]): NoiseSnapshot {
  type Route = NoiseSnapshot['routes'][number]
  const byRoute = new Map<string, Route[]>()
  for (const s of snapshots) for (const r of s.routes) byRoute.set(r.route, [...(byRoute.get(r.route) ?? []), r])
  const sum = <T extends { diffs: number; noisy: boolean }>(lists: readonly (readonly T[])[], key: (t: T) => string) => {
    const out = new Map<string, T>()
    for (const list of lists) {
      for (const t of list) {
        const seen = out.get(key(t))
        out.set(key(t), seen === undefined ? t : { ...seen, diffs: seen.diffs + t.diffs, noisy: seen.noisy || t.noisy })
      }
    }
    return [...out.values()].sort((a, b) => b.diffs - a.diffs)
  }
  return {
    routes: [...byRoute].map(([route, rs]) => ({
      route,
      samples: rs.reduce((n, r) => n + r.samples, 0),
      jsonSamples: rs.reduce((n, r) => n + r.jsonSamples, 0),
      paths: sum(rs.map((r) => r.paths), (p) => p.path),
      headers: sum(rs.map((r) => r.headers), (h) => h.name),
    })),
  }
}

/** The sum of the replicas' reports (`approximateRatios` when more than one had pairs). */
export function mergeReports(reports: readonly SharedReport[]): SharedReport & { readonly replicas: number; readonly approximateRatios: boolean } {
  const pairs = reports.reduce((n, r) => n + r.pairs, 0)
  const differing = reports.reduce((n, r) => n + r.differing, 0)
  const byRoute = new Map<string, RouteReport[]>()
  for (const r of reports) for (const route of r.routes) byRoute.set(route.route, [...(byRoute.get(route.route) ?? []), route])
  const routes = [...byRoute.values()].map(mergeRoutes).sort((a, b) => b.differing - a.differing || b.pairs - a.pairs || (a.route < b.route ? -1 : 1))
  return {
    replicas: reports.length,
    approximateRatios: reports.filter((r) => r.pairs > 0).length > 1,
    pairs,
    differing,
    share: share(differing, pairs),
    kinds: kinds(reports.map((r) => r.kinds), pairs),
    routes,
    examples: reports.flatMap((r) => r.examples).slice(0, MAX_EXAMPLES),
    noise: mergeNoise(reports.map((r) => r.noise)),
  }
}
