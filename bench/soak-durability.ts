import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startCli, writeConfig } from '../test/helpers/cli.js'
import { Admin } from './soak-load.js'
import { startSoakUpstream } from './soak-upstream.js'

export interface DurabilityResult {
  readonly kills: number
  readonly writesSent: number
  readonly writesAcked: number
  readonly violations: string[]
  /** Temp files left next to the state file by killed processes. */
  readonly leftoverTemps: number
  readonly elapsedMs: number
}

export interface DurabilityOptions {
  /** Split writes to send across the whole loop. */
  readonly writes: number
  /** Upper bound of the whole loop; it ends sooner when the writes are sent. */
  readonly maxMs: number
  /** A kill lands this long (random in the range) after the writes of a round begin. */
  readonly killAfterMs?: readonly [number, number]
}

/**
 * kill -9 at random moments while split writes go in, one at a time and rising (0.01 % steps):
 * after each kill the state file must parse and hold the last acknowledged split or a later
 * one (one that was sent but not yet answered), and after the restart GET /v1/split must agree.
 */
export async function runDurability(options: DurabilityOptions): Promise<DurabilityResult> {
  const upstream = await startSoakUpstream('blue')
  const dir = await mkdtemp(join(tmpdir(), 'sy-durable-'))
  const stateFile = join(dir, 'state.json')
  const file = await writeConfig(
    {
      proxy: { host: '127.0.0.1', port: 0 },
      admin: { host: '127.0.0.1', port: 0 },
      upstreams: { blue: { targets: [upstream.url] }, green: { targets: [upstream.url] } },
      split: { green: 0 },
      state: { file: stateFile },
      drain: { deadline: '1s' },
    },
    dir,
  )
  const [killMin, killMax] = options.killAfterMs ?? [10, 200]
  const violations: string[] = []
  const violation = (text: string) => {
    if (violations.length < 50) violations.push(text)
  }
  const started = Date.now()
  let sent = 0
  let acked = 0
  /** Values are in buckets (0.01 %): the n-th write sets green to n buckets. */
  let lastAcked = 0
  let lastSent = 0
  let kills = 0
  /** What the state file held after the last kill, in buckets; the restart must show exactly this. */
  let onDisk: number | undefined
  try {
    while (sent < options.writes && Date.now() - started < options.maxMs) {
      const proc = await startCli(file)
      try {
        const admin = new Admin(proc.adminUrl)
        const after = Math.round((await admin.getSplit()).green * 100)
        if (after < lastAcked) violation(`restart ${kills}: GET /v1/split green ${after / 100} is older than the acknowledged ${lastAcked / 100}`)
        if (after > lastSent) violation(`restart ${kills}: GET /v1/split green ${after / 100} was never sent (last sent ${lastSent / 100})`)
        if (onDisk !== undefined && after !== onDisk) violation(`restart ${kills}: GET /v1/split green ${after / 100} but the file held ${onDisk / 100}`)
        // Resume from what the state holds, so values keep rising.
        lastAcked = Math.max(lastAcked, after)
        lastSent = Math.max(lastSent, after)
        let killed = false
        const timer = setTimeout(
          () => {
            killed = true
            proc.kill('SIGKILL')
          },
          killMin + Math.random() * (killMax - killMin),
        )
        while (!killed && sent < options.writes) {
          const value = lastSent + 1
          lastSent = value
          sent++
          try {
            const answer = await admin.putSplit(value / 100)
            const got = Math.round(answer.green * 100)
            if (got !== value) violation(`PUT ${value / 100} answered green ${got / 100}`)
            acked++
            lastAcked = value
          } catch {
            break
          }
        }
        clearTimeout(timer)
        if (!killed) proc.kill('SIGKILL')
        await proc.exit()
        await admin.close().catch(() => undefined)
        kills++
      } finally {
        proc.kill('SIGKILL')
      }
      // The file a crash leaves must parse and hold the last acknowledged split or a later one.
      let text = ''
      onDisk = undefined
      try {
        text = await readFile(stateFile, 'utf8')
        const data = JSON.parse(text) as { version?: number; split?: { green?: unknown; generation?: unknown } }
        const green = data.split?.green
        if (data.version !== 1 || typeof green !== 'number' || typeof data.split?.generation !== 'number') {
          violation(`kill ${kills}: the state file has the wrong shape: ${text.slice(0, 200)}`)
        } else {
          const buckets = Math.round(green * 100)
          onDisk = buckets
          if (buckets < lastAcked) violation(`kill ${kills}: the state file holds green ${green}, older than the acknowledged ${lastAcked / 100}`)
          if (buckets > lastSent) violation(`kill ${kills}: the state file holds green ${green}, never sent`)
        }
      } catch (err) {
        violation(`kill ${kills}: the state file does not parse (${(err as Error).message}): ${text.slice(0, 200)}`)
      }
    }
    const leftoverTemps = (await readdir(dir)).filter((name) => name.endsWith('.tmp')).length
    return { kills, writesSent: sent, writesAcked: acked, violations, leftoverTemps, elapsedMs: Date.now() - started }
  } finally {
    await upstream.close()
    await rm(dir, { recursive: true, force: true })
  }
}
