/** The idle scenario's table, and the targets of issue #16 (data path v2) measured against the run. */
import type { BenchResults, RunRecord } from './report.js'
import { formatErrors, int, median, summarize, type Summary } from './report-summary.js'
import { NOISY_CPU_PERCENT, SCENARIOS, type ScenarioName, type SystemName } from './settings.js'
import { SYSTEM_LABELS } from './systems.js'

const mb = (bytes: number): string => (bytes / 2 ** 20).toFixed(0)

/** One system's idle runs over rounds: the fewest connections answered and open, the most RSS. */
export interface IdleSummary {
  readonly system: SystemName
  readonly rounds: number
  readonly connections: number
  readonly answered: number
  readonly failed: number
  readonly failureDetail: Readonly<Record<string, number>>
  readonly openAtReading: number
  readonly heldRssBytes: number
  /** Peak of the RSS sampled every 250 ms during the runs. */
  readonly peakRssBytes: number | null
  readonly openSeconds: number
  readonly holdSeconds: number
  readonly noisyRuns: number
}

/** The idle runs of `system` in `scenario`, or undefined if none succeeded. */
export function summarizeIdle(runs: readonly RunRecord[], scenario: ScenarioName, system: SystemName): IdleSummary | undefined {
  const mine = runs.filter((r) => r.scenario === scenario && r.system === system)
  const ok = mine.flatMap((r) => (r.idle === undefined ? [] : [r.idle]))
  const first = ok[0]
  if (first === undefined) return undefined
  const failureDetail: Record<string, number> = {}
  for (const r of ok) for (const [why, n] of Object.entries(r.failureDetail)) failureDetail[why] = (failureDetail[why] ?? 0) + n
  const peaks = mine.flatMap((r) => (r.idle === undefined || r.rssMaxBytes === null ? [] : [r.rssMaxBytes]))
  return {
    system,
    rounds: ok.length,
    connections: first.connections,
    answered: Math.min(...ok.map((r) => r.answered)),
    failed: ok.reduce((sum, r) => sum + r.failed, 0),
    failureDetail,
    openAtReading: Math.min(...ok.map((r) => r.openAtReading)),
    heldRssBytes: Math.max(...ok.map((r) => r.heldRssBytes)),
    peakRssBytes: peaks.length === 0 ? null : Math.max(...peaks),
    openSeconds: median(ok.map((r) => r.openSeconds)),
    holdSeconds: first.holdSeconds,
    noisyRuns: mine.filter((r) => r.foreignCpuPercent > NOISY_CPU_PERCENT).length,
  }
}

/** The idle scenario: per proxy, connections answered and still open, and its RSS with them. */
export function idleTable(results: BenchResults, scenario: ScenarioName): string {
  const skipped = results.skipped.find((k) => k.scenario === scenario)
  if (skipped !== undefined) return `**Skipped on this machine**: ${skipped.reason}.`
  const sc = SCENARIOS[scenario]
  const hold = sc.idle?.holdSeconds ?? 0
  const nginx = summarizeIdle(results.runs, scenario, 'nginx')
  const rows = [
    `Each proxy: ${int(sc.connections)} connections opened ${sc.idle?.concurrency ?? 1} at a time from CPU 1, each answered one \`GET /\` (its own \`x-user-id\`), then held open with no traffic for ${hold} s. *RSS, all open* is the proxy's VmRSS (process tree) read then; *peak RSS* the maximum sampled every 250 ms from the first connection to the last close. Over several rounds: the fewest answered and open, the most RSS. \`direct\` has no proxy and does not run.`,
    '',
    `| system | answered | failed | open after ${hold} s idle | RSS, all open, MB | peak RSS MB | opened in s | RSS vs nginx |`,
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ]
  const notes: string[] = []
  for (const system of results.settings.systems) {
    if (system === 'direct') continue
    const s = summarizeIdle(results.runs, scenario, system)
    if (s === undefined) {
      const why = results.runs.find((r) => r.scenario === scenario && r.system === system && r.error !== undefined)?.error ?? 'not run'
      rows.push(`| ${SYSTEM_LABELS[system]} | — | — | — | — | — | — | — |`)
      notes.push(`${system}: ${why.split('\n')[0] ?? ''}`)
      continue
    }
    const vs = nginx === undefined || nginx.heldRssBytes === 0 ? '—' : `${(s.heldRssBytes / nginx.heldRssBytes).toFixed(1)}×`
    rows.push(
      `| ${SYSTEM_LABELS[system]}${s.noisyRuns > 0 ? ' †' : ''} | ${int(s.answered)} | ${int(s.failed)} | ${int(s.openAtReading)} | ${mb(s.heldRssBytes)} | ` +
        `${s.peakRssBytes === null ? '—' : mb(s.peakRssBytes)} | ${s.openSeconds.toFixed(1)} | ${vs} |`,
    )
    if (s.failed > 0) notes.push(`${system}: failed ${JSON.stringify(s.failureDetail)}`)
    if (s.openAtReading < s.answered) notes.push(`${system}: closed ${int(s.answered - s.openAtReading)} idle connections before the reading (an idle or keep-alive timeout)`)
  }
  let out = rows.join('\n')
  if (rows.some((r) => r.includes(' † |'))) out += `\n\n† at least one run of this row had other processes using more than ${NOISY_CPU_PERCENT} % of a CPU.`
  if (notes.length > 0) out += `\n\n${notes.map((n) => `- ${n}`).join('\n')}`
  return out
}

/** One figure of one system: what it shows, and whether it meets its target (undefined: cannot tell, and why). */
interface Cell {
  readonly text: string
  readonly met: boolean | undefined
  readonly why?: string
}

const NOT_RUN: Cell = { text: '—', met: undefined, why: 'not run' }

/** A target of #16: its figure, and how to read it for a system from the run. */
interface Target {
  readonly figure: string
  readonly target: string
  readonly cell: (system: SystemName) => Cell
}

/** The switchyard rows the targets are read for: both engines, those that ran. */
const CANDIDATES: readonly SystemName[] = ['switchyard', 'switchyard-node']

function targets(results: BenchResults): Target[] {
  const wrk = (scenario: ScenarioName, system: SystemName): Summary | undefined =>
    results.settings.scenarios.includes(scenario) ? summarize(results.runs, 'wrk', scenario, system) : undefined
  const vsNginx = (scenario: ScenarioName, floor: number) => (system: SystemName): Cell => {
    const s = wrk(scenario, system)
    const nginx = wrk(scenario, 'nginx')
    if (s === undefined || nginx === undefined || nginx.rps === 0) return NOT_RUN
    return { text: `${(s.rps / nginx.rps).toFixed(2)}×`, met: s.rps / nginx.rps >= floor }
  }
  // The best Node peer: the faster of node http-proxy and fastify on c50 (req/s medians).
  const peers = (['http-proxy', 'fastify'] as const).flatMap((p) => {
    const s = wrk('c50', p)
    return s === undefined ? [] : [s]
  })
  const best = peers.reduce<Summary | undefined>((a, b) => (a === undefined || b.rps > a.rps ? b : a), undefined)
  const idle = SCENARIOS.idle10k
  const idleSkipped = results.skipped.find((k) => k.scenario === 'idle10k')
  return [
    { figure: 'c50 req/s vs nginx', target: '≥ 0.80×', cell: vsNginx('c50', 0.8) },
    {
      figure: `c50 req/s vs the best Node peer${best === undefined ? '' : ` (${SYSTEM_LABELS[best.system]}, ${int(best.rps)})`}`,
      target: '≥ 2.00×',
      cell: (system) => {
        const s = wrk('c50', system)
        if (s === undefined || best === undefined || best.rps === 0) return NOT_RUN
        return { text: `${(s.rps / best.rps).toFixed(2)}×`, met: s.rps / best.rps >= 2 }
      },
    },
    {
      // Not a target: how much of what Node itself allows on this machine a row keeps (net-floor.ts).
      figure: 'c50 req/s vs the Node floor (a featureless `net` proxy, bench/peers/net-floor.ts)',
      target: 'describe',
      cell: (system) => {
        const s = wrk('c50', system)
        const floor = wrk('c50', 'node-floor')
        if (s === undefined || floor === undefined || floor.rps === 0) return NOT_RUN
        return { text: `${(s.rps / floor.rps).toFixed(2)}×`, met: undefined, why: 'for reference' }
      },
    },
    {
      // Not a target: req/s shows capacity only while the proxy's core is the limit. A proxy that
      // leaves part of its core idle is held by the load side (wrk and the upstream share CPU 1).
      figure: 'c50 requests per proxy CPU-second vs nginx (per core: the inverse ratio of CPU µs a request)',
      target: 'describe',
      cell: (system) => {
        const s = wrk('c50', system)?.cpuPerRequestUs
        const nginx = wrk('c50', 'nginx')?.cpuPerRequestUs
        if (s === undefined || s === null || nginx === undefined || nginx === null) return NOT_RUN
        const ratio = (nginx.user + nginx.system) / (s.user + s.system)
        return { text: `${ratio.toFixed(2)}×`, met: undefined, why: 'for reference' }
      },
    },
    {
      // Under ~95 %, the row's req/s was held by the load side, not by the proxy.
      figure: "c50 proxy's core busy (CPU µs a request × req/s)",
      target: 'describe',
      cell: (system) => {
        const s = wrk('c50', system)
        const cpu = s?.cpuPerRequestUs
        if (s === undefined || cpu === undefined || cpu === null) return NOT_RUN
        return { text: `${(((cpu.user + cpu.system) * s.rps) / 1e4).toFixed(0)} %`, met: undefined, why: 'for reference' }
      },
    },
    {
      figure: 'c1000 errors (non-2xx, socket errors, over 2 s)',
      target: '0',
      cell: (system) => {
        const s = wrk('c1000', system)
        return s === undefined ? NOT_RUN : { text: formatErrors(s), met: s.errors === 0 }
      },
    },
    {
      figure: 'c1000 proxy RSS (peak)',
      target: '≤ 100 MB',
      cell: (system) => {
        const rss = wrk('c1000', system)?.rssMaxBytes
        return rss === undefined || rss === null ? NOT_RUN : { text: `${mb(rss)} MB`, met: rss <= 100 * 2 ** 20 }
      },
    },
    {
      figure: `idle10k RSS with ${int(idle.connections)} idle connections open`,
      target: '≤ 150 MB',
      cell: (system) => {
        if (idleSkipped !== undefined) return { text: '—', met: undefined, why: 'skipped (fd limit)' }
        const s = results.settings.scenarios.includes('idle10k') ? summarizeIdle(results.runs, 'idle10k', system) : undefined
        if (s === undefined) return NOT_RUN
        const all = s.openAtReading === s.connections
        const text = `${mb(s.heldRssBytes)} MB${all ? '' : ` (only ${int(s.openAtReading)} open)`}`
        return { text, met: all && s.heldRssBytes <= 150 * 2 ** 20 }
      },
    },
    {
      figure: 'c1 added p50 over direct',
      target: '≤ 0.060 ms',
      cell: (system) => {
        const s = wrk('c1', system)
        const direct = wrk('c1', 'direct')
        if (s === undefined || direct === undefined) return NOT_RUN
        const added = s.p50Ms - direct.p50Ms
        return { text: `${added >= 0 ? '+' : ''}${added.toFixed(3)} ms`, met: added <= 0.06 }
      },
    },
    { figure: '1mb req/s vs nginx', target: '≥ 1.00×', cell: vsNginx('1mb', 1) },
    { figure: 'sse req/s vs nginx', target: '≥ 1.00×', cell: vsNginx('sse', 1) },
  ]
}

const verdict = (c: Cell): string => (c.met === undefined ? (c.why ?? '—') : c.met ? 'met' : '**missed**')

/**
 * The targets of issue #16 for each switchyard engine that ran, with nginx's own figures for
 * reference; empty when neither switchyard row ran. A figure whose scenario or comparison row
 * did not run reads "not run".
 */
export function targetsTable(results: BenchResults): string {
  const candidates = CANDIDATES.filter((s) => results.settings.systems.includes(s))
  if (candidates.length === 0) return ''
  const nginx = results.settings.systems.includes('nginx')
  const head = ['figure', 'target', ...candidates.flatMap((s) => [SYSTEM_LABELS[s], 'met?']), ...(nginx ? ['nginx, for reference'] : [])]
  const rows = [
    'The targets of issue #16 (data path v2), read from the tables above: ratios of medians; errors summed over rounds; RSS the most over rounds.',
    '',
    `| ${head.join(' | ')} |`,
    `| --- | --- | ${candidates.map(() => '---: | ---').join(' | ')}${nginx ? ' | ---:' : ''} |`,
  ]
  for (const t of targets(results)) {
    const cells = candidates.flatMap((system) => {
      const c = t.cell(system)
      return [c.text, verdict(c)]
    })
    const reference = t.cell('nginx')
    rows.push(`| ${t.figure} | ${t.target} | ${cells.join(' | ')}${nginx ? ` | ${reference.text === '—' && reference.why !== undefined ? reference.why : reference.text}` : ''} |`)
  }
  return rows.join('\n')
}
