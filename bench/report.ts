/** The Markdown report (bench/results/latest.md): what a run records, and its tables. */
import type { SplitCheck, StreamCheck } from './http-check.js'
import type { IdleResult } from './idle.js'
import { MIRROR_SHOWN, type MirrorCounts } from './mirror-metrics.js'
import type { CpuTicks } from './procs.js'
import { formatErrors, int, median, ms, summarize, type Summary } from './report-summary.js'
import { idleTable, targetsTable } from './report-targets.js'
import {
  engineOf,
  isIdle,
  mirrorPercentOf,
  NOISY_CPU_PERCENT,
  SCENARIOS,
  serviceCountOf,
  SERVICES_LOAD_HOST,
  type ScenarioName,
  type Settings,
  type SystemName,
} from './settings.js'
import { SYSTEM_LABELS } from './systems.js'
import type { LoadResult } from './wrk.js'

export type LoadTool = 'wrk' | 'autocannon'

/** One measured run, or the reason it could not run. */
export interface RunRecord {
  readonly tool: LoadTool
  readonly scenario: ScenarioName
  readonly system: SystemName
  readonly round: number
  readonly result?: LoadResult
  /** The idle scenario's run (no `result`): connections held open and the proxy's RSS with them. */
  readonly idle?: IdleResult
  readonly error?: string
  /** Max summed VmRSS of the proxy's process tree during the run; null for `direct`. */
  readonly rssMaxBytes: number | null
  /** The proxy tree's user and kernel CPU µs per request served in the run (/proc/PID/stat); null for `direct`, absent in older results. */
  readonly cpuPerRequestUs?: CpuTicks | null
  /** CPU that processes the bench did not start used during the run, in % of one CPU. */
  readonly foreignCpuPercent: number
  /** A mirror row: `switchyard_mirror_requests_total{result}` moved by this much during the run. */
  readonly mirror?: MirrorCounts
}

export interface MachineFacts {
  readonly nproc: number
  readonly cpuModel: string
  readonly memoryGiB: number
  readonly kernel: string
  readonly node: string
  readonly nginx: string
  readonly haproxy: string
  readonly wrk: string
  readonly autocannon: string
  readonly gitCommit: string
  /** How switchyard's dist/ came to be, when the bench did not build it (BENCH_BUILD=0). */
  readonly switchyardBuild?: string
}

export interface BenchResults {
  readonly date: string
  readonly machine: MachineFacts
  readonly settings: Settings
  readonly runs: RunRecord[]
  /** Systems that could not start or died, per phase. */
  readonly failures: { phase: string; system: SystemName; message: string }[]
  readonly splitChecks: Partial<Record<SystemName, SplitCheck>>
  /** One GET /sse per system: does the first event arrive before the stream ends? */
  readonly streamChecks: Partial<Record<SystemName, StreamCheck>>
  /** Mirror rows: the share switchyard reported (`switchyard_mirror_percent`) once started. */
  readonly mirrorChecks: Partial<Record<SystemName, { percent: number }>>
  /** Scenarios that could not run at all on this machine (the idle one without enough fds), and why. */
  readonly skipped: { scenario: ScenarioName; reason: string }[]
  readonly finished: boolean
  /** git HEAD when the run ended, if it moved during the run (others commit into the same tree). */
  readonly gitCommitAtEnd?: string
}

const ratio = (a: Summary, b: Summary | undefined): string => (b === undefined || b.rps === 0 ? '—' : `${(a.rps / b.rps).toFixed(2)}×`)

function errorOf(results: BenchResults, tool: LoadTool, scenario: ScenarioName, system: SystemName): string | undefined {
  const run = results.runs.find((r) => r.tool === tool && r.scenario === scenario && r.system === system && r.error !== undefined)
  return run?.error
}

/** One table: a row per system of `settings.systems`, ratios against direct and nginx (the idle scenario: idleTable). */
export function scenarioTable(results: BenchResults, tool: LoadTool, scenario: ScenarioName): string {
  if (isIdle(scenario)) return idleTable(results, scenario)
  const systems = results.settings.systems
  const direct = summarize(results.runs, tool, scenario, 'direct')
  const nginx = summarize(results.runs, tool, scenario, 'nginx')
  const rows = [
    '| system | req/s (median) | p50 ms | p99 ms | errors | proxy RSS MB | proxy CPU µs/req, user + kernel | vs direct | vs nginx |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ]
  const notes: string[] = []
  for (const system of systems) {
    const s = summarize(results.runs, tool, scenario, system)
    if (s === undefined) {
      const why = errorOf(results, tool, scenario, system) ?? 'not run'
      rows.push(`| ${SYSTEM_LABELS[system]} | — | — | — | — | — | — | — | — |`)
      notes.push(`${system}: ${why.split('\n')[0] ?? ''}`)
      continue
    }
    const rss = s.rssMaxBytes === null ? '—' : (s.rssMaxBytes / 2 ** 20).toFixed(0)
    const cpu = s.cpuPerRequestUs === null ? '—' : `${s.cpuPerRequestUs.user.toFixed(1)} + ${s.cpuPerRequestUs.system.toFixed(1)}`
    rows.push(
      `| ${SYSTEM_LABELS[system]} | ${int(s.rps)}${s.noisyRuns > 0 ? ' †' : ''} | ${ms(s.p50Ms)} | ${ms(s.p99Ms)} | ${formatErrors(s)} | ${rss} | ${cpu} | ${system === 'direct' ? '1.00×' : ratio(s, direct)} | ${ratio(s, nginx)} |`,
    )
  }
  const spread = systems
    .map((system) => summarize(results.runs, tool, scenario, system))
    .filter((s): s is Summary => s !== undefined && s.perRoundRps.length > 1)
    .map((s) => `${s.system} ${s.perRoundRps.map(int).join(' / ')}`)
  let out = rows.join('\n')
  if (spread.length > 0) out += `\n\nreq/s per round: ${spread.join('; ')}.`
  if (rows.some((r) => r.includes(' † |'))) {
    out += `\n\n† at least one run of this row had other processes using more than ${NOISY_CPU_PERCENT} % of a CPU.`
  }
  if (notes.length > 0) out += `\n\n${notes.map((n) => `- ${n}`).join('\n')}`
  const mirror = mirrorTable(results, tool, scenario)
  if (mirror !== '') out += `\n\n${mirror}`
  const services = servicesTable(results, tool, scenario)
  if (services !== '') out += `\n\n${services}`
  return out
}

/** `x (1.03×)`: a figure and its ratio to the same figure of `base`. */
function withRatio(value: number, base: number | undefined, format: (n: number) => string): string {
  return base === undefined || base === 0 ? format(value) : `${format(value)} (${(value / base).toFixed(2)}×)`
}

/** Per round, this row's req/s over switchyard's in the same round (they ran back to back). */
function pairedRatios(results: BenchResults, tool: LoadTool, scenario: ScenarioName, system: SystemName): string {
  const rps = (name: SystemName, round: number): number | undefined =>
    results.runs.find((r) => r.tool === tool && r.scenario === scenario && r.system === name && r.round === round)?.result?.rps
  const ratios: string[] = []
  for (let round = 1; round <= results.settings.rounds; round++) {
    const mine = rps(system, round)
    const base = rps('switchyard', round)
    if (mine !== undefined && base !== undefined && base > 0) ratios.push((mine / base).toFixed(2))
  }
  return ratios.join(' / ')
}

/**
 * The mirror rows against the plain switchyard row of the same run: req/s, p50 and p99 with
 * their ratios, and what became of the shadows (from /metrics). Empty when no mirror row ran.
 */
export function mirrorTable(results: BenchResults, tool: LoadTool, scenario: ScenarioName): string {
  const mirrors = results.settings.systems.filter((s) => mirrorPercentOf(s) !== undefined)
  if (mirrors.length === 0) return ''
  const base = summarize(results.runs, tool, scenario, 'switchyard')
  const rows = [
    'Mirror rows against the plain switchyard row (ratios in brackets; *sampled* = mirror results counted ÷ requests answered; *other* = too_large, method, no_target, cancelled, timeout):',
    '',
    '| system | req/s (median) | vs switchyard | vs switchyard, per round | p50 ms | p99 ms | sampled | compared | dropped | other |',
    '| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ]
  if (base !== undefined) {
    rows.push(`| ${SYSTEM_LABELS.switchyard} | ${int(base.rps)}${base.noisyRuns > 0 ? ' †' : ''} | 1.00× | | ${ms(base.p50Ms)} | ${ms(base.p99Ms)} | — | — | — | — |`)
  }
  for (const system of mirrors) {
    const s = summarize(results.runs, tool, scenario, system)
    if (s === undefined) {
      rows.push(`| ${SYSTEM_LABELS[system]} | — | — | | — | — | — | — | — | — |`)
      continue
    }
    const counts = s.mirror ?? {}
    const total = Object.values(counts).reduce((a, n) => a + n, 0)
    const shown = MIRROR_SHOWN.map((r) => int(counts[r] ?? 0))
    const other = total - MIRROR_SHOWN.reduce((a, r) => a + (counts[r] ?? 0), 0)
    const sampled = s.mirror === undefined || s.requests === 0 ? '—' : `${((100 * total) / s.requests).toFixed(1)} %`
    rows.push(
      `| ${SYSTEM_LABELS[system]} | ${int(s.rps)}${s.noisyRuns > 0 ? ' †' : ''} | ${ratio(s, base)} | ${pairedRatios(results, tool, scenario, system)} | ` +
        `${withRatio(s.p50Ms, base?.p50Ms, ms)} | ${withRatio(s.p99Ms, base?.p99Ms, ms)} | ${sampled} | ${shown.join(' | ')} | ${int(other)} |`,
    )
  }
  return rows.join('\n')
}

/** The many-services rows against the plain switchyard row of the same run: req/s, p50 and p99 with their ratios. Empty when none ran. */
export function servicesTable(results: BenchResults, tool: LoadTool, scenario: ScenarioName): string {
  const many = results.settings.systems.filter((s) => serviceCountOf(s) !== undefined)
  if (many.length === 0) return ''
  const base = summarize(results.runs, tool, scenario, 'switchyard')
  const rows = [
    'Many-services rows against the plain switchyard row (ratios in brackets):',
    '',
    '| system | req/s (median) | vs switchyard | vs switchyard, per round | p50 ms | p99 ms |',
    '| --- | ---: | ---: | --- | ---: | ---: |',
  ]
  if (base !== undefined) {
    rows.push(`| ${SYSTEM_LABELS.switchyard} | ${int(base.rps)}${base.noisyRuns > 0 ? ' †' : ''} | 1.00× | | ${ms(base.p50Ms)} | ${ms(base.p99Ms)} |`)
  }
  for (const system of many) {
    const s = summarize(results.runs, tool, scenario, system)
    if (s === undefined) {
      rows.push(`| ${SYSTEM_LABELS[system]} | — | — | | — | — |`)
      continue
    }
    rows.push(
      `| ${SYSTEM_LABELS[system]} | ${int(s.rps)}${s.noisyRuns > 0 ? ' †' : ''} | ${ratio(s, base)} | ${pairedRatios(results, tool, scenario, system)} | ` +
        `${withRatio(s.p50Ms, base?.p50Ms, ms)} | ${withRatio(s.p99Ms, base?.p99Ms, ms)} |`,
    )
  }
  return rows.join('\n')
}

/** The whole Markdown report. */
export function renderMarkdown(results: BenchResults): string {
  const { machine: m, settings: s } = results
  const lines: string[] = [
    '# switchyard benchmark',
    '',
    `Run ${results.date}${results.finished ? '' : ' — **interrupted, partial results**'} with \`npm run bench\` (see bench/README.md).`,
    '',
    '## Machine',
    '',
    `- ${m.nproc} CPUs (${m.cpuModel}), ${m.memoryGiB.toFixed(0)} GiB, Linux ${m.kernel}`,
    `- node ${m.node}, ${m.nginx}, ${m.haproxy}, ${m.wrk}, autocannon ${m.autocannon}`,
    ...(m.switchyardBuild === undefined ? [] : [`- switchyard: ${m.switchyardBuild}`]),
    `- switchyard at git ${m.gitCommit}${results.gitCommitAtEnd === undefined ? '' : ` at the start and ${results.gitCommitAtEnd} at the end: **the code changed during the run**, so phases may have measured different versions`}`,
    '',
    '## Settings',
    '',
    `- ${s.rounds} round(s) × ${s.durationSeconds} s per run, systems alternating within each round; ${s.warmupSeconds} s warm-up per system and scenario, not counted${s.quick ? ' (BENCH_QUICK: a smoke test, not figures to quote)' : ''}`,
    s.proxyCpus === '0'
      ? '- proxies pinned to CPU 0 (`taskset -c 0`), one worker/thread each; wrk (1 thread), autocannon and the upstream nginx pinned to CPU 1'
      : `- proxies on CPUs ${s.proxyCpus} (\`taskset -c ${s.proxyCpus}\`, BENCH_PROXY_CPUS), one worker/thread each unless said below; wrk (1 thread), autocannon and the upstream nginx pinned to CPU 1, so they share it with the proxies`,
    '- upstreams: one nginx worker with a blue and a green server block; every proxy splits 90/10 by a hash of `x-user-id`, and wrk sends a different `x-user-id` on each request (10,000 users, cycled)',
    '- figures are medians over rounds; errors are summed over rounds (non-2xx + connect/read/write errors + timeouts); RSS is the maximum VmRSS sampled every 250 ms during the runs, summed over the process tree (nginx master + worker)',
  ]
  const mirrorRows = s.systems.filter((system) => mirrorPercentOf(system) !== undefined)
  if (mirrorRows.length > 0) {
    lines.push(
      `- mirror rows (${mirrorRows.map((system) => SYSTEM_LABELS[system]).join(', ')}): switchyard with \`split.green: 0\` (every answer comes from blue) and \`mirror.percent\` of blue's requests, sampled by \`x-user-id\`, also sent to the green server block of the same upstream nginx as shadows; the rest of \`mirror\` at its defaults (concurrency 64, compare json, which falls back to bytes for the text answers: every pair differs, as each answer starts with its colour). Shadow counts come from \`switchyard_mirror_requests_total\` on the admin API before and after each run`,
    )
    if (Object.keys(s.mirrorConfig).length > 0) {
      lines.push(`- the mirror rows' \`mirror\` also had \`${JSON.stringify(s.mirrorConfig)}\` (BENCH_MIRROR_CONFIG)`)
    }
  }
  const engineRows = s.systems.filter((system) => engineOf(system) !== undefined)
  if (s.systems.includes('switchyard') || engineRows.length > 0) {
    const others = engineRows.map((system) => `${SYSTEM_LABELS[system]}: the same config plus \`proxy.engine: ${engineOf(system) ?? ''}\``)
    lines.push(`- switchyard runs its default engine (\`proxy.engine: sockets\`, HTTP/1.1 on raw sockets)${others.length > 0 ? `; ${others.join('; ')}` : ''}`)
  }
  const manyRows = s.systems.filter((system) => serviceCountOf(system) !== undefined)
  if (manyRows.length > 0) {
    lines.push(
      `- many-services rows (${manyRows.map((system) => SYSTEM_LABELS[system]).join(', ')}): switchyard with that many \`services\` (\`svc-0.bench.test\` …), each matched by its own host and holding the plain row's \`upstreams\` and \`split\` (sticky, auto-revert and the rest inherited from the top level), no \`proxy.defaultService\`; wrk, autocannon and the checks send \`Host: ${SERVICES_LOAD_HOST}\` to them (one service in the middle), the other rows the URL's host`,
    )
  }
  if (s.switchyardWorkers !== undefined) {
    lines.push(`- switchyard ran with \`workers: ${s.switchyardWorkers}\` (BENCH_SWITCHYARD_WORKERS)`)
  }
  const foreign = results.runs.map((r) => r.foreignCpuPercent)
  if (foreign.length > 0) {
    const noisy = foreign.filter((f) => f > NOISY_CPU_PERCENT).length
    lines.push(
      `- interference: processes not started by the bench used a median ${median(foreign).toFixed(1)} % and at most ${Math.max(...foreign).toFixed(1)} % of a CPU during the runs; ${noisy} of ${foreign.length} runs above ${NOISY_CPU_PERCENT} % (marked †)${s.quietWaitSeconds > 0 ? `; before each run the bench waited up to ${s.quietWaitSeconds} s for quiet` : ''}`,
    )
  }
  const checks = Object.entries(results.splitChecks)
  if (checks.length > 0) {
    lines.push(
      '',
      '## Checks',
      '',
      'Before the load, 300 distinct users × 2 requests each on a fresh connection: share answered by green (expected ≈ 10 %; 0 % for the mirror rows, which keep every user on blue and send only shadows to green) and users that switched colour between their two requests (expected 0). Then one GET /sse: a proxy that streams delivers the first event long before the end (≈ 90 ms later).',
      '',
      '| system | green % | switched colour | failed | SSE first event ms | SSE end ms |',
      '| --- | ---: | ---: | ---: | ---: | ---: |',
      ...checks.map(([system, c]) => {
        const st = results.streamChecks[system as SystemName]
        const sse = st === undefined ? '— | —' : `${st.firstChunkMs.toFixed(1)} | ${st.totalMs.toFixed(1)}`
        return `| ${SYSTEM_LABELS[system as SystemName]} | ${c.greenPercent.toFixed(1)} | ${c.unsticky} | ${c.failed} | ${sse} |`
      }),
    )
    const mirrored = Object.entries(results.mirrorChecks)
    if (mirrored.length > 0) {
      const said = mirrored.map(([system, c]) => `${SYSTEM_LABELS[system as SystemName]}: ${c.percent} %`).join('; ')
      lines.push('', `Mirror share reported by switchyard (\`switchyard_mirror_percent\`) once started: ${said}.`)
    }
  }
  for (const scenario of s.scenarios) {
    lines.push('', `## ${scenario} — ${SCENARIOS[scenario].title}`, '', scenarioTable(results, 'wrk', scenario))
  }
  const targets = targetsTable(results)
  if (targets !== '') lines.push('', '## Targets of #16', '', targets)
  if (results.runs.some((r) => r.tool === 'autocannon')) {
    lines.push(
      '',
      '## autocannon (second opinion) — c50',
      '',
      `autocannon is a Node load generator on one CPU: its own ceiling is the direct row, and systems near it read alike; ${s.autocannonRounds} round(s).`,
      '',
      scenarioTable(results, 'autocannon', 'c50'),
    )
  }
  if (results.failures.length > 0) {
    lines.push('', '## Failures', '')
    for (const f of results.failures) {
      lines.push(`- **${f.system}** (${f.phase}):`, '', '  ```', ...f.message.split('\n').map((l) => `  ${l}`), '  ```')
    }
  }
  return `${lines.filter((l, i, all) => !(l === '' && all[i - 1] === '')).join('\n')}\n`
}
