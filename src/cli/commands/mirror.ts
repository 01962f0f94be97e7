import type { Command } from 'commander'
import type { MirrorExample, MirrorKindCount, MirrorReportView, MirrorRouteReport, MirrorView } from '../api-types.js'
import { contextOf } from '../context.js'
import { cut, duration, localTime, pct, table } from '../format.js'
import { limit, percent, withCommon, type CommonOptions } from '../options.js'
import type { Output } from '../output.js'
import type { Style } from '../style.js'
import { COMMANDS } from '../summary.js'

interface SetOptions extends CommonOptions {
  readonly reason?: string
}

interface ReportOptions extends CommonOptions {
  readonly limit?: number
}

/** Routes, field paths per route and examples `mirror report` shows without --limit. */
const DEFAULT_LIMIT = 5

/** Field paths named in one example line. */
const EXAMPLE_PATHS = 3

/** `1 MiB`, `64 KiB`, `512 B`. */
function bytes(n: number): string {
  if (n >= 1024 * 1024 && n % (1024 * 1024) === 0) return `${n / (1024 * 1024)} MiB`
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KiB`
  return `${n} B`
}

/** A share as the API gives it (0 to 1) in percent: `0.97 %`. */
const share = (value: number): string => pct(value * 100)

/** A route group's name; "" when the server groups no routes. */
const routeName = (route: string): string => (route === '' ? '(all routes)' : route)

/** `12 differing of 1234 pairs (0.97 %)`, or `no pairs compared yet`. */
function pairsText(v: { readonly pairs: number; readonly differing: number; readonly share: number }): string {
  return v.pairs === 0 ? 'no pairs compared yet' : `${v.differing} differing of ${v.pairs} pairs (${share(v.share)})`
}

/** `field 9 (0.73 %) · status 3 (0.24 %)`. */
function kindsText(kinds: readonly MirrorKindCount[]): string {
  return kinds.map((k) => `${k.kind} ${k.count} (${share(k.share)})`).join(' · ')
}

/** GET /v1/mirror for people: the share mirrored, what was compared, the settings. */
export function mirrorLines(view: MirrorView, style: Style): string[] {
  const s = view.settings
  const state =
    view.percent === 0
      ? `${style.dim('off')}: green gets no copies (generation ${view.generation})`
      : `${style.green(pct(view.percent))} of blue's requests copied to green (generation ${view.generation})`
  return [
    `mirror: ${state}`,
    `compared: ${pairsText(view)}`,
    `settings: ${s.methods.join(', ')} · bodies up to ${bytes(s.maxBodySize)} · ${s.concurrency} at a time · timeout ${duration(s.timeout)} · compare ${s.mode} · copies marked ${s.header}: 1`,
  ]
}

function noteOf(p: MirrorRouteReport['paths'][number]): string {
  const ignored = p.noise > 0 ? `${p.noise} ignored as noise` : ''
  if (!p.noisy) return ignored
  return `noisy: differs between blue's own answers too${ignored === '' ? '' : `, ${ignored}`}`
}

/** One route's top differing field paths, noisy ones marked. */
function routeLines(route: MirrorRouteReport, max: number, width: number | undefined): string[] {
  if (route.paths.length === 0) return []
  const shown = route.paths.slice(0, max)
  const rows = shown.map((p) => [p.path, String(p.count), p.count === 0 ? '-' : share(p.share), noteOf(p)])
  const more = route.paths.length - shown.length + route.otherPaths
  return [
    '',
    `${routeName(route.route)}: ${pairsText(route)}${route.kinds.length === 0 ? '' : `; ${kindsText(route.kinds)}`}`,
    ...table(['  FIELD', 'DIFFERING', 'SHARE', ''], rows.map(([first, ...rest]) => [`  ${first}`, ...rest]), width),
    ...(more > 0 ? [`  ... ${more} more field path${more === 1 ? '' : 's'}`] : []),
  ]
}

/** `GET /users?id=… · blue 200 in 12ms · green 500 in 30ms · status, field $.price (+2)`. */
function exampleLine(e: MirrorExample, width: number | undefined): string {
  const paths = e.paths.slice(0, EXAMPLE_PATHS).map((p) => p.path)
  const morePaths = e.paths.length - paths.length
  const where = paths.length === 0 ? '' : ` ${paths.join(', ')}${morePaths > 0 ? ` (+${morePaths})` : ''}`
  const headers = e.headers.length === 0 ? '' : ` · headers ${e.headers.join(', ')}`
  const sides = `blue ${e.blue.status} in ${duration(e.blue.durationMs)} · green ${e.green.status} in ${duration(e.green.durationMs)}`
  return cut(`  ${e.method} ${e.path} · ${sides} · ${e.kinds.join(', ')}${where}${headers}`, width)
}

/** What was learned as noise: the noisy field paths and headers of the routes shown, in their order. */
function noiseLines(report: MirrorReportView, shown: readonly MirrorRouteReport[], width: number | undefined): string[] {
  const learned = new Map(report.noise.routes.map((r) => [r.route, [...r.paths.filter((p) => p.noisy).map((p) => p.path), ...r.headers.filter((h) => h.noisy).map((h) => `header ${h.name}`)]]))
  const lines = shown.flatMap(({ route }) => {
    const names = learned.get(route) ?? []
    return names.length === 0 ? [] : [cut(`  ${routeName(route)}: ${names.join(', ')}`, width)]
  })
  return lines.length === 0 ? [] : ['', "learned noise (what differs between two of blue's own answers is not held against green):", ...lines]
}

/** GET /v1/mirror/report for people: per route pairs and differing share, top field paths, learned noise, a few examples. */
export function reportLines(report: MirrorReportView, o: { readonly limit: number; readonly style: Style; readonly width?: number | undefined }): string[] {
  const fleet = report.scope === 'fleet' && (report.replicas ?? 1) > 1 ? ` · summed over ${report.replicas} replicas` : ''
  const lines = [`mirror ${pct(report.percent)} · since ${localTime(report.since)} · ${pairsText(report)}${fleet}`]
  if (report.pairs === 0) {
    if (report.percent === 0) lines.push('mirroring is off: "switchyard mirror set 10" copies 10 % of blue\'s requests to green')
    return lines
  }
  if (report.kinds.length > 0) lines.push(`differing in: ${kindsText(report.kinds)}`)
  const routes = report.routes.slice(0, o.limit)
  const ratio = (r: MirrorRouteReport) => (r.latencyRatio == null ? '-' : `${r.latencyRatio.p50}× / ${r.latencyRatio.p90}×`)
  lines.push('', ...table(['ROUTE', 'PAIRS', 'DIFFERING', 'SHARE', 'GREEN TIME p50/p90'], routes.map((r) => [routeName(r.route), String(r.pairs), String(r.differing), share(r.share), ratio(r)]), o.width))
  const moreRoutes = report.routes.length - routes.length
  if (moreRoutes > 0) lines.push(`... ${moreRoutes} more route${moreRoutes === 1 ? '' : 's'} (--limit shows more)`)
  for (const route of routes) lines.push(...routeLines(route, o.limit, o.width))
  lines.push(...noiseLines(report, routes, o.width))
  const examples = report.examples.slice(0, o.limit)
  if (examples.length > 0) lines.push('', o.style.bold('examples:'), ...examples.map((e) => exampleLine(e, o.width)))
  return lines
}

function printMirror(out: Output, view: MirrorView): void {
  if (out.json) out.document(view)
  else out.lines(mirrorLines(view, out.style))
}

/** mirror (the share mirrored to green and what was compared), mirror set PERCENT, mirror report, mirror reset. */
export function mirrorCommands(program: Command): void {
  const mirror = withCommon(program.command('mirror').description(COMMANDS.mirror))
    .addHelpText('after', '\nExamples:\n  switchyard mirror set 100 --reason "compare build 1.8.0"\n  switchyard mirror report --limit 10\n  switchyard mirror set 0')
    .action(async (options: CommonOptions) => {
      const { client, out } = contextOf(options)
      printMirror(out, await client.get<MirrorView>('/v1/mirror'))
    })

  withCommon(
    mirror
      .command('set')
      .description("copy this share of blue's requests to green, whose answers are compared and dropped (0 stops)")
      .argument('<percent>', "the share of blue's requests, 0 to 100 (0.01 steps)", percent)
      .option('--reason <text>', 'why, for the audit log'),
  ).action(async (value: number, options: SetOptions) => {
    const { client, out } = contextOf(options)
    printMirror(out, await client.request<MirrorView>('PUT', '/v1/mirror', { percent: value, ...(options.reason === undefined ? {} : { reason: options.reason }) }))
  })

  withCommon(
    mirror
      .command('report')
      .description('what differed between blue and green: per route, by field path (noisy ones marked), with examples')
      .option('--limit <n>', `at most this many routes, field paths per route and examples (default ${DEFAULT_LIMIT}; --json prints the whole report)`, limit),
  ).action(async (options: ReportOptions) => {
    const { client, out } = contextOf(options)
    const report = await client.get<MirrorReportView>('/v1/mirror/report')
    if (out.json) out.document(report)
    else out.lines(reportLines(report, { limit: options.limit ?? DEFAULT_LIMIT, style: out.style, width: out.columns }))
  })

  withCommon(mirror.command('reset').description('forget the report and the learned noise (mirroring goes on)')).action(async (options: CommonOptions) => {
    const { client, out } = contextOf(options)
    await client.request<undefined>('DELETE', '/v1/mirror/report')
    const view = await client.get<MirrorView>('/v1/mirror')
    if (out.json) return out.document(view)
    out.line(`mirror report reset: pairs, differences and learned noise forgotten; mirroring stays at ${pct(view.percent)}`)
  })
}
