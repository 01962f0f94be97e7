/** autocannon as a second opinion: run in its own process pinned to CPU 1, like wrk. */
import { join } from 'node:path'
import { within, type ProcessRegistry } from './procs.js'
import type { LoadResult } from './wrk.js'

interface RunnerJson {
  requests: number
  durationSeconds: number
  rpsAverage: number
  p50Ms: number
  p99Ms: number
  maxMs: number
  errors: number
  timeouts: number
  non2xx: number
  bytes: number
}

/** One autocannon run against `url` (127.0.0.1 only). */
export async function runAutocannon(
  registry: ProcessRegistry,
  taskset: string,
  benchDir: string,
  run: { url: string; connections: number; durationSeconds: number; host?: string },
): Promise<LoadResult> {
  const args = ['-c', '1', process.execPath, '--import', 'tsx', join(benchDir, 'autocannon-runner.ts')]
  args.push(run.url, String(run.connections), String(run.durationSeconds))
  if (run.host !== undefined) args.push(run.host)
  const child = registry.spawn('autocannon', taskset, args, { capture: true })
  if ((await within(child.exited, (run.durationSeconds + 30) * 1000)) === 'timeout') {
    await registry.stop(child)
    throw new Error(`autocannon did not finish within ${run.durationSeconds + 30} s`)
  }
  const exit = await child.exited
  const { stdout, stderr } = child.output()
  const line = stdout.split('\n').find((l) => l.startsWith('BENCH_JSON '))
  if (exit.code !== 0 || line === undefined) {
    throw new Error(`autocannon exited with ${exit.code ?? exit.signal ?? '?'}: ${stderr.trim().slice(-1000)}`)
  }
  const j = JSON.parse(line.slice('BENCH_JSON '.length)) as RunnerJson
  // autocannon's "errors" already include its timeouts.
  return {
    requests: j.requests,
    durationSeconds: j.durationSeconds,
    rps: j.rpsAverage,
    p50Ms: j.p50Ms,
    p99Ms: j.p99Ms,
    maxMs: j.maxMs,
    errors: j.errors + j.non2xx,
    errorDetail: { socket: j.errors, timeout: j.timeouts, non2xx: j.non2xx },
    bytes: j.bytes,
  }
}
