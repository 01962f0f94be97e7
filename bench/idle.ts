/**
 * The idle scenario (idle10k): bench/idle-clients.ts, pinned to CPU 1, holds N keep-alive connections
 * open to a proxy and reads the proxy's RSS; and the open-file limit that needs.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { findExecutable, runQuiet, within, type ProcessRegistry } from './procs.js'
import type { Scenario } from './settings.js'

/** What one idle run measured. */
export interface IdleResult {
  readonly connections: number
  /** Connections whose one GET was answered 200 in full (then held open). */
  readonly answered: number
  /** Connections that failed to open or to be answered (by reason in failureDetail), or were never tried before the deadline. */
  readonly failed: number
  readonly failureDetail: Readonly<Record<string, number>>
  /** Answered connections still open when the RSS was read; the rest the proxy closed while they were idle. */
  readonly openAtReading: number
  readonly closedByProxy: number
  /** Seconds to open and get an answer on all of them. */
  readonly openSeconds: number
  readonly holdSeconds: number
  /** Summed VmRSS of the proxy's process tree after the hold, all connections (openAtReading) open. */
  readonly heldRssBytes: number
}

interface ClientJson extends IdleResult {
  readonly tried: number
}

/** Runs the idle clients against `url` (127.0.0.1 only); killed after the scenario's budget. */
export async function runIdle(
  registry: ProcessRegistry,
  taskset: string,
  benchDir: string,
  scenario: Scenario,
  run: { url: string; proxyPid: number; host?: string },
): Promise<IdleResult> {
  const shape = scenario.idle
  if (shape === undefined) throw new Error(`${scenario.name} is no idle scenario`)
  if (new URL(run.url).hostname !== '127.0.0.1') throw new Error(`refusing to load ${run.url}: the bench only targets 127.0.0.1`)
  // Opening gets what the budget leaves after the hold and the closing.
  const openDeadline = Math.max(5, shape.budgetSeconds - shape.holdSeconds - 15)
  const args = ['-c', '1', process.execPath, '--import', 'tsx', join(benchDir, 'idle-clients.ts'), `${run.url}${scenario.path}`]
  args.push(String(scenario.connections), String(shape.concurrency), String(shape.holdSeconds), String(scenario.timeoutSeconds))
  args.push(String(openDeadline), String(run.proxyPid))
  if (run.host !== undefined) args.push(run.host)
  const child = registry.spawn('idle clients', taskset, args, { capture: true })
  if ((await within(child.exited, shape.budgetSeconds * 1000)) === 'timeout') {
    await registry.stop(child)
    throw new Error(`the idle clients did not finish within ${shape.budgetSeconds} s`)
  }
  const exit = await child.exited
  const { stdout, stderr } = child.output()
  const line = stdout.split('\n').find((l) => l.startsWith('BENCH_JSON '))
  if (exit.code !== 0 || line === undefined) {
    throw new Error(`the idle clients exited with ${exit.code ?? exit.signal ?? '?'}: ${stderr.trim().slice(-1000)}`)
  }
  const { tried, ...result } = JSON.parse(line.slice('BENCH_JSON '.length)) as ClientJson
  // Connections never tried before the opening deadline count as failed too.
  const untried = result.connections - tried
  return untried === 0
    ? result
    : { ...result, failed: result.failed + untried, failureDetail: { ...result.failureDetail, 'not tried before the deadline': untried } }
}

/** The open-file limits of this process, from /proc/self/limits. */
function fdLimits(): { soft: number; hard: number } {
  const line = readFileSync('/proc/self/limits', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max open files'))
  const [soft, hard] = (line ?? '').trim().split(/\s+/).slice(3, 5)
  const num = (v: string | undefined): number => (v === 'unlimited' ? Number.POSITIVE_INFINITY : Number(v))
  return { soft: num(soft), hard: num(hard) }
}

/** The fds one process needs for the idle scenario: its connections plus upstream pools, listeners, logs. */
export function idleFdNeed(scenario: Scenario): number {
  return scenario.connections + 1000
}

/**
 * Makes the bench's open-file limit (inherited by every process it starts from now on) fit the
 * idle scenario: `need` for each process, and `want` = what HAProxy asks for (2 fds per connection)
 * when that can be had. Raises it with prlimit when it is lower (above the hard limit only as
 * root). Returns the reason it cannot, or undefined when it fits.
 */
export async function fitFdLimit(registry: ProcessRegistry, need: number, want: number): Promise<{ note: string; skip?: string }> {
  const before = fdLimits()
  if (before.soft >= want) return { note: `open-file limit ${before.soft}` }
  const prlimit = findExecutable('prlimit')
  if (prlimit !== undefined) {
    const set = async (soft: number, hard: number): Promise<void> => {
      await runQuiet(registry, prlimit, ['--pid', String(process.pid), `--nofile=${soft}:${hard}`])
    }
    // Above the hard limit: works as root (CAP_SYS_RESOURCE), fails quietly otherwise.
    await set(want, Math.max(want, before.hard))
    if (fdLimits().soft < want && before.hard > before.soft) await set(before.hard, before.hard)
  }
  const after = fdLimits()
  const now = `open-file limit ${after.soft} (soft) / ${after.hard} (hard), was ${before.soft} / ${before.hard}`
  if (after.soft >= need) return { note: now }
  const how = prlimit === undefined ? 'prlimit (util-linux) is missing, so the bench cannot raise it' : 'the bench could not raise it (above the hard limit that takes root with CAP_SYS_RESOURCE)'
  return { note: now, skip: `${now}: below the ${need} fds ${need - 1000} idle connections need; ${how}. Raise it (ulimit -Hn / ulimit -n, or LimitNOFILE) and run again` }
}
