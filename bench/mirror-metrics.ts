/**
 * What became of the shadows during a run: `switchyard_mirror_requests_total{result}` read from
 * the admin API's /metrics before and after, and the difference kept with the run.
 */
import { setTimeout as sleep } from 'node:timers/promises'

/** Counts by `result` (compared, dropped, too_large, method, no_target, cancelled, timeout). */
export type MirrorCounts = Readonly<Record<string, number>>

/** The results the report names in a column of their own; the rest are summed as "other". */
export const MIRROR_SHOWN = ['compared', 'dropped'] as const

/** After the load, shadows still in flight get this long to end before the second reading. */
const SETTLE_MS = 300

const SAMPLE = /^switchyard_mirror_requests_total\{([^}]*)\}\s+(\S+)/
const PERCENT = /^switchyard_mirror_percent(?:\{[^}]*\})?\s+(\S+)/

/** The mirror lines of one /metrics text. */
export function parseMirrorMetrics(text: string): { counts: MirrorCounts; percent: number | undefined } {
  const counts: Record<string, number> = {}
  let percent: number | undefined
  for (const line of text.split('\n')) {
    const sample = SAMPLE.exec(line)
    if (sample !== null) {
      const result = /(?:^|,)result="([^"]*)"/.exec(sample[1] ?? '')?.[1]
      if (result !== undefined) counts[result] = (counts[result] ?? 0) + Number(sample[2])
      continue
    }
    const p = PERCENT.exec(line)
    if (p !== null) percent = Number(p[1])
  }
  return { counts, percent }
}

/** Reads the mirror metrics of a switchyard through its admin API (127.0.0.1 only, 2 s at most). */
export async function readMirrorMetrics(adminUrl: string): Promise<{ counts: MirrorCounts; percent: number | undefined }> {
  if (new URL(adminUrl).hostname !== '127.0.0.1') throw new Error(`refusing to read ${adminUrl}: the bench only talks to 127.0.0.1`)
  const res = await fetch(`${adminUrl}/metrics`, { signal: AbortSignal.timeout(2000) })
  if (!res.ok) throw new Error(`GET ${adminUrl}/metrics answered ${res.status}`)
  return parseMirrorMetrics(await res.text())
}

/** `after - before`, per result (results that did not move are left out). */
export function mirrorDelta(before: MirrorCounts, after: MirrorCounts): MirrorCounts {
  const delta: Record<string, number> = {}
  for (const [result, n] of Object.entries(after)) {
    const d = n - (before[result] ?? 0)
    if (d !== 0) delta[result] = d
  }
  return delta
}

/**
 * Reads the counts now; `finish()` waits for shadows in flight to end and returns what moved
 * since. Never throws: an unreadable /metrics is reported to `warn` and gives undefined.
 */
export async function countShadows(adminUrl: string, warn: (message: string) => void): Promise<{ finish(): Promise<MirrorCounts | undefined> }> {
  const unreadable = (err: unknown): undefined => {
    warn(`mirror metrics unreadable: ${(err as Error).message}`)
    return undefined
  }
  const before = await readMirrorMetrics(adminUrl).then((m) => m.counts, unreadable)
  return {
    async finish() {
      if (before === undefined) return undefined
      await sleep(SETTLE_MS)
      return readMirrorMetrics(adminUrl).then((m) => mirrorDelta(before, m.counts), unreadable)
    },
  }
}

/** Sums counts over runs. */
export function sumCounts(all: readonly MirrorCounts[]): MirrorCounts {
  const sum: Record<string, number> = {}
  for (const counts of all) for (const [result, n] of Object.entries(counts)) sum[result] = (sum[result] ?? 0) + n
  return sum
}
