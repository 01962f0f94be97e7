import { mkdtemp, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { NODE_FLAGS } from '../../src/node-flags.js'
import { startCli, writeConfig, type CliProcess } from '../helpers/cli.js'
import { startColorUpstream, type ColorUpstream } from '../helpers/color-upstream.js'
import { freshGet } from '../helpers/http.js'

interface Status {
  split: { green: number; reverted: unknown }
  workers: { id: number; pid: number; requests: number }[]
  window: Record<'blue' | 'green', { requests: number; errors: number; ttfbP50Ms: number | null }>
}

type Cluster = CliProcess & { proxyUrl: string; adminUrl: string; config: Record<string, unknown>; dir: string }

let blue: ColorUpstream
let green: ColorUpstream
/**
 * Starting a cluster (a primary and three workers, each loading the TypeScript sources) is most
 * of this file's time, so two serve all of it, started at once. `shared` takes the tests in
 * order: counting first, while it has served nothing; SIGTERM last. Each test between sets the
 * split it needs, and the worker one kills is replaced before it ends. `judged` serves only the
 * test that fails green on purpose: its window must hold nothing else, and the errors eject
 * green from passive health for a while, so that a later split change would be refused (409).
 */
let shared: Cluster
let judged: Cluster
const running: CliProcess[] = []
const closeAfterAll: { close(): Promise<void> }[] = []

beforeAll(async () => {
  ;[blue, green] = await Promise.all([startColorUpstream('blue'), startColorUpstream('green')])
  ;[shared, judged] = await Promise.all([
    start({ split: { green: 50 } }),
    start({ split: { green: 100 }, autoRevert: { window: '10s', minRequests: 30, maxErrorRate: 0.5 } }),
  ])
}, 90_000)
afterEach(() => {
  green.status = 200
})
afterAll(async () => {
  await Promise.all(
    running.map(async (proc) => {
      proc.kill('SIGTERM')
      await proc.exit()
    }),
  )
  await Promise.all([blue.close(), green.close(), ...closeAfterAll.map((c) => c.close())])
})

async function start(extra: Record<string, unknown> = {}): Promise<Cluster> {
  const dir = await mkdtemp(join(tmpdir(), 'sy-workers-'))
  const config = {
    proxy: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    upstreams: { blue: { targets: [blue.url] }, green: { targets: [green.url] } },
    state: { file: join(dir, 'state.json') },
    sticky: { keys: ['header:x-user-id'], cookie: '' },
    drain: { deadline: '2s' },
    workers: 3,
    ...extra,
  }
  const proc = await startCli(await writeConfig(config, dir))
  running.push(proc)
  return Object.assign(proc, { config, dir })
}

async function status(proc: { adminUrl: string }): Promise<Status> {
  return (await (await fetch(`${proc.adminUrl}/v1/status`)).json()) as Status
}

async function put(proc: { adminUrl: string }, body: unknown): Promise<number> {
  const res = await fetch(`${proc.adminUrl}/v1/split`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  await res.text()
  return res.status
}

async function waitFor<T>(probe: () => Promise<T | undefined>, ms: number): Promise<T> {
  const start = Date.now()
  while (Date.now() - start < ms) {
    const value = await probe()
    if (value !== undefined) return value
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`not within ${ms} ms`)
}

describe('workers', { timeout: 60_000 }, () => {
  it('every worker sends a key to the same colour, and each serves', async () => {
    // First on the fresh cluster, at its configured split: every count below starts from zero.
    const proc = shared
    expect((await status(proc)).workers).toHaveLength(3)
    for (let k = 0; k < 15; k++) {
      const colors = new Set<string | undefined>()
      for (let i = 0; i < 6; i++) colors.add((await freshGet(proc.proxyUrl, { 'x-user-id': `key-${k}` })).color)
      expect(colors.size).toBe(1)
    }
    const workers = (await status(proc)).workers
    expect(workers.reduce((n, w) => n + w.requests, 0)).toBe(90)
    expect(workers.filter((w) => w.requests > 0).length).toBeGreaterThanOrEqual(2)
    // /metrics sums the workers.
    const metrics = await (await fetch(`${proc.adminUrl}/metrics`)).text()
    const total = [...metrics.matchAll(/^switchyard_requests_total\{[^}]*\} (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0)
    expect(total).toBe(90)
    expect(metrics).toContain('switchyard_split_percent{color="green"} 50')
    // Every answer had a first byte: the time-to-first-byte histogram sums the workers too ...
    const ttfb = [...metrics.matchAll(/^switchyard_time_to_first_byte_seconds_count\{[^}]*\} (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0)
    expect(ttfb).toBe(90)
    // ... and reaches the primary's window in the workers' deltas.
    const window = await waitFor(async () => {
      const w = (await status(proc)).window
      return w.blue.requests + w.green.requests === 90 ? w : undefined
    }, 2000)
    expect(window.blue.ttfbP50Ms ?? window.green.ttfbP50Ms).toBeGreaterThan(0)
  })

  it('a split change routes on every worker by the time the API answers', async () => {
    const proc = shared
    for (const [green, expected] of [[0, 'blue'], [100, 'green'], [0, 'blue'], [100, 'green']] as const) {
      expect(await put(proc, { green })).toBe(200)
      const colors = await Promise.all(Array.from({ length: 60 }, (_, i) => freshGet(proc.proxyUrl, { 'x-user-id': `u${green}-${i}` }).then((r) => r.color)))
      expect(new Set(colors)).toEqual(new Set([expected]))
    }
  })

  it('auto-revert judges the errors of all workers together', async () => {
    // No single worker sees 30 green requests; together they do. This cluster served nothing before.
    const proc = judged
    green.status = 503
    for (let i = 0; i < 45; i++) await freshGet(proc.proxyUrl, { 'x-user-id': `e${i}` })
    const reverted = await waitFor(async () => {
      const s = await status(proc)
      return s.split.green === 0 ? s : undefined
    }, 2000)
    expect(reverted.split.reverted).toMatchObject({ requests: expect.any(Number) as number })
    const perWorker = reverted.workers.map((w) => w.requests)
    expect(perWorker.reduce((n, r) => n + r, 0)).toBe(45)
    expect(Math.max(...perWorker)).toBeLessThan(30)
    expect(perWorker.filter((n) => n > 0).length).toBeGreaterThanOrEqual(2)
  })

  it('a worker that dies is replaced while the others keep serving', async () => {
    const proc = shared
    const before = (await status(proc)).workers
    expect(before).toHaveLength(3)
    const victim = before.find((w) => w.id === 1)!
    process.kill(victim.pid, 'SIGKILL')
    await proc.waitForLog((l) => String(l.msg).startsWith('proxy worker 1 exited'))
    // Requests keep succeeding while the replacement starts.
    for (let i = 0; i < 20; i++) expect((await freshGet(proc.proxyUrl, { 'x-user-id': `k${i}` })).status).toBe(200)
    const after = await waitFor(async () => {
      const workers = (await status(proc)).workers
      return workers.length === 3 && !workers.some((w) => w.pid === victim.pid) ? workers : undefined
    }, 10_000)
    expect(after.map((w) => w.id).sort()).toEqual([0, 1, 2])
    for (let i = 0; i < 20; i++) expect((await freshGet(proc.proxyUrl, { 'x-user-id': `k${i}` })).status).toBe(200)
  }, 30_000)

  it('SIGHUP points every worker at the new targets', async () => {
    const proc = shared
    // Left running until the end: the shared cluster's blue stays on it after this test.
    const other = await startColorUpstream('other')
    closeAfterAll.push(other)
    expect(await put(proc, { green: 0 })).toBe(200)
    await writeConfig({ ...proc.config, upstreams: { blue: { targets: [other.url] }, green: { targets: [green.url] } } }, proc.dir)
    proc.kill('SIGHUP')
    await proc.waitForLog((l) => l.msg === 'config reloaded')
    const bodies = await Promise.all(Array.from({ length: 30 }, () => freshGet(proc.proxyUrl).then((r) => r.body)))
    expect(new Set(bodies)).toEqual(new Set(['other']))
  })

  // Last: it ends the shared cluster.
  it('SIGTERM drains the workers and exits 0', async () => {
    const proc = shared
    const pids = (await status(proc)).workers.map((w) => w.pid)
    expect(pids).toHaveLength(3)
    // Workers run with switchyard's V8 flags, though this primary was started without them.
    for (const pid of pids) expect((await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0')).toEqual(expect.arrayContaining([...NODE_FLAGS]))
    proc.kill('SIGTERM')
    expect(await proc.exit()).toBe(0)
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow()
  })
})
