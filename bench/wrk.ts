/** One wrk run, pinned to CPU 1, bounded in time, against 127.0.0.1 only. */
import { join } from 'node:path'
import { within, type ProcessRegistry } from './procs.js'

/** What one load run measured (wrk or autocannon). Latencies in milliseconds. */
export interface LoadResult {
  readonly requests: number
  readonly durationSeconds: number
  readonly rps: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly maxMs: number
  /** Non-2xx answers plus socket errors (connect, read, write, timeout). */
  readonly errors: number
  readonly errorDetail: Readonly<Record<string, number>>
  readonly bytes: number
}

interface WrkJson {
  requests: number
  durationUs: number
  bytes: number
  errors: { connect: number; read: number; write: number; status: number; timeout: number }
  latencyUs: { min: number; mean: number; max: number; stdev: number; p50: number; p90: number; p99: number; p999: number }
}

export interface WrkRun {
  readonly url: string
  readonly connections: number
  readonly durationSeconds: number
  readonly timeoutSeconds: number
  /** Sent as the Host header instead of the URL's (user.lua's requests keep it). */
  readonly host?: string
  /** Every request a POST with a body of this many bytes. */
  readonly bodyBytes?: number
}

/** Parses the BENCH_JSON line that bench/wrk/user.lua prints in done(). */
export function parseWrkOutput(stdout: string): LoadResult {
  const line = stdout.split('\n').find((l) => l.startsWith('BENCH_JSON '))
  if (line === undefined) throw new Error(`wrk printed no BENCH_JSON line:\n${stdout.slice(-1000)}`)
  const j = JSON.parse(line.slice('BENCH_JSON '.length)) as WrkJson
  const durationSeconds = j.durationUs / 1e6
  // wrk counts status >= 400 as "status" errors; the upstreams never answer 1xx/3xx.
  const { connect, read, write, status, timeout } = j.errors
  return {
    requests: j.requests,
    durationSeconds,
    rps: durationSeconds > 0 ? j.requests / durationSeconds : 0,
    p50Ms: j.latencyUs.p50 / 1000,
    p99Ms: j.latencyUs.p99 / 1000,
    maxMs: j.latencyUs.max / 1000,
    errors: connect + read + write + status + timeout,
    errorDetail: { connect, read, write, non2xx: status, timeout },
    bytes: j.bytes,
  }
}

/** Runs wrk with one thread on CPU 1; kills it if it overruns its duration by 30 s. */
export async function runWrk(
  registry: ProcessRegistry,
  tools: { wrk: string; taskset: string },
  benchDir: string,
  run: WrkRun,
): Promise<LoadResult> {
  const url = new URL(run.url)
  if (url.hostname !== '127.0.0.1') throw new Error(`refusing to load ${run.url}: the bench only targets 127.0.0.1`)
  const args = ['-c', '1', tools.wrk, '-t', '1', '-c', String(run.connections), '-d', `${run.durationSeconds}s`]
  if (run.host !== undefined) args.push('-H', `Host: ${run.host}`)
  args.push('--timeout', `${run.timeoutSeconds}s`, '-s', join(benchDir, 'wrk', 'user.lua'), run.url)
  if (run.bodyBytes !== undefined) args.push('--', String(run.bodyBytes))
  const wrk = registry.spawn('wrk', tools.taskset, args, { capture: true })
  if ((await within(wrk.exited, (run.durationSeconds + 30) * 1000)) === 'timeout') {
    await registry.stop(wrk)
    throw new Error(`wrk did not finish within ${run.durationSeconds + 30} s`)
  }
  const exit = await wrk.exited
  const { stdout, stderr } = wrk.output()
  if (exit.code !== 0) throw new Error(`wrk exited with ${exit.code ?? exit.signal ?? '?'}: ${stderr.trim() || stdout.trim()}`)
  return parseWrkOutput(stdout)
}
