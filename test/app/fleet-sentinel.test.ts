import { afterEach, describe, expect, it } from 'vitest'
import { StateUnavailableError } from '../../src/state/errors.js'
import { RedisLink } from '../../src/state/redis/link.js'
import { RedisStateStore } from '../../src/state/redis/store.js'
import { memoryLogger } from '../helpers/logs.js'
import { admin, startTestApp, testConfig } from '../helpers/app.js'
import { startColorUpstream } from '../helpers/color-upstream.js'
import { startSentinelGroup, type SentinelGroup } from '../helpers/redis.js'
import { eventually } from '../helpers/wait.js'

const opened: { close(): Promise<void> }[] = []
let group: SentinelGroup | undefined
afterEach(async () => {
  for (const thing of opened.splice(0).reverse()) await thing.close()
  await group?.stop()
  group = undefined
})

type Split = { green: number; generation: number }

describe('fleet mode behind Redis Sentinel', () => {
  it('replicas find the master through the sentinel and keep the split across a failover', async () => {
    group = await startSentinelGroup()
    const blue = await startColorUpstream('blue')
    const green = await startColorUpstream('green')
    opened.push(blue, green)
    const redis = { sentinels: [`127.0.0.1:${group.sentinelPort}`], name: 'mymaster', keyPrefix: 'fleet:' }
    const replicas = []
    for (let i = 0; i < 2; i++) {
      const app = await startTestApp(await testConfig([blue.url], [green.url], { state: { redis } }))
      opened.push(app)
      replicas.push(app)
    }
    const [a, b] = replicas as [(typeof replicas)[number], (typeof replicas)[number]]
    expect((await admin(a, 'PUT', '/v1/split', { green: 30 })).status).toBe(200)
    await eventually(async () => ((await admin(b, 'GET', '/v1/split')).body as Split).green === 30, 1_000)
    expect((await admin(a, 'GET', '/healthz')).body).toMatchObject({ status: 'ok', detail: { store: { connected: true } } })

    // A store pointed at the read-only replica counts that as unavailable (503), not as a bug (500).
    const link = new RedisLink({ url: `redis://127.0.0.1:${group.replicaPort}` }, memoryLogger().logger)
    try {
      expect(await link.ready(3_000)).toBe(true)
      const store = new RedisStateStore(link, { keyPrefix: 'fleet:', logger: memoryLogger().logger })
      await store.load()
      const err = await store.save({ split: { greenBuckets: 0, generation: 9, reverted: null }, events: [] }).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(StateUnavailableError)
      expect((err as Error).message).toMatch(/READONLY/)
    } finally {
      await link.close()
    }

    await group.killMaster()
    await group.waitForMaster(group.replicaPort)
    // Once the sentinel has promoted the replica, writes work again through either replica...
    await eventually(async () => (await admin(b, 'PUT', '/v1/split', { green: 40 })).status === 200, 15_000, 200)
    await eventually(async () => ((await admin(a, 'GET', '/v1/split')).body as Split).green === 40, 2_000)
    // ... and what was written before the failover is still there (replicated, or put back by a replica).
    const events = (await admin(a, 'GET', '/v1/events')).body as { to: { green: number } }[]
    expect(events.map((e) => e.to.green).slice(0, 2)).toEqual([40, 30])
    for (const r of [a, b]) expect(((await admin(r, 'GET', '/healthz')).body as { status: string }).status).toBe('ok')
  })
})
