// The fleet soak: three switchyard replicas sharing one split through their own Redis, under
// keep-alive load checked byte for byte, while a flipper writes the split through random
// replicas every 100 ms and Redis is stopped for 3 s in the middle. Everything runs on
// 127.0.0.1, is bounded in time and stops by itself; only processes it started are signalled.
//
//   npm run soak:fleet                                  # ~30 s of load (+ a few s to start and stop)
//   SOAK_SECONDS=60 SOAK_CLIENTS=100 npm run soak:fleet # longer, heavier
//
// Env: SOAK_SECONDS (load, default 30, at least 10), SOAK_CLIENTS (keep-alive clients spread over
// the 3 proxies, default 50). Writes bench/results/soak-fleet.md; exit code 1 on any failure.
import { rmSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { Pool, request } from 'undici'
import { startCli, writeConfig } from '../test/helpers/cli.js'
import { findExecutable, freePorts, ProcessRegistry, within, type Tracked } from './procs.js'
import { quantile, startLoad, type LoadCounts } from './soak-load.js'
import { startSoakUpstream, type SoakUpstream } from './soak-upstream.js'
import { envNumber } from './settings.js'

const REPLICAS = 3
const FLIP_EVERY_MS = 100
/** Flips sent but not yet answered, at most (as bench/soak-load.ts's flipper). */
const MAX_OUTSTANDING_WRITES = 4
const POLL_EVERY_MS = 10
/** A replica that has not caught up with an acknowledged write after this long is counted as a timeout. */
const CONVERGE_GIVE_UP_MS = 5_000
const OUTAGE_MS = 3_000
const HEAL_GIVE_UP_MS = 15_000
const CONVERGENCE_LIMIT_MS = 1_000

const seconds = envNumber('SOAK_SECONDS', 30)
const clients = Math.max(REPLICAS, Math.round(envNumber('SOAK_CLIENTS', 50)))
if (seconds < 10) throw new Error('SOAK_SECONDS must be at least 10 (the Redis outage alone takes 3 s plus healing)')
const loadMs = Math.round(seconds * 1000)
const outageAtMs = Math.round(loadMs * 0.4)
const HARD_CAP_MS = loadMs + 30_000

type Cli = Awaited<ReturnType<typeof startCli>>

interface Replica {
  readonly index: number
  readonly proc: Cli
  readonly proxyUrl: string
  readonly adminUrl: string
  readonly pool: Pool
}

interface SplitView {
  readonly blue: number
  readonly green: number
  readonly generation: number
}

interface AuditEventView {
  readonly type: string
  readonly to: { readonly green?: number } | null
}

interface Ack {
  readonly replica: number
  readonly green: number
  readonly generation: number
  readonly ackAt: number
}

const registry = new ProcessRegistry()
const replicas: Replica[] = []
/** The temp folder (configs, Redis's dir and log), removed at the end. */
let tmpDir: string | undefined
const started = performance.now()
const since = () => performance.now() - started
const log = (text: string) => process.stdout.write(`[${(since() / 1000).toFixed(1).padStart(5)} s] ${text}\n`)

/** Last resort: SIGKILL every process this script started (by PID), then leave. */
function emergency(reason: string, code: number): never {
  process.stderr.write(`soak-fleet: ${reason}; killing its own processes\n`)
  for (const r of replicas) r.proc.kill('SIGKILL')
  registry.killAllSync()
  if (tmpDir !== undefined) rmSync(tmpDir, { recursive: true, force: true })
  process.exit(code)
}

const hardCap = setTimeout(() => emergency(`hard cap of ${HARD_CAP_MS / 1000} s reached`, 1), HARD_CAP_MS)
process.once('SIGINT', () => emergency('interrupted', 130))
process.once('SIGTERM', () => emergency('terminated', 143))
process.once('exit', () => {
  for (const r of replicas) r.proc.kill('SIGKILL')
  registry.killAllSync()
})

// ---- Redis: our own, on a free loopback port, in a temp dir, never daemonized ----

/** One PING over a fresh connection: true on +PONG (false while down or loading the AOF). */
function redisPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    let buffer = ''
    let settled = false
    const done = (ok: boolean) => {
      if (settled) return
      settled = true
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(500, () => done(false))
    socket.on('error', () => done(false))
    socket.on('connect', () => socket.write('PING\r\n'))
    socket.on('data', (d: Buffer) => {
      buffer += d.toString('latin1')
      if (buffer.includes('\r\n')) done(buffer.startsWith('+PONG'))
    })
  })
}

async function startRedis(bin: string, port: number, dir: string): Promise<Tracked> {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir]
  const proc = registry.spawn('redis-server', bin, args, { logFile: join(dir, 'redis.log') })
  const deadline = Date.now() + 10_000
  while (Date.now() < deadline) {
    if (proc.hasExited()) throw new Error(`redis-server exited at start; see ${join(dir, 'redis.log')}`)
    if (await redisPing(port)) return proc
    await sleep(20)
  }
  await registry.stop(proc)
  throw new Error(`redis-server did not answer PING on 127.0.0.1:${port} within 10 s`)
}

// ---- Admin calls ----

async function call(r: Replica, method: 'GET' | 'PUT', path: string, body?: unknown): Promise<{ status: number; text: string }> {
  const res = await request(`${r.adminUrl}${path}`, {
    dispatcher: r.pool,
    method,
    headersTimeout: 10_000,
    bodyTimeout: 10_000,
    ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  })
  return { status: res.statusCode, text: await res.body.text() }
}

async function getSplit(r: Replica): Promise<SplitView> {
  const { status, text } = await call(r, 'GET', '/v1/split')
  if (status !== 200) throw new Error(`GET /v1/split on replica ${r.index + 1}: ${status} ${text}`)
  return JSON.parse(text) as SplitView
}

/** `/healthz`'s status field ("ok" / "degraded"), with the HTTP status; "unreachable" on a transport error. */
async function health(r: Replica): Promise<{ http: number; status: string }> {
  try {
    const { status, text } = await call(r, 'GET', '/healthz')
    return { http: status, status: String((JSON.parse(text) as { status?: unknown }).status) }
  } catch {
    return { http: 0, status: 'unreachable' }
  }
}

// ---- Flipper and convergence ----

interface WriteCounts {
  sent: number
  acked: number
  conflicts: number
  unavailable: number
  /** 503s that say the write may have been applied (Redis ran it, its answer was lost): each may have its event. */
  unconfirmed: number
  /** 503s answered while Redis was up and every replica had healed (not expected). */
  unavailableOutsideOutage: number
  other: number
  problems: string[]
  acks: Ack[]
  /** One sample per acknowledged write and other replica: ms from the ack until it served that generation. */
  convergence: Convergence[]
  convergenceTimeouts: number
}

/** Outage window (performance.now() times) as the flipper sees it, to tell expected 503s apart. */
const window503 = { from: Infinity, to: Infinity }
/** From SIGTERM to Redis until the last replica healed (performance.now() times). */
const outageSpan = { from: Infinity, to: Infinity }

/** One replica's convergence on one acknowledged write. */
interface Convergence {
  readonly ms: number
  readonly ackAt: number
}

/**
 * Whether a write's convergence met the Redis outage: acknowledged before the last replica healed,
 * and less than CONVERGENCE_LIMIT_MS before Redis stopped. Replicas learn a write only through
 * Redis (its message, or their reconcile), so such a write may reach them only after the outage:
 * it must be in within CONVERGENCE_LIMIT_MS of the fleet healing instead.
 */
function metOutage(c: Convergence): boolean {
  return c.ackAt < outageSpan.to && c.ackAt + CONVERGENCE_LIMIT_MS > outageSpan.from
}

/** How late a convergence may be: CONVERGENCE_LIMIT_MS, or that long after the fleet healed for one that met the outage. */
function convergenceLimit(c: Convergence): number {
  return metOutage(c) ? outageSpan.to + CONVERGENCE_LIMIT_MS - c.ackAt : CONVERGENCE_LIMIT_MS
}

function startFlipper(durationMs: number): { stop(): Promise<WriteCounts> } {
  const counts: WriteCounts = {
    sent: 0,
    acked: 0,
    conflicts: 0,
    unavailable: 0,
    unconfirmed: 0,
    unavailableOutsideOutage: 0,
    other: 0,
    problems: [],
    acks: [],
    convergence: [],
    convergenceTimeouts: 0,
  }
  const problem = (text: string) => {
    if (counts.problems.length < 10) counts.problems.push(text)
  }
  const pollers = new Set<Promise<void>>()
  let running = true
  const deadline = Date.now() + durationMs

  const converge = async (ack: Ack): Promise<void> => {
    await Promise.all(
      replicas.map(async (r) => {
        if (r.index === ack.replica) return
        for (;;) {
          try {
            if ((await getSplit(r)).generation >= ack.generation) {
              counts.convergence.push({ ms: performance.now() - ack.ackAt, ackAt: ack.ackAt })
              return
            }
          } catch (err) {
            problem(`convergence poll on replica ${r.index + 1}: ${(err as Error).message}`)
          }
          if (performance.now() - ack.ackAt > CONVERGE_GIVE_UP_MS) {
            counts.convergenceTimeouts++
            counts.convergence.push({ ms: performance.now() - ack.ackAt, ackAt: ack.ackAt })
            problem(`replica ${r.index + 1} still below generation ${ack.generation} after ${CONVERGE_GIVE_UP_MS} ms`)
            return
          }
          await sleep(POLL_EVERY_MS)
        }
      }),
    )
  }

  const write = async (): Promise<void> => {
    const replica = Math.floor(Math.random() * replicas.length)
    const green = Math.floor(Math.random() * 101)
    counts.sent++
    try {
      const { status, text } = await call(replicas[replica]!, 'PUT', '/v1/split', { green })
      const at = performance.now()
      if (status === 200) {
        const view = JSON.parse(text) as SplitView
        counts.acked++
        const ack: Ack = { replica, green, generation: view.generation, ackAt: at }
        counts.acks.push(ack)
        if (view.green !== green) problem(`PUT green ${green} on replica ${replica + 1} answered green ${view.green}`)
        const poller: Promise<void> = converge(ack).finally(() => pollers.delete(poller))
        pollers.add(poller)
      } else if (status === 409) {
        counts.conflicts++
      } else if (status === 503) {
        counts.unavailable++
        if (text.includes('may have been applied')) counts.unconfirmed++
        if (at < window503.from || at > window503.to) {
          counts.unavailableOutsideOutage++
          problem(`503 outside the Redis outage from replica ${replica + 1}: ${text.slice(0, 200)}`)
        }
      } else {
        counts.other++
        problem(`PUT green ${green} on replica ${replica + 1}: ${status} ${text.slice(0, 200)}`)
      }
    } catch (err) {
      counts.other++
      problem(`PUT green ${green} on replica ${replica + 1}: ${(err as Error).message}`)
    }
  }

  // On the clock, not after the previous answer, with at most MAX_OUTSTANDING_WRITES unanswered.
  const loop = (async () => {
    const outstanding = new Set<Promise<void>>()
    let tick = Date.now()
    while (running && Date.now() < deadline) {
      if (outstanding.size >= MAX_OUTSTANDING_WRITES) await Promise.race(outstanding)
      const one: Promise<void> = write().finally(() => outstanding.delete(one))
      outstanding.add(one)
      tick += FLIP_EVERY_MS
      await sleep(Math.max(0, tick - Date.now()))
    }
    await Promise.all(outstanding)
  })()

  return {
    async stop() {
      running = false
      await loop
      await Promise.all(pollers)
      return counts
    },
  }
}

// ---- Redis outage ----

interface OutageResult {
  /** Per replica: /healthz said "degraded" at least once while Redis was down. */
  readonly degradedSeen: boolean[]
  /** Per replica: /healthz answered something other than 200 during the outage or the healing. */
  readonly non200: number[]
  /** Per replica: ms from Redis answering PING again until /healthz said "ok" (null: never within HEAL_GIVE_UP_MS). */
  readonly healMs: (number | null)[]
  readonly downMs: number
}

async function redisOutage(redis: { proc: Tracked }, bin: string, port: number, dir: string): Promise<OutageResult> {
  const degradedSeen = replicas.map(() => false)
  const non200 = replicas.map(() => 0)
  const stopAt = performance.now()
  window503.from = stopAt - 500
  outageSpan.from = stopAt
  log(`stopping Redis (SIGTERM to PID ${redis.proc.pid}) for ${OUTAGE_MS / 1000} s`)
  await registry.stop(redis.proc, 5_000)
  while (performance.now() - stopAt < OUTAGE_MS) {
    await Promise.all(
      replicas.map(async (r) => {
        const h = await health(r)
        if (h.status === 'degraded') degradedSeen[r.index] = true
        if (h.http !== 200) non200[r.index]!++
      }),
    )
    await sleep(50)
  }
  const downMs = performance.now() - stopAt
  redis.proc = await startRedis(bin, port, dir)
  const backAt = performance.now()
  log(`Redis is back (PID ${redis.proc.pid}) after ${(downMs / 1000).toFixed(1)} s; waiting for the replicas to heal`)
  const healMs = await Promise.all(
    replicas.map(async (r): Promise<number | null> => {
      while (performance.now() - backAt < HEAL_GIVE_UP_MS) {
        const h = await health(r)
        if (h.http !== 200) non200[r.index]!++
        if (h.status === 'ok') return performance.now() - backAt
        await sleep(POLL_EVERY_MS)
      }
      return null
    }),
  )
  outageSpan.to = performance.now()
  // Writes answered within 1 s of the last replica healing may still see the outage.
  window503.to = outageSpan.to + 1_000
  return { degradedSeen, non200, healMs, downMs }
}

// ---- Final checks ----

interface FinalCheck {
  readonly splits: SplitView[]
  readonly equal: boolean
  readonly lastAckGeneration: number
  readonly splitEvents: number
  readonly eventsTotal: number
  /** Acknowledged writes not found where they belong in the audit log (or beyond the final generation). */
  readonly lost: number
  readonly lostDetail: string[]
}

async function finalCheck(acks: readonly Ack[]): Promise<FinalCheck> {
  const splits = await Promise.all(replicas.map(getSplit))
  const first = splits[0]!
  const equal = splits.every((s) => s.generation === first.generation && s.green === first.green && s.blue === first.blue)
  const lastAckGeneration = acks.reduce((max, a) => Math.max(max, a.generation), 0)
  const { status, text } = await call(replicas[0]!, 'GET', '/v1/events')
  if (status !== 200) throw new Error(`GET /v1/events: ${status} ${text}`)
  const events = JSON.parse(text) as AuditEventView[] // newest first
  const splitEvents = events.filter((e) => e.type === 'split').length
  // Every write adds one generation and one event, so (no other kind of change being made here)
  // the newest event belongs to the final generation G and the event of generation g sits at
  // index G - g: an acknowledged write must be there, with its green.
  const finalGeneration = Math.max(...splits.map((s) => s.generation))
  const lostDetail: string[] = []
  const byGeneration = new Map<number, Ack>()
  for (const ack of acks) {
    const twin = byGeneration.get(ack.generation)
    if (twin !== undefined) {
      lostDetail.push(`two writes acknowledged with generation ${ack.generation} (green ${twin.green} and ${ack.green})`)
      continue
    }
    byGeneration.set(ack.generation, ack)
    if (ack.generation > finalGeneration) {
      lostDetail.push(`write green ${ack.green} acknowledged with generation ${ack.generation} > final ${finalGeneration}`)
      continue
    }
    const index = finalGeneration - ack.generation
    if (index >= events.length) continue // older than the kept log (1,000 events)
    const event = events[index]!
    if (event.type !== 'split' || event.to?.green !== ack.green) {
      lostDetail.push(`generation ${ack.generation}: acknowledged green ${ack.green}, the log has ${event.type} to ${JSON.stringify(event.to)}`)
    }
  }
  return { splits, equal, lastAckGeneration, splitEvents, eventsTotal: events.length, lost: lostDetail.length, lostDetail }
}

// ---- Report ----

function mergeLoads(parts: readonly LoadCounts[]): LoadCounts {
  const total: LoadCounts = {
    sent: 0,
    completed: 0,
    failed: 0,
    mismatched: 0,
    refusedAfterStop: 0,
    byKind: { get: 0, post: 0, stream: 0 },
    byColor: { blue: 0, green: 0 },
    problems: [],
    latenciesMs: [],
  }
  for (const p of parts) {
    total.sent += p.sent
    total.completed += p.completed
    total.failed += p.failed
    total.mismatched += p.mismatched
    total.refusedAfterStop += p.refusedAfterStop
    for (const k of ['get', 'post', 'stream'] as const) total.byKind[k] += p.byKind[k]
    total.byColor.blue += p.byColor.blue
    total.byColor.green += p.byColor.green
    total.problems.push(...p.problems)
    for (const l of p.latenciesMs) total.latenciesMs.push(l)
  }
  return total
}

const ms = (n: number) => `${n.toFixed(1)} ms`

async function main(): Promise<number> {
  const redisBin = findExecutable('redis-server')
  if (redisBin === undefined) {
    process.stderr.write('redis-server not found; install it (apt-get install -y redis-server) and run again\n')
    return 1
  }
  const dir = await mkdtemp(join(tmpdir(), 'sy-soak-fleet-'))
  tmpDir = dir
  const redisDir = join(dir, 'redis')
  await mkdir(redisDir)
  const [port] = await freePorts(1)
  let upstreams: SoakUpstream[] = []
  const redis: { proc: Tracked | undefined } = { proc: undefined }
  try {
    redis.proc = await startRedis(redisBin, port!, redisDir)
    log(`own redis-server on 127.0.0.1:${port} (PID ${redis.proc.pid}, dir ${redisDir})`)
    upstreams = await Promise.all([startSoakUpstream('blue'), startSoakUpstream('green')])
    const [blue, green] = upstreams as [SoakUpstream, SoakUpstream]
    const file = await writeConfig(
      {
        proxy: { host: '127.0.0.1', port: 0 },
        admin: { host: '127.0.0.1', port: 0 },
        upstreams: { blue: { targets: [blue.url] }, green: { targets: [green.url] } },
        split: { green: 50 },
        sticky: { keys: ['header:x-user-id'], cookie: '' },
        autoRevert: { enabled: false },
        state: { redis: { url: `redis://127.0.0.1:${port}`, keyPrefix: 'soak:' } },
        drain: { deadline: '5s' },
        log: { level: 'info', access: false },
        workers: 1,
      },
      dir,
    )
    const startedCli = await Promise.allSettled(Array.from({ length: REPLICAS }, () => startCli(file)))
    startedCli.forEach((s, index) => {
      if (s.status === 'fulfilled') {
        const proc = s.value
        replicas.push({ index, proc, proxyUrl: proc.proxyUrl, adminUrl: proc.adminUrl, pool: new Pool(proc.adminUrl, { connections: 16, keepAliveTimeout: 60_000 }) })
      }
    })
    const failedStart = startedCli.find((s): s is PromiseRejectedResult => s.status === 'rejected')
    if (failedStart !== undefined) throw failedStart.reason
    for (const r of replicas) log(`replica ${r.index + 1}: PID ${r.proc.pid}, proxy ${r.proxyUrl}, admin ${r.adminUrl}`)

    const lag = monitorEventLoopDelay({ resolution: 10 })
    lag.enable()
    log(`load: ${clients} keep-alive clients over ${REPLICAS} proxies for ${seconds} s; a split write every ${FLIP_EVERY_MS} ms; Redis down at ${(outageAtMs / 1000).toFixed(1)} s`)
    const loadStart = performance.now()
    const loads = replicas.map((r) =>
      startLoad({
        proxyUrl: r.proxyUrl,
        clients: Math.floor(clients / REPLICAS) + (r.index < clients % REPLICAS ? 1 : 0),
        durationMs: loadMs,
      }),
    )
    const flipper = startFlipper(loadMs)
    const outage = sleep(outageAtMs).then(() => redisOutage(redis as { proc: Tracked }, redisBin, port!, redisDir))
    await sleep(loadMs)
    const outageResult = await outage
    const writes = await flipper.stop()
    const load = mergeLoads(await Promise.all(loads.map((l) => l.stop())))
    const heldMs = performance.now() - loadStart
    lag.disable()
    log(`load stopped after ${(heldMs / 1000).toFixed(1)} s: ${load.sent} requests, ${writes.sent} writes (${writes.acked} acknowledged)`)

    const final = await finalCheck(writes.acks)

    // Stop: SIGTERM the replicas by their PIDs, wait for them, then our Redis, then the upstreams.
    for (const r of replicas) r.proc.kill('SIGTERM')
    const exitCodes = await Promise.all(
      replicas.map(async (r) => {
        const code = await within(r.proc.exit(), 15_000)
        if (code === 'timeout') {
          r.proc.kill('SIGKILL')
          await r.proc.exit()
          return 'killed after 15 s'
        }
        return String(code)
      }),
    )
    await Promise.all(replicas.map((r) => r.pool.close()))
    await registry.stop(redis.proc)
    await Promise.all(upstreams.map((u) => u.close()))
    upstreams = []

    const errorLines = replicas.map((r) => r.proc.stdout().split('\n').filter((l) => /"level":(50|60)/.test(l)))
    errorLines.forEach((lines, i) => {
      if (lines.length > 0) process.stderr.write(`replica ${i + 1}: ${lines.length} error log lines, first: ${lines.slice(0, 3).join('\n')}\n`)
    })

    const conv = writes.convergence.filter((c) => !metOutage(c)).map((c) => c.ms)
    const convMax = conv.length === 0 ? 0 : Math.max(...conv)
    const throughOutage = writes.convergence.filter(metOutage)
    const lateThroughOutage = throughOutage.filter((c) => c.ms > convergenceLimit(c))
    const healed = outageResult.healMs.filter((h): h is number => h !== null)
    const degradedCount = outageResult.degradedSeen.filter(Boolean).length
    const failures: string[] = []
    if (load.failed > 0) failures.push(`${load.failed} requests failed`)
    if (load.mismatched > 0) failures.push(`${load.mismatched} answers mismatched`)
    if (final.lost > 0) failures.push(`${final.lost} acknowledged writes lost`)
    // Every acknowledged write has its event; a write answered "may have been applied" may have one too.
    const eventsOff = final.splitEvents < writes.acked || final.splitEvents > writes.acked + writes.unconfirmed
    if (eventsOff && final.eventsTotal < 1000) failures.push(`${final.splitEvents} split events for ${writes.acked} acknowledged writes and ${writes.unconfirmed} unconfirmed`)
    if (!final.equal) failures.push('replicas disagree on the final split')
    if (final.splits.some((s) => s.generation < final.lastAckGeneration)) failures.push('a final generation is below the last acknowledged one')
    if (convMax > CONVERGENCE_LIMIT_MS) failures.push(`convergence max ${ms(convMax)} > ${CONVERGENCE_LIMIT_MS} ms`)
    if (lateThroughOutage.length > 0) failures.push(`${lateThroughOutage.length} convergences that met the outage came more than ${CONVERGENCE_LIMIT_MS} ms after the fleet healed`)
    if (writes.other > 0) failures.push(`${writes.other} writes answered neither 200, 409 nor 503`)
    if (healed.length < REPLICAS) failures.push(`${REPLICAS - healed.length} replicas did not return to "ok" within ${HEAL_GIVE_UP_MS / 1000} s`)

    const f = final.splits[0]!
    const rows: [string, string][] = [
      ['requests sent / completed / failed / mismatched', `${load.sent} / ${load.completed} / ${load.failed} / ${load.mismatched}`],
      ['get / post / stream · blue / green', `${load.byKind.get} / ${load.byKind.post} / ${load.byKind.stream} · ${load.byColor.blue} / ${load.byColor.green}`],
      ['request latency p50 / p99', `${ms(quantile(load.latenciesMs, 0.5))} / ${ms(quantile(load.latenciesMs, 0.99))}`],
      ['writes sent / acknowledged / 409 / 503 (of them "may have been applied")', `${writes.sent} / ${writes.acked} / ${writes.conflicts} / ${writes.unavailable} (${writes.unconfirmed})`],
      ['writes: 503 outside the outage / other answers', `${writes.unavailableOutsideOutage} / ${writes.other}`],
      [
        `convergence p50 / p99 / max (${conv.length} samples: 2 per acknowledged write, but for those that met the outage)`,
        `${ms(quantile(conv, 0.5))} / ${ms(quantile(conv, 0.99))} / ${ms(convMax)}${writes.convergenceTimeouts > 0 ? ` (${writes.convergenceTimeouts} gave up after ${CONVERGE_GIVE_UP_MS} ms)` : ''}`,
      ],
      [
        `convergences that met the outage (acknowledged less than ${CONVERGENCE_LIMIT_MS / 1000} s before Redis stopped): samples, max, in within ${CONVERGENCE_LIMIT_MS / 1000} s of the fleet healing`,
        `${throughOutage.length}, ${throughOutage.length === 0 ? '—' : ms(Math.max(...throughOutage.map((c) => c.ms)))}, ${lateThroughOutage.length === 0 ? 'all' : `${throughOutage.length - lateThroughOutage.length} of ${throughOutage.length}`}`,
      ],
      [`outage (${(outageResult.downMs / 1000).toFixed(1)} s): /healthz "degraded" seen on`, `${degradedCount}/${REPLICAS}`],
      ['outage: /healthz answers other than 200', String(outageResult.non200.reduce((a, b) => a + b, 0))],
      [
        'time to heal (Redis answering → /healthz "ok"), per replica',
        outageResult.healMs.map((h) => (h === null ? 'never' : ms(h))).join(' / '),
      ],
      ['final splits equal', `${final.equal ? 'yes' : 'no'} (${final.splits.map((s) => `green ${s.green} gen ${s.generation}`).join(' · ')})`],
      ['last acknowledged generation / final generation', `${final.lastAckGeneration} / ${f.generation}`],
      ['`split` events in `/v1/events` / acknowledged writes (+ unconfirmed)', `${final.splitEvents} / ${writes.acked} (+ ${writes.unconfirmed})`],
      ['acknowledged writes lost', String(final.lost)],
      ['replica exit codes after SIGTERM', exitCodes.join(' / ')],
      [
        'harness event-loop delay p99 / max',
        `${ms(lag.percentile(99) / 1e6)} / ${ms(lag.max / 1e6)}`,
      ],
    ]
    const report = [
      '# switchyard fleet soak',
      '',
      `${new Date().toISOString()} · Node ${process.version} · ${REPLICAS} replicas (\`workers: 1\` each) sharing one split through`,
      `their own redis-server (AOF, \`appendfsync always\`, loopback) · ${clients} keep-alive clients spread over the ${REPLICAS}`,
      `proxies for ${(heldMs / 1000).toFixed(1)} s (½ GET, ¼ POST 0–256 KB, ¼ chunked stream; a new sticky key per request; every`,
      'answer compared byte for byte with what the colour named in `x-switchyard-color` sends). A flipper PUTs',
      `\`{"green": 0..100}\` through a random replica every ${FLIP_EVERY_MS} ms (at most ${MAX_OUTSTANDING_WRITES} unanswered); for each acknowledged`,
      `write it polls \`GET /v1/split\` on the other two replicas every ${POLL_EVERY_MS} ms until they serve its generation`,
      '(convergence, measured from the acknowledgement, so it includes one poll round trip). At 40 % of the run Redis',
      `gets SIGTERM for ${OUTAGE_MS / 1000} s and is restarted on the same port and dir; /healthz is polled on every replica meanwhile.`,
      'An acknowledged write counts as lost unless the audit log holds it at its generation with its green.',
      '',
      '| metric | value |',
      '| --- | --- |',
      ...rows.map(([k, v]) => `| ${k} | ${v} |`),
      '',
      `Result: ${failures.length === 0 ? '**pass**' : `**FAIL**: ${failures.join('; ')}`}`,
      '',
    ].join('\n')
    await mkdir(new URL('./results/', import.meta.url), { recursive: true })
    await writeFile(new URL('./results/soak-fleet.md', import.meta.url), report)
    for (const p of [...load.problems, ...writes.problems, ...final.lostDetail].slice(0, 30)) process.stdout.write(`  ${p}\n`)
    process.stdout.write(`\n${report}\nwritten to bench/results/soak-fleet.md\n`)
    return failures.length === 0 ? 0 : 1
  } finally {
    for (const r of replicas) {
      if (r.proc.child.exitCode === null && r.proc.child.signalCode === null) {
        r.proc.kill('SIGKILL')
        await r.proc.exit()
      }
    }
    if (redis.proc !== undefined) await registry.stop(redis.proc)
    await Promise.all(upstreams.map((u) => u.close()))
    await rm(dir, { recursive: true, force: true })
  }
}

let code = 1
try {
  code = await main()
} catch (err) {
  process.stderr.write(`soak-fleet: ${(err as Error).stack ?? String(err)}\n`)
}
clearTimeout(hardCap)
process.exitCode = code
