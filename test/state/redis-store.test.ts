import { connect as connectTcp, createServer, type AddressInfo, type Socket } from 'node:net'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { GenerationConflictError } from '../../src/control/errors.js'
import { StateUnavailableError, WriteConflictError } from '../../src/state/errors.js'
import { FleetCounters } from '../../src/state/redis/counters.js'
import { LeaderLease } from '../../src/state/redis/lease.js'
import { RedisLink } from '../../src/state/redis/link.js'
import { RedisStateStore } from '../../src/state/redis/store.js'
import { Release } from '../../src/control/release/release.js'
import type { PersistedState } from '../../src/state/types.js'
import { memoryLogger } from '../helpers/logs.js'
import { dropPrefix, redisClient, SHARED_REDIS_URL, uniquePrefix } from '../helpers/redis.js'
import { eventually, sleep } from '../helpers/wait.js'

const links: RedisLink[] = []
const prefixes: string[] = []
const closers: (() => Promise<void>)[] = []

async function link(url = SHARED_REDIS_URL): Promise<RedisLink> {
  const l = new RedisLink({ url, keyPrefix: '' }, memoryLogger().logger)
  links.push(l)
  expect(await l.ready(3_000)).toBe(true)
  return l
}

function prefix(): string {
  const p = uniquePrefix()
  prefixes.push(p)
  return p
}

async function store(keyPrefix: string, maxEvents?: number): Promise<RedisStateStore> {
  const s = new RedisStateStore(await link(), { keyPrefix, logger: memoryLogger().logger, ...(maxEvents === undefined ? {} : { maxEvents }) })
  closers.push(() => s.close())
  return s
}

/**
 * A TCP relay to the shared Redis; its URL. `onAnswer` gets the commands sent on a connection
 * since Redis last answered on it, as text, and says what becomes of the answer: passed on,
 * held that many ms first (what follows waits behind it), or the connection cut.
 */
async function relayToRedis(onAnswer: (sent: string) => 'pass' | 'cut' | number): Promise<string> {
  const sockets = new Set<Socket>()
  const relay = createServer((client) => {
    const redis = connectTcp(6379, '127.0.0.1')
    sockets.add(client).add(redis)
    let sent = ''
    let queue = Promise.resolve()
    client.on('data', (chunk: Buffer) => {
      sent += chunk.toString('latin1')
      redis.write(chunk)
    })
    redis.on('data', (chunk: Buffer) => {
      const verdict = onAnswer(sent)
      sent = ''
      if (verdict === 'cut') {
        client.destroy()
        redis.destroy()
        return
      }
      queue = queue.then(() => (verdict === 'pass' ? undefined : sleep(verdict))).then(() => void client.write(chunk))
    })
    for (const socket of [client, redis]) socket.on('error', () => undefined)
    client.on('close', () => redis.destroy())
    redis.on('close', () => client.destroy())
  })
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve))
  closers.push(async () => {
    for (const socket of sockets) socket.destroy()
    await new Promise<void>((resolve) => relay.close(() => resolve()))
  })
  return `redis://127.0.0.1:${(relay.address() as AddressInfo).port}`
}

/** A store reached through `url` (a relay), closed after the test. */
async function storeAt(url: string, keyPrefix: string): Promise<RedisStateStore> {
  const s = new RedisStateStore(await link(url), { keyPrefix, logger: memoryLogger().logger })
  closers.push(() => s.close())
  return s
}

async function controller(keyPrefix: string, seed = 0): Promise<Release> {
  const c = new Release(await store(keyPrefix), { logger: memoryLogger().logger })
  await c.init(seed)
  return c
}

const state = (green: number, generation: number): PersistedState => ({
  split: { greenBuckets: green, generation, reverted: null },
  events: [],
  rollout: null,
  targets: null,
  release: null,
})

afterEach(async () => {
  for (const close of closers.splice(0)) await close()
  for (const l of links.splice(0)) await l.close()
})
afterAll(async () => {
  for (const p of prefixes) await dropPrefix(p)
})

describe('RedisStateStore', () => {
  it('stores nothing until the first save, then loads what was saved', async () => {
    const p = prefix()
    const a = await store(p)
    expect(await a.load()).toBeNull()
    await a.save(state(2500, 1), null)
    const b = await store(p)
    expect(await b.load()).toEqual(state(2500, 1))
  })

  it('is a compare-and-set: a writer that did not see the last write gets WriteConflictError and writes nothing', async () => {
    const p = prefix()
    const a = await store(p)
    const b = await store(p)
    await a.load()
    await b.load()
    await a.save(state(1000, 1), null)
    await expect(b.save(state(9000, 1), null)).rejects.toBeInstanceOf(WriteConflictError)
    expect((await (await store(p)).load())?.split.greenBuckets).toBe(1000)
    // Once it has read the new state it may write.
    expect(await b.refresh()).toEqual(state(1000, 1))
    await b.save(state(9000, 2), null)
    expect(await a.refresh()).toEqual(state(9000, 2))
    expect(await a.refresh()).toBeUndefined()
  })

  it('keeps the audit log newest first, at most maxEvents, byte for byte', async () => {
    const p = prefix()
    const c = new Release(await store(p, 3), { logger: memoryLogger().logger, maxEvents: 3 })
    await c.init(0)
    for (const g of [1, 2, 3, 4, 5]) await c.setSplit({ greenBuckets: g * 100, type: 'split', source: 'api', reason: `step ${g}` })
    const loaded = await (await store(p, 3)).load()
    expect(loaded?.events.map((e) => e.reason)).toEqual(['step 5', 'step 4', 'step 3'])
    expect(JSON.stringify(loaded?.events)).toBe(JSON.stringify(c.events()))
    const client = redisClient()
    expect(await client.llen(`${p}events`)).toBe(3)
    client.disconnect()
  })

  it('names the key when Redis holds something that is not a switchyard state', async () => {
    const p = prefix()
    const client = redisClient()
    await client.hset(`${p}state`, 'rev', '1', 'epoch', 'x', 'doc', '{"version":1,"split":{"green":250}}')
    client.disconnect()
    await expect((await store(p)).load()).rejects.toThrow(`Redis key ${p}state does not hold a switchyard state`)
  })

  it('fails fast with StateUnavailableError when Redis cannot be reached', async () => {
    const l = new RedisLink({ url: 'redis://127.0.0.1:1', keyPrefix: '' }, memoryLogger().logger)
    links.push(l)
    expect(await l.ready(300)).toBe(false)
    const s = new RedisStateStore(l, { keyPrefix: prefix(), logger: memoryLogger().logger })
    const started = Date.now()
    await expect(s.load()).rejects.toBeInstanceOf(StateUnavailableError)
    await expect(s.save(state(0, 1), null)).rejects.toThrow(/shared state store is unavailable.*redis:\/\/127\.0\.0\.1:1/)
    expect(Date.now() - started).toBeLessThan(500)
    expect(s.status()).toMatchObject({ store: 'redis', connected: false, state: 'degraded' })
  })

  it('says a change may have been applied when Redis ran it and its answer was lost', async () => {
    // Once armed, the relay passes an EVAL on but cuts the connection instead of passing its
    // answer back: Redis ran the write, the replica never heard.
    let armed = false
    const url = await relayToRedis((sent) => (armed && /\$4\r\neval\r\n/i.test(sent) ? 'cut' : 'pass'))
    const p = prefix()
    const s = await storeAt(url, p)
    expect(await s.load()).toBeNull()
    await s.save(state(1000, 1), null)
    armed = true
    const unconfirmed = s.save(state(2500, 2), null)
    await expect(unconfirmed).rejects.toBeInstanceOf(StateUnavailableError)
    await expect(unconfirmed).rejects.toThrow(/did not confirm this change \(Redis at .* did not answer.*\): it may have been applied/)
    // It was: the fleet holds it.
    expect(await (await store(p)).load()).toEqual(state(2500, 2))
  })

  it('tries a write refused as too late once more, with a fresh reading of Redis clock', async () => {
    // The answer to the write's clock reading comes 720 ms late, as to a replica too busy to read
    // it: the script then runs past its deadline (700 ms) and writes nothing; the second try writes.
    let delayed = false
    const url = await relayToRedis((sent) => {
      if (delayed || !/\$4\r\ntime\r\n/i.test(sent)) return 'pass'
      delayed = true
      return 720
    })
    const p = prefix()
    const s = await storeAt(url, p)
    expect(await s.load()).toBeNull()
    await s.save(state(2500, 1), null)
    expect(delayed).toBe(true)
    expect(await (await store(p)).load()).toEqual(state(2500, 1))
  })
})

describe('Release on Redis', () => {
  it('seeds once: the second replica restores what the first stored', async () => {
    const p = prefix()
    const a = await controller(p, 1000)
    const b = new Release(await store(p), { logger: memoryLogger().logger })
    expect(await b.init(5000)).toEqual({ restored: true })
    expect(b.state()).toEqual(a.state())
  })

  it('adopts another replica’s change when told, with its events as remote changes', async () => {
    const p = prefix()
    const a = await controller(p)
    const b = await controller(p)
    const seen: string[] = []
    b.onChange((s, event, origin) => seen.push(`${origin}:${event.type}:${s.greenBuckets}`))
    await a.setSplit({ greenBuckets: 3000, type: 'split', source: 'api' })
    // The pub/sub message (or the reconcile) makes b adopt it without being asked.
    await eventually(async () => b.state().greenBuckets === 3000, 2_000)
    expect(b.current()).toEqual(a.current())
    expect(seen).toEqual(['remote:split:3000'])
    expect(b.events()).toEqual(a.events())
  })

  it('two replicas writing with the same ifGeneration: exactly one wins, the other changes nothing', async () => {
    const p = prefix()
    const a = await controller(p)
    const b = await controller(p)
    for (let round = 0; round < 10; round++) {
      const generation = a.state().generation
      await eventually(async () => b.state().generation === generation, 2_000)
      const results = await Promise.allSettled([
        a.setSplit({ greenBuckets: 100 + round, type: 'split', source: 'api', ifGeneration: generation }),
        b.setSplit({ greenBuckets: 200 + round, type: 'split', source: 'api', ifGeneration: generation }),
      ])
      const won = results.filter((r) => r.status === 'fulfilled')
      const lost = results.filter((r) => r.status === 'rejected')
      expect(won).toHaveLength(1)
      expect(lost).toHaveLength(1)
      expect((lost[0] as PromiseRejectedResult).reason).toSatisfy(
        (err: unknown) => err instanceof WriteConflictError || err instanceof GenerationConflictError,
      )
      const stored = await (await store(p)).load()
      expect(stored?.split.generation).toBe(generation + 1)
      expect(stored?.events).toHaveLength(round + 1)
    }
  })

  it('unconditional writes racing through two replicas never interleave: every success is one event', async () => {
    const p = prefix()
    const a = await controller(p)
    const b = await controller(p)
    const writes = Array.from({ length: 20 }, (_, i) =>
      (i % 2 === 0 ? a : b).setSplit({ greenBuckets: i * 10, type: 'split', source: 'api', reason: String(i) }),
    )
    const results = await Promise.allSettled(writes)
    const won = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(WriteConflictError)
    const stored = (await (await store(p)).load())!
    expect(stored.split.generation).toBe(1 + won.length)
    expect(stored.events).toHaveLength(won.length)
    // Each event's "from" is the split the event before it left: no write was computed from a stale state.
    const chain = [...stored.events].reverse()
    chain.forEach((event, i) => {
      if (i > 0) expect(event.from).toEqual(chain[i - 1]!.to)
    })
    expect((chain.at(-1)!.to as { green: number }).green).toBe(stored.split.greenBuckets / 100)
  })

  it('a revert is written once when two replicas see the same errors', async () => {
    const p = prefix()
    const a = await controller(p, 5000)
    const b = await controller(p)
    const info = { reason: 'green failed', errorRate: 0.5, requests: 40 }
    const results = await Promise.all([a.revert(info), b.revert(info)])
    expect(results.filter(Boolean)).toHaveLength(1)
    const stored = (await (await store(p)).load())!
    expect(stored.split).toMatchObject({ greenBuckets: 0, generation: 2, reverted: { reason: 'green failed' } })
    expect(stored.events.filter((e) => e.type === 'revert')).toHaveLength(1)
    await eventually(async () => a.state().generation === 2 && b.state().generation === 2, 2_000)
  })
})

describe('FleetCounters', () => {
  it('sums every replica’s counts per second and hands each replica only what is new', async () => {
    const p = prefix()
    const logger = memoryLogger().logger
    const now = Date.now()
    const second = Math.floor(now / 1000)
    const a = new FleetCounters(await link(), { keyPrefix: p, windowMs: 10_000, logger })
    const b = new FleetCounters(await link(), { keyPrefix: p, windowMs: 10_000, logger })
    a.add([{ color: 'green', second, requests: 10, errors: 4, latency: [8, 10], since: now }])
    b.add([{ color: 'green', second, requests: 5, errors: 1, latency: [8, 5], since: now }])
    b.add([{ color: 'blue', second: second - 1, requests: 7, errors: 0, latency: [1, 7], since: now - 1000 }])
    expect((await a.exchange()).fleet).toBe(true)
    await b.exchange()
    // a sees b's counts arrive as increments; its own were already in its first read.
    const next = await a.exchange()
    const total = (color: string) => next.deltas.filter((d) => d.color === color).reduce((n, d) => n + d.requests, 0)
    expect(total('green')).toBe(5)
    expect(total('blue')).toBe(7)
    const green = next.deltas.find((d) => d.color === 'green')!
    expect(green).toMatchObject({ errors: 1, latency: [8, 5] })
    // Never before the second began, never after now: a reset drops what may predate it.
    expect(green.since).toBeGreaterThanOrEqual(second * 1000)
    expect(green.since).toBeLessThanOrEqual(Date.now())
    expect((await a.exchange()).deltas).toEqual([])
    const client = redisClient()
    const ttl = await client.ttl(`${p}counts:${second}`)
    client.disconnect()
    expect(ttl).toBeGreaterThan(0)
    expect(ttl).toBeLessThanOrEqual(70)
  })

  it('carries time to first byte and per-route counts through Redis, route groups with colons included', async () => {
    const p = prefix()
    const logger = memoryLogger().logger
    const now = Date.now()
    const second = Math.floor(now / 1000)
    const a = new FleetCounters(await link(), { keyPrefix: p, windowMs: 10_000, logger })
    const b = new FleetCounters(await link(), { keyPrefix: p, windowMs: 10_000, logger })
    await a.exchange()
    b.add([
      {
        color: 'green',
        second,
        requests: 6,
        errors: 2,
        latency: [60, 6],
        since: now,
        ttfb: [40, 4, 41, 1],
        routes: ['/v1/models/:id/chat', 4, 2, '/v1', 2, 0, '/bad\ud800', 1, 1],
      },
    ])
    b.add([{ color: 'blue', second, requests: 1, errors: 0, latency: [3, 1], since: now, ttfb: [2, 1], routes: ['other', 1, 0] }])
    expect((await b.exchange()).fleet).toBe(true)
    const client = redisClient()
    const hash = await client.hgetall(`${p}counts:${second}`)
    client.disconnect()
    expect(hash).toMatchObject({ 'green:t40': '4', 'green:qr:/v1/models/:id/chat': '4', 'green:qe:/v1/models/:id/chat': '2', 'blue:qr:other': '1' })
    // No errors: no field; an ill-formed group is left out rather than failing the push.
    expect(hash).not.toHaveProperty('green:qe:/v1')
    expect(Object.keys(hash).some((k) => k.includes('bad'))).toBe(false)
    const read = await a.exchange()
    const green = read.deltas.find((d) => d.color === 'green')!
    expect(green).toMatchObject({ requests: 6, errors: 2, latency: [60, 6] })
    expect(pairs(green.ttfb)).toEqual([[40, 4], [41, 1]])
    expect(triples(green.routes)).toEqual([['/v1', 2, 0], ['/v1/models/:id/chat', 4, 2]])
    const blue = read.deltas.find((d) => d.color === 'blue')!
    expect(blue).toMatchObject({ ttfb: [2, 1], routes: ['other', 1, 0] })
    // Only what is new comes back on the next read.
    b.add([{ color: 'green', second, requests: 1, errors: 1, latency: [60, 1], since: now, routes: ['/v1', 1, 1] }])
    await b.exchange()
    const next = (await a.exchange()).deltas.find((d) => d.color === 'green')!
    expect(next).not.toHaveProperty('ttfb')
    expect(next.routes).toEqual(['/v1', 1, 1])
  })

  it('hands back the replica’s own counts when Redis cannot be reached', async () => {
    const l = new RedisLink({ url: 'redis://127.0.0.1:1', keyPrefix: '' }, memoryLogger().logger)
    links.push(l)
    const counters = new FleetCounters(l, { keyPrefix: prefix(), windowMs: 10_000, logger: memoryLogger().logger })
    const own = { color: 'green' as const, second: Math.floor(Date.now() / 1000), requests: 3, errors: 3, latency: [] }
    counters.add([own])
    expect(await counters.exchange()).toEqual({ deltas: [own], fleet: false })
  })
})

/** [bin, count, ...] as sorted pairs. */
function pairs(list: readonly number[] | undefined): number[][] {
  const out: number[][] = []
  for (let i = 0; i + 1 < (list ?? []).length; i += 2) out.push([list![i]!, list![i + 1]!])
  return out.sort((x, y) => x[0]! - y[0]!)
}

/** [group, requests, errors, ...] as triples sorted by group. */
function triples(list: readonly (string | number)[] | undefined): (string | number)[][] {
  const out: (string | number)[][] = []
  for (let i = 0; i + 2 < (list ?? []).length; i += 3) out.push([list![i]!, list![i + 1]!, list![i + 2]!])
  return out.sort((x, y) => String(x[0]).localeCompare(String(y[0])))
}

describe('LeaderLease', () => {
  it('one replica leads at a time; another takes over when it stops', async () => {
    const p = prefix()
    const logger = memoryLogger().logger
    const a = new LeaderLease(await link(), { keyPrefix: p, id: 'a', logger, ttlMs: 900 })
    const b = new LeaderLease(await link(), { keyPrefix: p, id: 'b', logger, ttlMs: 900 })
    a.start()
    await eventually(async () => a.leads(), 2_000)
    b.start()
    await sleep(700)
    expect(a.leads()).toBe(true)
    expect(b.leads()).toBe(false)
    await a.stop()
    await eventually(async () => b.leads(), 2_000)
    expect(a.leads()).toBe(false)
    await b.stop()
  })
})
