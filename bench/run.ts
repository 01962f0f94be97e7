/**
 * `npm run bench`: switchyard against direct, nginx, HAProxy, node http-proxy, fastify and the Node
 * floor (a featureless `net` proxy: what Node itself allows), under
 * wrk (and autocannon as a second opinion), in alternating rounds. See bench/README.md.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { cpus, release, tmpdir, totalmem } from 'node:os'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import { runAutocannon } from './autocannon.js'
import { checkSplit, checkStream } from './http-check.js'
import { fitFdLimit, idleFdNeed, runIdle } from './idle.js'
import { countShadows, readMirrorMetrics, type MirrorCounts } from './mirror-metrics.js'
import { ECHO_MODULE } from './nginx-conf.js'
import {
  cpuMicrosPerRequest,
  cpuSnapshot,
  findExecutable,
  foreignCpuPercent,
  freePorts,
  ProcessRegistry,
  RssSampler,
  runQuiet,
  treeCpuTicks,
  type CpuTicks,
} from './procs.js'
import { renderMarkdown, scenarioTable, type BenchResults, type LoadTool, type MachineFacts, type RunRecord } from './report.js'
import { targetsTable } from './report-targets.js'
import {
  isIdle,
  mirrorPercentOf,
  NOISY_CPU_PERCENT,
  readSettings,
  SCENARIOS,
  SettingsError,
  type ScenarioName,
  type Settings,
} from './settings.js'
import { hostHeaders, logTail, startSystem, SYSTEM_LABELS, type RunningSystem, type Tools } from './systems.js'
import { startUpstreams, type Upstreams } from './upstream.js'
import { runWrk, type LoadResult } from './wrk.js'

const BENCH_DIR = dirname(fileURLToPath(import.meta.url))
const REPO_ROOT = dirname(BENCH_DIR)
const RESULTS_DIR = join(BENCH_DIR, 'results')

const registry = new ProcessRegistry()
let results: BenchResults | undefined
let tmpRoot: string | undefined

function log(line: string): void {
  process.stderr.write(`${line}\n`)
}

/** Every tool the bench needs, or exit 1 with the apt-get line that installs the missing ones. */
function preflight(): Tools {
  const found = {
    wrk: findExecutable('wrk'),
    nginx: findExecutable('nginx'),
    haproxy: findExecutable('haproxy'),
    taskset: findExecutable('taskset'),
  }
  const missing: { what: string; pkg: string }[] = []
  if (found.wrk === undefined) missing.push({ what: 'wrk', pkg: 'wrk' })
  if (found.nginx === undefined) missing.push({ what: 'nginx', pkg: 'nginx' })
  if (found.haproxy === undefined) missing.push({ what: 'haproxy', pkg: 'haproxy' })
  if (found.taskset === undefined) missing.push({ what: 'taskset', pkg: 'util-linux' })
  // The upstream streams its SSE-like answer with the echo module (echo_flush, echo_sleep).
  if (!existsSync(ECHO_MODULE)) missing.push({ what: `the nginx echo module (${ECHO_MODULE})`, pkg: 'libnginx-mod-http-echo' })
  if (missing.length > 0) {
    process.stderr.write(
      `bench: missing ${missing.map((m) => m.what).join(', ')}. Install with (as root, after apt-get update):\n\n` +
        `apt-get install -y ${missing.map((m) => m.pkg).join(' ')}\n\n`,
    )
    process.exit(1)
  }
  return found as Tools
}

async function machineFacts(tools: Tools): Promise<MachineFacts> {
  const firstLine = (s: string): string => s.split('\n')[0]?.trim() ?? ''
  const git = await runQuiet(registry, 'git', ['-C', REPO_ROOT, 'rev-parse', '--short', 'HEAD'])
  const dirty = (await runQuiet(registry, 'git', ['-C', REPO_ROOT, 'status', '--porcelain'])) !== ''
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'node_modules', 'autocannon', 'package.json'), 'utf8')) as { version: string }
  return {
    // Not availableParallelism(): the harness pins itself to one CPU.
    nproc: cpus().length,
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    memoryGiB: totalmem() / 2 ** 30,
    kernel: release(),
    node: process.version,
    nginx: firstLine(await runQuiet(registry, tools.nginx, ['-v'])).replace('nginx version: ', ''),
    haproxy: firstLine(await runQuiet(registry, tools.haproxy, ['-v'])).replace(/^HAProxy version (\S+).*/, 'HAProxy $1'),
    wrk: firstLine(await runQuiet(registry, tools.wrk, ['-v'])).replace(/^(wrk \S+).*/, '$1'),
    autocannon: pkg.version,
    gitCommit: `${firstLine(git)}${dirty ? ' (with uncommitted changes)' : ''}`,
  }
}

function fmt(r: LoadResult): string {
  return `${Math.round(r.rps).toLocaleString('en-US')} req/s, p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms, errors ${r.errors}`
}

interface PhaseContext {
  readonly settings: Settings
  readonly tools: Tools
  readonly upstreams: Upstreams
  readonly results: BenchResults
}

/** Starts every selected system for one phase (the idle one: proxies only); a system that cannot start is reported and left out. */
async function startAll(ctx: PhaseContext, phase: string, scenario: ScenarioName): Promise<RunningSystem[]> {
  const running: RunningSystem[] = []
  for (const name of ctx.settings.systems) {
    if (isIdle(scenario) && name === 'direct') continue
    try {
      const system = await startSystem(name, {
        registry,
        tools: ctx.tools,
        upstreams: ctx.upstreams,
        settings: ctx.settings,
        repoRoot: REPO_ROOT,
        dir: join(tmpRoot!, phase, name),
        connections: SCENARIOS[scenario].connections,
      })
      if (name !== 'direct' && ctx.results.splitChecks[name] === undefined) {
        const check = await checkSplit(system.url, 300, hostHeaders(system))
        ctx.results.splitChecks[name] = check
        let sse = ''
        try {
          const st = await checkStream(`${system.url}${SCENARIOS.sse.path}`, 5000, hostHeaders(system))
          ctx.results.streamChecks[name] = st
          sse = `; SSE first event after ${st.firstChunkMs.toFixed(1)} ms, end ${st.totalMs.toFixed(1)} ms`
        } catch (err) {
          sse = `; SSE check failed: ${(err as Error).message}`
        }
        let mirror = ''
        if (mirrorPercentOf(name) !== undefined && system.adminUrl !== undefined) {
          // The share switchyard really samples with (its gauge), not only the one configured.
          try {
            const percent = (await readMirrorMetrics(system.adminUrl)).percent ?? Number.NaN
            ctx.results.mirrorChecks[name] = { percent }
            mirror = `; mirroring ${percent} % of blue`
          } catch (err) {
            mirror = `; mirror metrics unreadable: ${(err as Error).message}`
          }
        }
        const host = system.host === undefined ? '' : `; Host ${system.host}`
        log(`  ${name}: ${check.greenPercent.toFixed(1)} % green, ${check.unsticky} switched, ${check.failed} failed${sse}${mirror}${host}`)
      }
      running.push(system)
    } catch (err) {
      const message = (err as Error).message
      ctx.results.failures.push({ phase, system: name, message })
      log(`  ${name}: FAILED to start, left out of ${phase}:\n${message.replace(/^/gm, '    ')}`)
    }
  }
  return running
}

async function stopAll(running: readonly RunningSystem[]): Promise<void> {
  for (const s of running) if (s.process !== null) await registry.stop(s.process)
}

/** CPU others use over `ms`, in % of one CPU. */
async function foreignLoad(ms: number): Promise<number> {
  const before = cpuSnapshot(registry)
  await sleep(ms)
  return foreignCpuPercent(before, cpuSnapshot(registry), ms / 1000)
}

/** The pause between runs; while other processes are busy, waits longer (up to quietWaitSeconds). */
async function pause(settings: Settings): Promise<void> {
  let load = await foreignLoad(settings.pauseMs)
  const until = Date.now() + settings.quietWaitSeconds * 1000
  if (load <= NOISY_CPU_PERCENT || Date.now() >= until) return
  log(`  (other processes use ${load.toFixed(0)} % CPU; waiting up to ${settings.quietWaitSeconds} s for quiet)`)
  while (load > NOISY_CPU_PERCENT && Date.now() < until) load = await foreignLoad(1000)
}

/** One load run with RSS sampling of the system's process tree. */
async function measure(
  ctx: PhaseContext,
  tool: LoadTool,
  scenario: ScenarioName,
  system: RunningSystem,
  durationSeconds: number,
): Promise<{ result?: LoadResult; error?: string; rssMaxBytes: number | null; cpuPerRequestUs?: CpuTicks | null; foreignCpuPercent: number; mirror?: MirrorCounts }> {
  const sc = SCENARIOS[scenario]
  const url = `${system.url}${sc.path}`
  // A mirror row: what became of its shadows during this run, from its /metrics.
  const shadows =
    mirrorPercentOf(system.name) === undefined || system.adminUrl === undefined
      ? undefined
      : await countShadows(system.adminUrl, (message) => log(`  ${system.name}: ${message}`))
  const mirrorAfter = async (): Promise<{ mirror?: MirrorCounts }> => {
    const counts = await shadows?.finish()
    return counts === undefined ? {} : { mirror: counts }
  }
  const sampler = system.process === null ? null : new RssSampler(system.process.pid).start()
  const root = system.process?.pid
  const proxyCpuBefore = root === undefined ? undefined : treeCpuTicks(root)
  const cpuBefore = cpuSnapshot(registry)
  const started = Date.now()
  const foreign = (): number => foreignCpuPercent(cpuBefore, cpuSnapshot(registry), (Date.now() - started) / 1000)
  try {
    const result =
      tool === 'wrk'
        ? await runWrk(registry, ctx.tools, BENCH_DIR, {
            url,
            connections: sc.connections,
            durationSeconds,
            timeoutSeconds: sc.timeoutSeconds,
            ...(system.host === undefined ? {} : { host: system.host }),
            ...(sc.bodyBytes === undefined ? {} : { bodyBytes: sc.bodyBytes }),
          })
        : await runAutocannon(registry, ctx.tools.taskset, BENCH_DIR, {
            url,
            connections: sc.connections,
            durationSeconds,
            ...(system.host === undefined ? {} : { host: system.host }),
          })
    const cpuPerRequestUs = root === undefined || proxyCpuBefore === undefined ? null : cpuMicrosPerRequest(proxyCpuBefore, treeCpuTicks(root), result.requests)
    const measured = { result, rssMaxBytes: sampler?.stop() ?? null, cpuPerRequestUs, foreignCpuPercent: foreign() }
    return { ...measured, ...(await mirrorAfter()) }
  } catch (err) {
    const measured = { error: (err as Error).message, rssMaxBytes: sampler?.stop() ?? null, foreignCpuPercent: foreign() }
    return { ...measured, ...(await mirrorAfter()) }
  }
}

/**
 * One idle run (idle10k): the idle clients hold the scenario's connections open to the proxy and read
 * its RSS once they are all open; meanwhile the proxy's tree is sampled for its peak, as in `measure`.
 */
async function measureIdle(ctx: PhaseContext, scenario: ScenarioName, system: RunningSystem): Promise<Omit<RunRecord, 'tool' | 'scenario' | 'system' | 'round'>> {
  if (system.process === null) throw new Error(`${system.name}: no proxy process to measure`)
  const sampler = new RssSampler(system.process.pid).start()
  const cpuBefore = cpuSnapshot(registry)
  const started = Date.now()
  const foreign = (): number => foreignCpuPercent(cpuBefore, cpuSnapshot(registry), (Date.now() - started) / 1000)
  try {
    const idle = await runIdle(registry, ctx.tools.taskset, BENCH_DIR, SCENARIOS[scenario], {
      url: system.url,
      proxyPid: system.process.pid,
      ...(system.host === undefined ? {} : { host: system.host }),
    })
    return { idle, rssMaxBytes: sampler.stop(), foreignCpuPercent: foreign() }
  } catch (err) {
    return { error: (err as Error).message, rssMaxBytes: sampler.stop(), foreignCpuPercent: foreign() }
  }
}

function fmtIdle(m: Pick<RunRecord, 'idle' | 'error'>): string {
  const r = m.idle
  if (r === undefined) return `ERROR ${m.error ?? ''}`
  const failed = r.failed === 0 ? '' : ` (${JSON.stringify(r.failureDetail)})`
  return (
    `${r.answered}/${r.connections} answered in ${r.openSeconds.toFixed(1)} s, ${r.failed} failed${failed}, ` +
    `${r.openAtReading} open after ${r.holdSeconds} s idle, RSS then ${(r.heldRssBytes / 2 ** 20).toFixed(0)} MB`
  )
}

/**
 * The idle scenario needs an open-file limit above its connections in the clients and in each proxy:
 * raised if it can be, else the scenario is skipped, said loudly here and in the report.
 */
async function idleFits(ctx: PhaseContext, scenario: ScenarioName): Promise<boolean> {
  const need = idleFdNeed(SCENARIOS[scenario])
  const fit = await fitFdLimit(registry, need, 2 * need)
  if (fit.skip === undefined) {
    log(`  ${fit.note}`)
    return true
  }
  ctx.results.skipped.push({ scenario, reason: fit.skip })
  log(`\n  !!! ${scenario} SKIPPED: ${fit.skip}\n`)
  return false
}

/** One scenario (or the autocannon phase): start the systems, warm them, alternate them for N rounds. */
async function runPhase(ctx: PhaseContext, tool: LoadTool, scenario: ScenarioName, rounds: number): Promise<void> {
  const { settings } = ctx
  const phase = tool === 'wrk' ? scenario : `autocannon-${scenario}`
  const idle = isIdle(scenario)
  log(`\n== ${phase}: ${SCENARIOS[scenario].title}`)
  if (idle && !(await idleFits(ctx, scenario))) return
  let running = await startAll(ctx, phase, scenario)
  try {
    // The idle scenario measures connections, not throughput: no warm-up.
    if (settings.warmupSeconds > 0 && !idle) {
      for (const system of running) await measure(ctx, 'wrk', scenario, system, settings.warmupSeconds)
    }
    for (let round = 1; round <= rounds; round++) {
      for (const system of running) {
        await pause(settings)
        const m = idle ? await measureIdle(ctx, scenario, system) : await measure(ctx, tool, scenario, system, settings.durationSeconds)
        const record: RunRecord = { tool, scenario, system: system.name, round, ...m }
        ctx.results.runs.push(record)
        const rss = m.rssMaxBytes === null ? '' : `, ${idle ? 'peak ' : ''}RSS ${(m.rssMaxBytes / 2 ** 20).toFixed(0)} MB`
        const cpu = 'cpuPerRequestUs' in m && m.cpuPerRequestUs != null ? `, CPU ${m.cpuPerRequestUs.user.toFixed(1)} + ${m.cpuPerRequestUs.system.toFixed(1)} µs/req` : ''
        const noisy = m.foreignCpuPercent > NOISY_CPU_PERCENT ? ` (others used ${m.foreignCpuPercent.toFixed(0)} % CPU)` : ''
        const shadows = m.mirror === undefined ? '' : `, shadows ${JSON.stringify(m.mirror)}`
        const what = idle ? fmtIdle(m) : m.result === undefined ? `ERROR ${m.error ?? ''}` : fmt(m.result)
        log(`  [${phase} ${round}/${rounds}] ${system.name}: ${what}${rss}${cpu}${shadows}${noisy}`)
      }
      // A proxy that died is reported once and not loaded again in this phase.
      const died = running.filter((s) => s.process?.hasExited() === true)
      for (const s of died) {
        const message = `${SYSTEM_LABELS[s.name]} exited during ${phase}, round ${round}\n${logTail(s.process?.logFile)}`
        ctx.results.failures.push({ phase, system: s.name, message })
        log(`  ${s.name}: DIED\n${message.replace(/^/gm, '    ')}`)
      }
      running = running.filter((s) => !died.includes(s))
    }
  } finally {
    await stopAll(running)
  }
}

/**
 * latest.md/json; quick.md/json for a BENCH_QUICK smoke test, mirror-run.md/json for
 * BENCH_SYSTEMS=mirror and services-run.md/json for BENCH_SYSTEMS=services, so that none replaces
 * the full table; or BENCH_OUT's name.
 */
function resultsBase(settings: Settings): string {
  return join(RESULTS_DIR, settings.out)
}

function writeResults(r: BenchResults): void {
  mkdirSync(RESULTS_DIR, { recursive: true })
  writeFileSync(`${resultsBase(r.settings)}.json`, `${JSON.stringify(r, null, 2)}\n`)
  writeFileSync(`${resultsBase(r.settings)}.md`, renderMarkdown(r))
}

/** Builds dist/ for the switchyard rows; with BENCH_BUILD=0 only says which dist/ they will run (undefined: built now, or not needed). */
function prepareDist(settings: Settings): string | undefined {
  if (!settings.systems.some((s) => s.startsWith('switchyard'))) return undefined
  if (settings.build) {
    log('building switchyard (npm run build) so it runs as production does, from dist/')
    execFileSync('npm', ['run', 'build', '--silent'], { cwd: REPO_ROOT, stdio: 'inherit' })
    return undefined
  }
  // BENCH_BUILD=0: someone else's build (or test run) owns dist/; run it as it is.
  const cli = join(REPO_ROOT, 'dist', 'cli.js')
  if (!existsSync(cli)) {
    log('bench: BENCH_BUILD=0 but dist/cli.js does not exist: run `npm run build` first')
    process.exit(1)
  }
  const build = `dist/ not rebuilt (BENCH_BUILD=0): dist/cli.js built ${statSync(cli).mtime.toISOString()}`
  log(`switchyard: ${build}`)
  return build
}

async function main(): Promise<void> {
  let settings: Settings
  try {
    settings = readSettings()
  } catch (err) {
    if (err instanceof SettingsError) {
      log(`bench: ${err.message}`)
      process.exit(1)
    }
    throw err
  }
  const tools = preflight()
  const build = prepareDist(settings)
  const machine = { ...(await machineFacts(tools)), ...(build === undefined ? {} : { switchyardBuild: build }) }
  // Keep the harness itself off CPU 0, which belongs to the proxy under test.
  await runQuiet(registry, tools.taskset, ['-a', '-p', '-c', '1', String(process.pid)])
  tmpRoot = mkdtempSync(join(tmpdir(), 'switchyard-bench-'))
  results = {
    date: new Date().toISOString(),
    machine,
    settings,
    runs: [],
    failures: [],
    splitChecks: {},
    streamChecks: {},
    mirrorChecks: {},
    skipped: [],
    finished: false,
  }
  // An idle run takes its hold plus a few seconds of opening and closing, whatever BENCH_DURATION says.
  const perRun = (scenario: ScenarioName): number => {
    const idle = SCENARIOS[scenario].idle
    return (idle === undefined ? settings.durationSeconds : idle.holdSeconds + 5) + settings.pauseMs / 1000
  }
  const total = settings.scenarios.reduce((sum, sc) => sum + perRun(sc), 0) * settings.systems.length * settings.rounds
  log(
    `switchyard bench: ${settings.rounds} round(s) × ${settings.durationSeconds} s, scenarios ${settings.scenarios.join(',')}, ` +
      `systems ${settings.systems.join(',')} (about ${Math.ceil(total / 60)} min of load plus warm-up). Temp folder ${tmpRoot}`,
  )

  const [bluePort, greenPort] = (await freePorts(2)) as [number, number]
  const upstreams = await startUpstreams(registry, tools, join(tmpRoot, 'upstream'), { blue: bluePort, green: greenPort })
  log(`upstreams: blue ${upstreams.blue}, green ${upstreams.green} (nginx, CPU 1)`)
  const ctx: PhaseContext = { settings, tools, upstreams, results }

  for (const scenario of settings.scenarios) await runPhase(ctx, 'wrk', scenario, settings.rounds)
  if (settings.scenarios.includes('c50') && settings.autocannonRounds > 0) {
    await runPhase(ctx, 'autocannon', 'c50', settings.autocannonRounds)
  }

  const headAtEnd = (await runQuiet(registry, 'git', ['-C', REPO_ROOT, 'rev-parse', '--short', 'HEAD'])).split('\n')[0] ?? ''
  results = { ...results, finished: true, ...(machine.gitCommit.startsWith(headAtEnd) ? {} : { gitCommitAtEnd: headAtEnd }) }
  writeResults(results)
  await registry.stopAll()
  process.stdout.write('\n')
  for (const scenario of settings.scenarios) {
    process.stdout.write(`## ${scenario} — ${SCENARIOS[scenario].title}\n\n${scenarioTable(results, 'wrk', scenario)}\n\n`)
  }
  const targets = targetsTable(results)
  if (targets !== '') process.stdout.write(`## Targets of #16\n\n${targets}\n\n`)
  if (results.runs.some((r) => r.tool === 'autocannon')) {
    process.stdout.write(`## autocannon — c50\n\n${scenarioTable(results, 'autocannon', 'c50')}\n\n`)
  }
  for (const f of results.failures) process.stdout.write(`FAILED ${f.system} (${f.phase}): ${f.message.split('\n')[0] ?? ''}\n`)
  for (const k of results.skipped) process.stdout.write(`SKIPPED ${k.scenario}: ${k.reason}\n`)
  const base = relative(REPO_ROOT, resultsBase(settings))
  process.stdout.write(`Written: ${base}.md and ${base}.json\n`)
  if (process.env.BENCH_KEEP_TMP !== '1') rmSync(tmpRoot, { recursive: true, force: true })
}

let stopping = false
/** Ends every process this bench started (by PID), keeps partial results, exits. */
async function shutdown(code: number, reason: string): Promise<never> {
  if (!stopping) {
    stopping = true
    log(`\nbench: ${reason}; stopping the processes it started`)
    await registry.stopAll()
    if (results !== undefined && !results.finished && results.runs.length > 0) {
      writeResults(results)
      log(`bench: partial results written to ${relative(REPO_ROOT, resultsBase(results.settings))}.md`)
    }
    if (tmpRoot !== undefined) log(`bench: logs kept in ${tmpRoot}`)
  }
  process.exit(code)
}

process.on('SIGINT', () => void shutdown(130, 'interrupted'))
process.on('SIGTERM', () => void shutdown(143, 'terminated'))
process.on('exit', () => registry.killAllSync())

main().then(
  () => process.exit(0),
  (err: unknown) => shutdown(1, `failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`),
)
