// The reliability soak (issue #5): zero-loss switching under load with workers 1 and 2, then a
// kill -9 loop against the state file. Everything runs on 127.0.0.1 and stops by itself.
//
//   npm run soak                                   # ~60 s in all
//   SOAK_SECONDS=120 SOAK_CLIENTS=400 npm run soak # longer, heavier
//
// Env: SOAK_SECONDS (whole run, default 60), SOAK_CLIENTS (default 200), SOAK_WRITES (split
// writes in the kill loop, default 500), SOAK_WORKERS (default "1,2").
import { mkdir, writeFile } from 'node:fs/promises'
import { runDurability, type DurabilityResult } from './soak-durability.js'
import { runSwitchSoak, type SwitchResult } from './soak-switch.js'
import { envNumber } from './settings.js'

const totalSeconds = envNumber('SOAK_SECONDS', 60)
const clients = envNumber('SOAK_CLIENTS', 200)
const writes = envNumber('SOAK_WRITES', 500)
const workerCounts = (process.env.SOAK_WORKERS ?? '1,2').split(',').map((w) => Number(w.trim()))
// About 60 % of the time under load (split evenly between the worker counts), the rest for the kill loop.
const loadMs = Math.round((totalSeconds * 1000 * 0.6) / workerCounts.length)
const durabilityMs = Math.round(totalSeconds * 1000 * 0.4)

const fmt = (ms: number) => `${ms.toFixed(1)} ms`

function switchTable(results: readonly SwitchResult[]): string {
  const rows = results.map((r) =>
    [
      `workers: ${r.workers}`,
      `${r.clients} clients × ${(r.heldMs / 1000).toFixed(1)} s`,
      r.flips.flips,
      `${r.flips.reverts} / ${r.revertsCounted}`,
      r.load.sent,
      r.load.completed,
      r.load.failed,
      r.load.mismatched,
      r.load.refusedAfterStop,
      `${r.load.byKind.get} / ${r.load.byKind.post} / ${r.load.byKind.stream}`,
      `${r.load.byColor.blue} / ${r.load.byColor.green}`,
      fmt(r.p50Ms),
      fmt(r.p99Ms),
      r.exitCode,
    ].join(' | '),
  )
  return [
    '| run | load held | flips | reverts tripped / counted | sent | completed | failed | mismatched | refused after SIGTERM | get / post / stream | blue / green | p50 | p99 | SIGTERM under load: exit code |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | ---: | ---: | ---: |',
    ...rows.map((r) => `| ${r} |`),
  ].join('\n')
}

function durabilityTable(d: DurabilityResult): string {
  return [
    '| kills (-9) | split writes sent | acknowledged | violations | leftover temp files | time |',
    '| ---: | ---: | ---: | ---: | ---: | ---: |',
    `| ${d.kills} | ${d.writesSent} | ${d.writesAcked} | ${d.violations.length} | ${d.leftoverTemps} | ${(d.elapsedMs / 1000).toFixed(1)} s |`,
  ].join('\n')
}

async function main(): Promise<void> {
  const results: SwitchResult[] = []
  for (const workers of workerCounts) {
    process.stdout.write(`zero-loss switching, workers: ${workers}, ${clients} clients, ${(loadMs / 1000).toFixed(0)} s ...\n`)
    const r = await runSwitchSoak({ workers, clients, durationMs: loadMs, revertEveryMs: 4_000, verbose: true })
    results.push(r)
    for (const p of [...r.load.problems, ...r.flips.flipErrors]) process.stdout.write(`  ${p}\n`)
  }
  process.stdout.write(`kill -9 loop, ${writes} split writes, at most ${(durabilityMs / 1000).toFixed(0)} s ...\n`)
  const durability = await runDurability({ writes, maxMs: durabilityMs })
  for (const v of durability.violations) process.stdout.write(`  ${v}\n`)

  const report = [
    '# switchyard soak',
    '',
    `${new Date().toISOString()} · Node ${process.version} · ${clients} keep-alive clients (½ GET, ¼ POST 0–256 KB, ¼ chunked`,
    'stream of 5 chunks over ~100 ms), a new sticky key per request, every answer compared byte for byte with what the',
    'colour named in `x-switchyard-color` sends; the split flips 0 → 50 → 100 → 50 every 50 ms over the admin API (on',
    'the clock, at most 4 PUTs unanswered); every 4 s green is held at 50 and made to fail (503s forced to green) until',
    'auto-revert (window 2 s, minRequests 200, maxErrorRate 5 %) latches, and the next PUT clears it. "reverts tripped"',
    'are those episodes, "counted" is `switchyard_reverts_total`: it can be higher, since 503s the injector still sends',
    'between the revert and its noticing it land in the fresh window and rightly trip the next split again. At the end switchyard gets SIGTERM while the clients',
    'keep sending: requests in flight must complete, new connections are refused ("refused after SIGTERM", expected).',
    '',
    '## Zero-loss switching',
    '',
    switchTable(results),
    '',
    '## Durability (kill -9 during split writes)',
    '',
    durabilityTable(durability),
    '',
  ].join('\n')
  await mkdir(new URL('./results/', import.meta.url), { recursive: true })
  await writeFile(new URL('./results/soak.md', import.meta.url), report)
  process.stdout.write(`\n${report}\nwritten to bench/results/soak.md\n`)

  const lost = results.some((r) => r.load.failed > 0 || r.load.mismatched > 0 || r.flips.injectedMismatched > 0 || r.exitCode !== 0)
  if (lost || durability.violations.length > 0) {
    process.stdout.write('FAILED: requests lost or mismatched, or durability violations\n')
    process.exitCode = 1
  }
}

await main()
