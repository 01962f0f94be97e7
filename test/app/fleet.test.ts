import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { admin, startTestApp, testConfig } from '../helpers/app.js'
import { startColorUpstream, type ColorUpstream } from '../helpers/color-upstream.js'
import { dropPrefix, redisClient, SHARED_REDIS_URL, startOwnRedis, uniquePrefix, type OwnRedis } from '../helpers/redis.js'
import { startLoad, startTunableUpstream } from '../helpers/load.js'
import { startWebhookReceiver } from '../helpers/webhook-receiver.js'
import { eventually, sleep } from '../helpers/wait.js'

type Replica = Awaited<ReturnType<typeof startTestApp>>
type Split = { blue: number; green: number; generation: number; reverted: unknown }

const opened: { close(): Promise<void> }[] = []
const prefixes: string[] = []
afterEach(async () => {
  for (const thing of opened.splice(0).reverse()) await thing.close()
})
afterAll(async () => {
  for (const p of prefixes) await dropPrefix(p)
})

async function upstreams(): Promise<{ blue: ColorUpstream; green: ColorUpstream }> {
  const blue = await startColorUpstream('blue')
  const green = await startColorUpstream('green')
  opened.push(blue, green)
  return { blue, green }
}

/** One replica of a fleet: its own proxy and admin ports, the fleet's Redis and key prefix. */
async function replica(
  u: { blue: ColorUpstream; green: ColorUpstream },
  redis: { url: string; keyPrefix: string },
  patch: Record<string, unknown> = {},
): Promise<Replica> {
  const app = await startTestApp(
    await testConfig([u.blue.url], [u.green.url], {
      state: { redis },
      sticky: { keys: ['header:x-user-id'], cookie: '' },
      ...patch,
    }),
  )
  opened.push(app)
  return app
}

function fleetPrefix(): string {
  const p = uniquePrefix()
  prefixes.push(p)
  return p
}

async function split(app: Replica): Promise<Split> {
  return (await admin(app, 'GET', '/v1/split')).body as Split
}

/** /healthz's status: 'ok' or 'degraded'. */
async function healthOf(app: Replica): Promise<string> {
  return ((await admin(app, 'GET', '/healthz')).body as { status: string }).status
}

async function leads(app: Replica): Promise<boolean> {
  return ((await admin(app, 'GET', '/v1/status')).body as { state: { leader: boolean } }).state.leader
}

async function colorsOf(app: Replica, users: number): Promise<string[]> {
  const colors: string[] = []
  for (let i = 0; i < users; i++) {
    const res = await fetch(app.proxyUrl, { headers: { 'x-user-id': `user-${i}` } })
    await res.text()
    colors.push(res.headers.get('x-switchyard-color') ?? 'none')
  }
  return colors
}

describe('fleet mode: replicas share one split through Redis', () => {
  it('a change through one replica routes on all three within a second, and each sends a key to the same colour', async () => {
    const u = await upstreams()
    const redis = { url: SHARED_REDIS_URL, keyPrefix: fleetPrefix() }
    // Started together: one seeds the state, the others take it.
    const [a, b, c] = await Promise.all([replica(u, redis, { split: { green: 10 } }), replica(u, redis, { split: { green: 10 } }), replica(u, redis)])
    const first = await split(a)
    expect(await split(b)).toEqual(first)
    expect(await split(c)).toEqual(first)

    const put = await admin(a, 'PUT', '/v1/split', { green: 30 })
    expect(put.status).toBe(200)
    const wroteAt = Date.now()
    await eventually(async () => (await split(b)).green === 30 && (await split(c)).green === 30, 1_000, 10)
    expect(Date.now() - wroteAt).toBeLessThan(1_000)
    expect(await split(c)).toEqual(put.body)

    const [ca, cb, cc] = await Promise.all([colorsOf(a, 200), colorsOf(b, 200), colorsOf(c, 200)])
    expect(cb).toEqual(ca)
    expect(cc).toEqual(ca)
    const green = ca.filter((c) => c === 'green').length
    expect(green).toBeGreaterThan(30)
    expect(green).toBeLessThan(90)
    // Every replica's audit log is the fleet's.
    expect((await admin(c, 'GET', '/v1/events')).body).toEqual((await admin(a, 'GET', '/v1/events')).body)
    expect((await admin(b, 'GET', '/v1/status')).body).toMatchObject({ status: 'ok', state: { store: 'redis', connected: true } })
    expect((await admin(b, 'GET', '/metrics')).body).toMatch(/switchyard_state_store_connected 1\b/)
  })

  it('concurrent conflicting writes through two replicas: one winner, one 409, and every replica agrees', async () => {
    const u = await upstreams()
    const redis = { url: SHARED_REDIS_URL, keyPrefix: fleetPrefix() }
    const a = await replica(u, redis)
    const b = await replica(u, redis)
    const c = await replica(u, redis)
    for (let round = 0; round < 5; round++) {
      const { generation } = await split(a)
      await eventually(async () => (await split(b)).generation === generation, 1_000)
      const [ra, rb] = await Promise.all([
        admin(a, 'PUT', '/v1/split', { green: 20 + round, ifGeneration: generation }),
        admin(b, 'PUT', '/v1/split', { green: 60 + round, ifGeneration: generation }),
      ])
      expect([ra.status, rb.status].sort()).toEqual([200, 409])
      const loser = ra.status === 409 ? ra : rb
      expect((loser.body as { message: string }).message).toMatch(/generation/)
      const winner = (ra.status === 200 ? ra : rb).body as Split
      expect(winner.generation).toBe(generation + 1)
      await eventually(async () => (await split(c)).generation === winner.generation, 1_000)
      expect(await split(c)).toEqual(winner)
    }
    const events = (await admin(c, 'GET', '/v1/events')).body as unknown[]
    expect(events).toHaveLength(5)
  })

  it('new targets set through one replica are followed by every replica', async () => {
    const u = await upstreams()
    const canary = await startColorUpstream('canary')
    opened.push(canary)
    const redis = { url: SHARED_REDIS_URL, keyPrefix: fleetPrefix() }
    const replicas = [await replica(u, redis), await replica(u, redis), await replica(u, redis)]
    const put = await admin(replicas[1]!, 'PUT', '/v1/upstreams/green', { targets: [canary.url], reason: 'release 2' })
    expect(put.status).toBe(200)
    await eventually(async () => replicas.every((r) => r.targets().green[0] === canary.url), 1_000)
    for (const r of replicas) {
      const res = await fetch(r.proxyUrl, { headers: { 'x-switchyard-color': 'green' } })
      await res.text()
      expect(res.headers.get('x-upstream')).toBe('canary')
    }
    // Blue stays as configured; the event is in every replica's log once.
    expect(replicas[0]!.targets().blue).toEqual([u.blue.url])
    const events = (await admin(replicas[2]!, 'GET', '/v1/events')).body as { type: string; reason: string }[]
    expect(events.filter((e) => e.type === 'targets')).toMatchObject([{ reason: 'release 2' }])
    // Setting the config's targets again removes the override everywhere.
    expect((await admin(replicas[0]!, 'PUT', '/v1/upstreams/green', { targets: [u.green.url] })).status).toBe(200)
    await eventually(async () => replicas.every((r) => r.targets().green[0] === u.green.url), 1_000)
  })

  it('errors spread over three replicas trigger one fleet revert: one event, one webhook', async () => {
    const u = await upstreams()
    const hooks = await startWebhookReceiver()
    opened.push(hooks)
    const redis = { url: SHARED_REDIS_URL, keyPrefix: fleetPrefix() }
    const patch = {
      split: { green: 50 },
      autoRevert: { enabled: true, window: '10s', maxErrorRate: 0.2 },
      outlierDetection: { consecutiveErrors: 0 },
      webhooks: [{ url: hooks.url, retries: 0 }],
    }
    const replicas = [await replica(u, redis, patch), await replica(u, redis, patch), await replica(u, redis, patch)]
    u.green.status = 500
    await Promise.all(
      replicas.map(async (r) => {
        for (let i = 0; i < 3; i++) {
          const res = await fetch(r.proxyUrl, { headers: { 'x-switchyard-color': 'green' } })
          await res.text()
        }
      }),
    )
    // Each replica saw 3 green failures and no blue: alone, 3 of 3 is no proof green is over the
    // 20 % ceiling (it could be chance), and none reverts. The fleet's 9 are, within about a second.
    await eventually(async () => (await Promise.all(replicas.map(split))).every((s) => s.green === 0 && s.reverted !== null), 3_000)
    await sleep(1_000)
    const events = (await admin(replicas[2]!, 'GET', '/v1/events')).body as { type: string }[]
    expect(events.filter((e) => e.type === 'revert')).toHaveLength(1)
    const reverted = (await split(replicas[1]!)).reverted as { requests: number; errorRate: number; reason: string }
    expect(reverted.requests).toBeGreaterThan(3)
    expect(reverted.errorRate).toBe(1)
    expect(reverted.reason).toMatch(/^green error rate 100\.00% \(\d+ of \d+ in the window\) is above the ceiling 20\.00%; blue serves nothing to compare with$/)
    expect(hooks.requests.filter((r) => r.json.type === 'revert')).toHaveLength(1)
    const counted = await Promise.all(replicas.map(async (r) => /switchyard_reverts_total 1\b/.test(String((await admin(r, 'GET', '/metrics')).body))))
    expect(counted.filter(Boolean)).toHaveLength(1)
    // Raising green again does not revert at once: every replica forgot the old errors.
    u.green.status = 200
    expect((await admin(replicas[0]!, 'PUT', '/v1/split', { green: 10, force: true })).status).toBe(200)
    await sleep(800)
    expect((await split(replicas[2]!)).green).toBe(10)
  })
})

describe('fleet mode: rollouts', () => {
  const analysis = { interval: '100ms', minRequests: 20, confidence: 0.99, maxErrorRate: 0.05, maxP99: '500ms' }

  async function fleetWithLoad() {
    const blue = await startTunableUpstream('blue')
    const green = await startTunableUpstream('green')
    opened.push(blue, green)
    const redis = { url: SHARED_REDIS_URL, keyPrefix: fleetPrefix() }
    const patch = { autoRevert: { enabled: false }, rollout: { analysis } }
    const u = { blue, green } as unknown as { blue: ColorUpstream; green: ColorUpstream }
    const replicas = [await replica(u, redis, patch), await replica(u, redis, patch), await replica(u, redis, patch)]
    for (const r of replicas) {
      const load = startLoad(r.proxyUrl, 2)
      opened.push({ close: async () => void (await load.stop()) })
    }
    return { replicas, blue, green }
  }

  it('a rollout started through one replica is driven by one replica for the fleet: one event per step', async () => {
    const { replicas } = await fleetWithLoad()
    const started = await admin(replicas[1]!, 'POST', '/v1/rollout', {
      steps: [{ green: 10, hold: '200ms' }, { green: 50, hold: '200ms' }, { green: 100, hold: '200ms' }],
    })
    expect(started.status).toBe(201)
    // One replica leads the fleet's rollout, and says so; each lists the fleet's members.
    const states = await Promise.all(
      replicas.map(async (r) => ((await admin(r, 'GET', '/v1/status')).body as { state: { leader: boolean; replica: string; members: { replica: string }[] } }).state),
    )
    expect(states.filter((s) => s.leader)).toHaveLength(1)
    const ids = states.map((s) => s.replica)
    expect(new Set(ids).size).toBe(3)
    await eventually(async () => {
      const lists = await Promise.all(
        replicas.map(async (r) => ((await admin(r, 'GET', '/v1/status')).body as { state: { members: { replica: string }[] } }).state.members),
      )
      return lists.every((list) => JSON.stringify(list.map((m) => m.replica).sort()) === JSON.stringify([...ids].sort()))
    }, 3_000)
    await eventually(async () => ((await admin(replicas[2]!, 'GET', '/v1/rollout')).body as { phase: string }).phase === 'succeeded', 15_000, 50)
    const events = ((await admin(replicas[0]!, 'GET', '/v1/events')).body as { type: string; to: { green: number } | null }[]).reverse()
    expect(events.filter((e) => e.type === 'step').map((e) => e.to!.green)).toEqual([10, 50, 100])
    expect(events.filter((e) => e.type === 'promote')).toHaveLength(1)
    expect(events.filter((e) => e.type === 'succeeded')).toHaveLength(1)
    await eventually(async () => (await Promise.all(replicas.map(split))).every((s) => s.green === 100), 1_000)
  })

  it('when the replica that drives a rollout stops, another takes over at the same step', async () => {
    const { replicas } = await fleetWithLoad()
    expect((await admin(replicas[0]!, 'POST', '/v1/rollout', { steps: [{ green: 10, hold: '300ms' }, { green: 30, hold: '300ms' }, { green: 60, hold: '300ms' }] })).status).toBe(201)
    let leader: Replica | undefined
    await eventually(async () => {
      for (const r of replicas) if (await leads(r)) leader = r
      return leader !== undefined
    }, 3_000)
    await leader!.close()
    const rest = replicas.filter((r) => r !== leader)
    await eventually(async () => ((await admin(rest[0]!, 'GET', '/v1/rollout')).body as { phase: string }).phase === 'succeeded', 15_000, 50)
    const steps = ((await admin(rest[1]!, 'GET', '/v1/events')).body as { type: string; to: { green: number } | null }[]).filter((e) => e.type === 'step')
    expect(steps.map((e) => e.to!.green).reverse()).toEqual([10, 30, 60])
    const leaders = await Promise.all(rest.map(leads))
    expect(leaders.filter(Boolean)).toHaveLength(1)
  })

  it('a failing green is aborted once for the whole fleet', async () => {
    const { replicas, green } = await fleetWithLoad()
    green.failEvery = 2
    expect((await admin(replicas[0]!, 'POST', '/v1/rollout', { steps: [{ green: 50, hold: '10s' }, { green: 100, hold: '10s' }] })).status).toBe(201)
    await eventually(async () => ((await admin(replicas[1]!, 'GET', '/v1/rollout')).body as { phase: string }).phase === 'aborted', 10_000, 50)
    await sleep(500)
    const events = (await admin(replicas[2]!, 'GET', '/v1/events')).body as { type: string }[]
    expect(events.filter((e) => e.type === 'abort')).toHaveLength(1)
    expect((await Promise.all(replicas.map(split))).map((s) => s.green)).toEqual([0, 0, 0])
  })
})

describe('fleet mode: Redis trouble', () => {
  let own: OwnRedis | undefined
  afterEach(async () => {
    await own?.stop()
    own = undefined
  })

  /** Two replicas on a redis-server of this test's own, which it stops and starts. */
  async function ownFleet(persist: 'aof' | 'snapshot' | 'none', patch: Record<string, unknown> = {}) {
    own = await startOwnRedis({ persist })
    const u = await upstreams()
    const redis = { url: own.url, keyPrefix: 'fleet:' }
    return { server: own, u, redis, a: await replica(u, redis, patch), b: await replica(u, redis, patch) }
  }

  it('a shared state it cannot read is never overwritten: the replica serves from its config, says degraded and why', async () => {
    const u = await upstreams()
    const keyPrefix = fleetPrefix()
    const client = redisClient()
    try {
      await client.hset(`${keyPrefix}state`, 'rev', '3', 'epoch', 'e', 'doc', '{"version":9}')
      const a = await replica(u, { url: SHARED_REDIS_URL, keyPrefix }, { split: { green: 15 } })
      expect(await split(a)).toMatchObject({ green: 15, generation: 0 })
      expect(a.logs.text()).toContain('cannot be read at start')
      const health = (await admin(a, 'GET', '/healthz')).body as { status: string; detail: { state: string } }
      expect(health.status).toBe('degraded')
      expect(health.detail.state).toContain(`Redis key ${keyPrefix}state does not hold a switchyard state`)
      const refused = await admin(a, 'PUT', '/v1/split', { green: 50 })
      expect(refused).toMatchObject({ status: 503, body: { code: 'SY_ERR_STATE_UNAVAILABLE' } })
      expect(await client.hget(`${keyPrefix}state`, 'doc')).toBe('{"version":9}')
      // An operator deletes the keys: the replica stores its split and is healthy again.
      await client.del(`${keyPrefix}state`)
      await eventually(async () => (await healthOf(a)) === 'ok', 5_000)
      await eventually(async () => (await split(a)).generation === 1, 5_000)
      expect((await admin(a, 'PUT', '/v1/split', { green: 50 })).status).toBe(200)
    } finally {
      client.disconnect()
    }
  })

  it('Redis down: replicas keep routing with the last split, say degraded, refuse writes with 503, then heal', async () => {
    const { server, u, redis, a, b } = await ownFleet('aof')
    expect((await admin(a, 'PUT', '/v1/split', { green: 30 })).status).toBe(200)
    await eventually(async () => (await split(b)).green === 30, 1_000)
    const before = await colorsOf(a, 100)
    const acked = await split(a)

    await server.stop()
    for (const r of [a, b]) {
      await eventually(async () => (await healthOf(r)) === 'degraded', 3_000)
      const health = await admin(r, 'GET', '/healthz')
      expect(health.status).toBe(200)
      expect(health.body).toMatchObject({ status: 'degraded', detail: { store: { store: 'redis', connected: false } } })
      expect((await admin(r, 'GET', '/v1/status')).body).toMatchObject({ status: 'degraded', state: { connected: false } })
      expect((await admin(r, 'GET', '/metrics')).body).toMatch(/switchyard_state_store_connected 0\b/)
    }
    // Serving as before, with the same colours.
    expect(await colorsOf(b, 100)).toEqual(before)
    const refused = await admin(b, 'PUT', '/v1/split', { green: 80 })
    expect(refused.status).toBe(503)
    expect(refused.body).toMatchObject({ code: 'SY_ERR_STATE_UNAVAILABLE' })
    expect((refused.body as { message: string }).message).toMatch(/shared state store is unavailable.*keeps routing with its last known split/)
    expect(await split(b)).toEqual(acked)
    expect((await admin(a, 'PUT', '/v1/upstreams/green', { targets: ['http://127.0.0.1:1'] })).status).toBe(503)
    expect(a.targets().green).toEqual([u.green.url])

    // A replica started now starts from its config and says so.
    const c = await replica(u, redis, { split: { green: 5 } })
    expect(await split(c)).toMatchObject({ green: 5, generation: 0 })
    expect(c.logs.lines().some((l) => /Redis is unreachable at start/.test(String(l.msg)))).toBe(true)
    // Not ready (it would route with another split than the fleet), while the others are.
    expect(await admin(c, 'GET', '/readyz')).toMatchObject({ status: 503, body: { reason: expect.stringMatching(/fleet's split/) as unknown } })
    expect((await admin(a, 'GET', '/readyz')).status).toBe(200)

    await server.start()
    for (const r of [a, b, c]) {
      await eventually(async () => (await healthOf(r)) === 'ok', 5_000)
    }
    // What the admin was told succeeded is still the split, and the late replica adopted it.
    await eventually(async () => (await split(c)).green === 30, 2_000)
    expect(await split(c)).toEqual(acked)
    expect((await admin(c, 'GET', '/readyz')).status).toBe(200)
    expect(await colorsOf(c, 100)).toEqual(before)
    expect((await admin(c, 'PUT', '/v1/split', { green: 40 })).status).toBe(200)
    await eventually(async () => (await split(a)).green === 40 && (await split(b)).green === 40, 1_000)
  })

  it('a revert tripped while Redis is down acts at once on that replica and reaches the fleet when Redis returns', async () => {
    const patch = {
      split: { green: 50 },
      autoRevert: { enabled: true, window: '10s', maxErrorRate: 0.2 },
      outlierDetection: { consecutiveErrors: 0 },
    }
    const { server, u, a, b } = await ownFleet('aof', patch)
    await server.stop()
    await eventually(async () => (await healthOf(a)) === 'degraded', 3_000)
    u.green.status = 500
    for (let i = 0; i < 15; i++) await (await fetch(a.proxyUrl, { headers: { 'x-switchyard-color': 'green' } })).text()
    // a judges its own traffic and sends green to 0 at once; b cannot know yet.
    await eventually(async () => (await split(a)).green === 0, 2_000)
    expect((await split(b)).green).toBe(50)

    await server.start()
    await eventually(async () => (await split(b)).green === 0, 5_000)
    // a reverted on its own counts, as soon as they were evidence enough (4 of them at least).
    const reverted = (await split(b)).reverted as { requests: number; errorRate: number }
    expect(reverted.errorRate).toBe(1)
    expect(reverted.requests).toBeGreaterThanOrEqual(4)
    expect(reverted.requests).toBeLessThanOrEqual(15)
    expect(await split(a)).toEqual(await split(b))
    const events = (await admin(b, 'GET', '/v1/events')).body as { type: string }[]
    expect(events.filter((e) => e.type === 'revert')).toHaveLength(1)
  })

  it('a Redis that hangs: writes get 503 within about two seconds, never land later, and the fleet heals', async () => {
    const { server, a, b } = await ownFleet('aof')
    expect((await admin(a, 'PUT', '/v1/split', { green: 30 })).status).toBe(200)
    await eventually(async () => (await split(b)).green === 30, 1_000)
    const acked = await split(a)
    const before = await colorsOf(a, 50)

    server.pause()
    const asked = Date.now()
    const refused = await admin(a, 'PUT', '/v1/split', { green: 60 })
    expect(refused.status).toBe(503)
    expect(Date.now() - asked).toBeLessThan(2_500)
    expect(await colorsOf(a, 50)).toEqual(before)
    await eventually(async () => (await healthOf(b)) === 'degraded', 3_000)

    server.resume()
    for (const r of [a, b]) {
      await eventually(async () => (await healthOf(r)) === 'ok', 5_000)
    }
    // The refused write was held in Redis's socket while it hung; it ran too late and wrote nothing.
    await sleep(600)
    expect(await split(a)).toEqual(acked)
    expect(await split(b)).toEqual(acked)
    expect((await admin(b, 'PUT', '/v1/split', { green: 35 })).status).toBe(200)
  })

  it('a Redis restarted from an older snapshot gets the newer split back: nothing acknowledged is lost', async () => {
    const { server, a, b } = await ownFleet('snapshot')
    expect((await admin(a, 'PUT', '/v1/split', { green: 20 })).status).toBe(200)
    const client = redisClient(server.url)
    try {
      await client.save()
    } finally {
      client.disconnect()
    }
    // Acknowledged after the snapshot: a Redis restart from it would forget this.
    expect((await admin(b, 'PUT', '/v1/split', { green: 40, reason: 'after the snapshot' })).status).toBe(200)
    await eventually(async () => (await split(a)).green === 40, 1_000)
    const acked = await split(a)
    const events = (await admin(a, 'GET', '/v1/events')).body

    await server.stop()
    await server.start()
    const check = redisClient(server.url)
    try {
      await eventually(async () => {
        const doc = await check.hget('fleet:state', 'doc').catch(() => null)
        return doc !== null && (JSON.parse(doc) as { split: { green: number } }).split.green === 40
      }, 5_000)
      expect(await check.lindex('fleet:events', 0)).toContain('after the snapshot')
    } finally {
      check.disconnect()
    }
    for (const r of [a, b]) {
      expect(await split(r)).toEqual(acked)
      expect((await admin(r, 'GET', '/v1/events')).body).toEqual(events)
    }
    // One replica may have put the doc back while the other still reconnects (and answers writes 503, rightly).
    for (const r of [a, b]) await eventually(async () => (await healthOf(r)) === 'ok', 5_000)
    expect((await admin(a, 'PUT', '/v1/split', { green: 45 })).status).toBe(200)
    await eventually(async () => (await split(b)).green === 45, 1_000)
  })

  it('a Redis that comes back empty gets the fleet’s split back from the replicas', async () => {
    const { server, a, b } = await ownFleet('none')
    expect((await admin(a, 'PUT', '/v1/split', { green: 20, reason: 'canary' })).status).toBe(200)
    await eventually(async () => (await split(b)).green === 20, 1_000)
    const events = (await admin(a, 'GET', '/v1/events')).body

    await server.stop()
    await server.start()
    const client = redisClient(server.url)
    try {
      await eventually(async () => (await client.hget('fleet:state', 'doc')) !== null, 5_000)
      expect(JSON.parse((await client.hget('fleet:state', 'doc'))!)).toMatchObject({ split: { green: 20 } })
    } finally {
      client.disconnect()
    }
    expect(await split(a)).toMatchObject({ green: 20 })
    expect(await split(b)).toMatchObject({ green: 20 })
    expect((await admin(b, 'GET', '/v1/events')).body).toEqual(events)
    for (const r of [a, b]) await eventually(async () => (await healthOf(r)) === 'ok', 5_000)
    expect((await admin(b, 'PUT', '/v1/split', { green: 25 })).status).toBe(200)
    await eventually(async () => (await split(a)).green === 25, 1_000)
  })
})
