import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startCli, writeConfig } from '../test/helpers/cli.js'
import { Admin, quantile, startFlips, startLoad, type FlipCounts, type LoadCounts } from './soak-load.js'
import { startSoakUpstream } from './soak-upstream.js'

export interface SwitchResult {
  readonly workers: number
  readonly clients: number
  readonly heldMs: number
  readonly load: LoadCounts
  readonly flips: FlipCounts
  /** switchyard_reverts_total at the end, as switchyard counted them. */
  readonly revertsCounted: number
  readonly p50Ms: number
  readonly p99Ms: number
  /** Exit code after SIGTERM at the end. */
  readonly exitCode: number | null
}

export interface SwitchOptions {
  readonly workers: number
  readonly clients: number
  readonly durationMs: number
  readonly flipEveryMs?: number
  readonly revertEveryMs?: number
  readonly maxBody?: number
  /** Echo switchyard's stderr (and warn/error log lines) when the run ends. */
  readonly verbose?: boolean
}

/**
 * One zero-loss run: two upstreams, switchyard as its own process (the CLI), `clients`
 * keep-alive clients checking every answer byte for byte while the split flips every 50 ms and
 * auto-revert is tripped and cleared now and then. Everything stops by itself.
 */
export async function runSwitchSoak(options: SwitchOptions): Promise<SwitchResult> {
  const [blue, green] = await Promise.all([startSoakUpstream('blue'), startSoakUpstream('green')])
  const dir = await mkdtemp(join(tmpdir(), 'sy-soak-'))
  let proc: Awaited<ReturnType<typeof startCli>> | undefined
  try {
    const file = await writeConfig(
      {
        proxy: { host: '127.0.0.1', port: 0 },
        admin: { host: '127.0.0.1', port: 0 },
        upstreams: { blue: { targets: [blue.url] }, green: { targets: [green.url] } },
        split: { green: 50 },
        sticky: { keys: ['header:x-user-id'], cookie: '' },
        // minRequests well above the few failing requests still in flight when a revert fires, so
        // those alone cannot trip it again once the next split is set.
        autoRevert: { enabled: true, window: '2s', minRequests: 200, maxErrorRate: 0.05 },
        state: { file: join(dir, 'state.json') },
        // Tripping auto-revert takes a run of green 503s, which passive outlier detection would
        // answer by ejecting green's only target, and the health gate would then refuse splits.
        outlierDetection: { consecutiveErrors: 0 },
        drain: { deadline: '10s' },
        log: { level: 'info', access: false },
        workers: options.workers,
      },
      dir,
    )
    proc = await startCli(file)
    const admin = new Admin(proc.adminUrl)
    const started = Date.now()
    const load = startLoad({
      proxyUrl: proc.proxyUrl,
      clients: options.clients,
      durationMs: options.durationMs,
      ...(options.maxBody !== undefined ? { maxBody: options.maxBody } : {}),
    })
    const flipper = startFlips({
      admin,
      proxyUrl: proc.proxyUrl,
      durationMs: options.durationMs,
      everyMs: options.flipEveryMs ?? 50,
      revertEveryMs: options.revertEveryMs ?? 0,
    })
    await new Promise((resolve) => setTimeout(resolve, options.durationMs))
    const flips = await flipper.stop()
    const revertsCounted = await admin.metric('switchyard_reverts_total')
    await admin.close()
    // Graceful stop under load: SIGTERM while every client is still sending. Requests in
    // flight must finish; new connections are refused (counted apart); nothing else may fail.
    load.stopping()
    const heldMs = Date.now() - started
    proc.kill('SIGTERM')
    const exitCode = await Promise.race([proc.exit(), new Promise<number>((r) => setTimeout(() => r(-1), 15_000))])
    const counts = await load.stop()
    if (options.verbose === true) {
      const noisy = proc
        .stdout()
        .split('\n')
        .filter((l) => /"level":(40|50|60)/.test(l) && !l.includes('auto-revert'))
      if (noisy.length > 0) process.stderr.write(`switchyard warnings (workers ${options.workers}):\n${noisy.slice(0, 20).join('\n')}\n`)
      if (proc.stderr() !== '') process.stderr.write(`switchyard stderr:\n${proc.stderr()}\n`)
    }
    return {
      workers: options.workers,
      clients: options.clients,
      heldMs,
      load: counts,
      flips,
      revertsCounted,
      p50Ms: quantile(counts.latenciesMs, 0.5),
      p99Ms: quantile(counts.latenciesMs, 0.99),
      exitCode,
    }
  } finally {
    if (proc !== undefined && proc.child.exitCode === null && proc.child.signalCode === null) {
      proc.kill('SIGKILL')
      await proc.exit()
    }
    await Promise.all([blue.close(), green.close()])
    await rm(dir, { recursive: true, force: true })
  }
}
