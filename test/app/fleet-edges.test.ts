import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { FleetCounters } from '../../src/state/redis/counters.js'
import { RedisLink } from '../../src/state/redis/link.js'
import { RedisStateStore } from '../../src/state/redis/store.js'
import { Release } from '../../src/control/release/release.js'
import { admin, startTestApp, testConfig } from '../helpers/app.js'
import { startColorUpstream } from '../helpers/color-upstream.js'
import { memoryLogger } from '../helpers/logs.js'
import { dropPrefix, redisClient, SHARED_REDIS_URL, startOwnRedis, uniquePrefix, type OwnRedis } from '../helpers/redis.js'
import { eventually, sleep } from '../helpers/wait.js'

const closers: (() => Promise<void>)[] = []
const prefixes: string[] = []
let own: OwnRedis | undefined

afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close().catch(() => undefined)
  await own?.stop()
  own = undefined
})
afterAll(async () => {
  for (const p of prefixes) await dropPrefix(p)
})

function prefix(): string {
  const p = uniquePrefix()
  prefixes.push(p)
  return p
}

async function link(url = SHARED_REDIS_URL): Promise<RedisLink> {
  const l = new RedisLink({ url, keyPrefix: '' }, memoryLogger().logger)
  closers.push(() => l.close())
  expect(await l.ready(3_000)).toBe(true)
  return l
}

async function controller(keyPrefix: string, seed = 0): Promise<{ c: Release; store: RedisStateStore }> {
  const store = new RedisStateStore(await link(), { keyPrefix, logger: memoryLogger().logger })
  closers.push(() => store.close())
  const c = new Release(store, { logger: memoryLogger().logger })
  await c.init(seed)
  return { c, store }
}

const sum = (deltas: readonly { requests: number }[]) => deltas.reduce((n, d) => n + d.requests, 0)
const errs = (deltas: readonly { errors: number }[]) => deltas.reduce((n, d) => n + d.errors, 0)

describe('fleet edges: FleetCounters', () => {
  it('a Redis that hangs: the replica judges its own counts alone, and they never land late', async () => {
    own = await startOwnRedis({ persist: 'none' })
    const l = await link(own.url)
    const counters = new FleetCounters(l, { keyPrefix: prefix(), windowMs: 60_000, logger: memoryLogger().logger })
    const now = Date.now()
    const second = Math.floor(now / 1000)
    counters.add([{ color: 'green', second, requests: 5, errors: 5, latency: [8, 5], since: now }])
    own.pause()
    // Every pipelined command times out (1 s), but pipeline.exec() resolves with per-command errors.
    const first = await counters.exchange()
    own.resume()
    // While Redis hangs, the replica must go on judging its own traffic (README: "the same after 1 s").
    expect(first).toMatchObject({ fleet: false })
    expect(sum(first.deltas)).toBe(5)
    // Once Redis answers again, those counts are not in the fleet's sums (they were judged here).
    await eventually(async () => l.connected, 5_000)
    const after = await counters.exchange()
    expect(after.fleet).toBe(true)
    expect(sum(after.deltas)).toBe(0)
  })

  it('counts that grow without new requests (errors, latency) are not dropped', async () => {
    const p = prefix()
    const l = await link()
    const counters = new FleetCounters(l, { keyPrefix: p, windowMs: 60_000, logger: memoryLogger().logger })
    const second = Math.floor(Date.now() / 1000)
    const key = `${p}counts:${second}`
    const client = redisClient()
    closers.push(async () => void client.disconnect())
    // Another replica's pipeline (r, then e) split across two reads by Redis: a read lands in between.
    await client.hincrby(key, 'green:r', 10)
    const a = await counters.exchange()
    await client.hincrby(key, 'green:e', 10)
    const b = await counters.exchange()
    const merged = [...a.deltas, ...b.deltas]
    expect(sum(merged)).toBe(10)
    expect(errs(merged)).toBe(10)
  })
})

describe('fleet edges: Redis back from an older snapshot', () => {
  it('a replica that saw more does not overwrite a write acknowledged meanwhile on top of the older state', async () => {
    const p = prefix()
    const a = await controller(p, 1000)
    await a.store.close() // no periodic reconcile: we drive a's adopt explicitly (pub/sub still works)
    await a.c.setSplit({ greenBuckets: 2000, type: 'split', source: 'test' })
    const client = redisClient()
    closers.push(async () => void client.disconnect())
    const snapshot = await client.hgetall(`${p}state`)
    const snapEvents = await client.lrange(`${p}events`, 0, -1)
    await a.c.setSplit({ greenBuckets: 3000, type: 'split', source: 'test' })
    await a.c.setSplit({ greenBuckets: 4000, type: 'split', source: 'test' })
    // Redis restarts from the snapshot (same epoch, older write version).
    await client.del(`${p}events`)
    await client.hset(`${p}state`, snapshot)
    if (snapEvents.length > 0) await client.rpush(`${p}events`, ...snapEvents)
    // A replica that starts now reads the older state and an admin writes through it: acknowledged.
    const c = await controller(p, 0)
    const { value: acked } = await c.c.setSplit({ greenBuckets: 7000, type: 'split', source: 'admin-through-c' })
    expect(acked.greenBuckets).toBe(7000)
    // a syncs (reconnect / reconcile): it sees a version below the one it saw and "restores".
    await a.c.adopt()
    await c.c.adopt()
    await sleep(200)
    // Nothing an admin was told succeeded may be lost.
    expect(c.c.state().greenBuckets).toBe(7000)
    expect(a.c.state().greenBuckets).toBe(7000)
  })
})

describe('fleet edges: revert during a rollout', () => {
  it('a revert tripped while Redis is down aborts the running rollout in the same write once Redis returns', async () => {
    own = await startOwnRedis({ persist: 'aof' })
    const blue = await startColorUpstream('blue')
    const green = await startColorUpstream('green')
    closers.push(() => blue.close(), () => green.close())
    const config = await testConfig([blue.url], [green.url], {
      state: { redis: { url: own.url, keyPrefix: 'fleet:' } },
      split: { green: 0 },
      autoRevert: { enabled: true, window: '10s', maxErrorRate: 0.2 },
      outlierDetection: { consecutiveErrors: 0 },
      rollout: { analysis: { interval: '100ms', minRequests: 100000, confidence: 0.99, maxErrorRate: 0.05, maxP99: '500ms' } },
    })
    const a = await startTestApp(config)
    closers.push(() => a.close())
    const started = await admin(a, 'POST', '/v1/rollout', { steps: [{ green: 50, hold: '10m' }, { green: 100, hold: '10m' }], force: true })
    expect(started.status).toBe(201)
    await own.stop()
    await eventually(async () => ((await admin(a, 'GET', '/healthz')).body as { status: string }).status === 'degraded', 3_000)
    green.status = 500
    for (let i = 0; i < 15; i++) await (await fetch(a.proxyUrl, { headers: { 'x-switchyard-color': 'green' } })).text()
    await eventually(async () => ((await admin(a, 'GET', '/v1/split')).body as { green: number }).green === 0, 2_000)
    await own.start()
    // The revert reaches Redis...
    const client = redisClient(own.url)
    closers.push(async () => void client.disconnect())
    await eventually(async () => (await client.lrange('fleet:events', 0, -1)).some((e) => (JSON.parse(e) as { type: string }).type === 'revert'), 5_000)
    await sleep(1_500)
    // ... with the rollout aborted in the same write, so no leader drives green up again.
    const rollout = (await admin(a, 'GET', '/v1/rollout')).body as { phase: string }
    expect(rollout.phase).toBe('aborted')
  })
})
