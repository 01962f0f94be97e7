/**
 * Several services in one fleet: each service's rollout lease is held by one replica, and the
 * leases spread over the replicas by rendezvous hashing (each lease ranks the live replicas by
 * its own hash), instead of the first replica to start holding them all.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { admin, startTestApp } from '../helpers/app.js'
import { dropPrefix, SHARED_REDIS_URL, uniquePrefix } from '../helpers/redis.js'
import { eventually } from '../helpers/wait.js'
import { rankedFirst } from '../../src/state/redis/fleet.js'
import { configOf, servicesRaw, startUpstreams } from './helpers.js'

const opened: { close(): Promise<void> }[] = []
const prefixes: string[] = []
afterEach(async () => {
  for (const closing of opened.splice(0).reverse()) await closing.close()
})
afterAll(async () => {
  for (const prefix of prefixes) await dropPrefix(prefix)
})

type Fleet = { replica: string; leader: boolean }
const fleetOf = async (app: { adminUrl: string }, service: string) =>
  ((await admin(app, 'GET', `/v1/services/${service}/status`)).body as { state: Fleet }).state

describe('rollout leases of several services', () => {
  it('ranks replicas per service, so leases spread rather than pile on one replica', () => {
    const replicas = ['host-a/101/1f2e3d4c', 'host-b/202/5a6b7c8d', 'host-c/303/9e0f1a2b']
    const held = new Map<string, number>()
    for (let i = 0; i < 60; i++) {
      const first = rankedFirst(`switchyard:svc:svc-${i}:`, replicas)!
      held.set(first, (held.get(first) ?? 0) + 1)
    }
    expect([...held.keys()].sort()).toEqual([...replicas].sort())
    for (const count of held.values()) expect(count).toBeGreaterThanOrEqual(10)
    // The order the replicas are listed in changes nothing.
    expect(rankedFirst('switchyard:svc:api:', replicas)).toBe(rankedFirst('switchyard:svc:api:', [...replicas].reverse()))
  })

  it('two replicas: every service has one leader, the one its ranking names, though one replica started first', async () => {
    const names = ['api', 'v2', 'models', 'web']
    const u = await startUpstreams(names, opened)
    const keyPrefix = uniquePrefix()
    prefixes.push(keyPrefix)
    const raw = await servicesRaw(u, Object.fromEntries(names.map((n) => [n, {}])), { state: { redis: { url: SHARED_REDIS_URL, keyPrefix } } })
    const a = await startTestApp(configOf(raw))
    opened.push(a)
    // Alone, the first replica leads every service.
    await eventually(async () => (await Promise.all(names.map((n) => fleetOf(a, n)))).every((f) => f.leader), 15_000)
    const b = await startTestApp(configOf(raw))
    opened.push(b)
    const ids = [(await fleetOf(a, 'api')).replica, (await fleetOf(b, 'api')).replica]
    const prefixOf = (name: string) => `${keyPrefix}svc:${name}:`
    // Then each lease moves to (or stays with) the replica that ranks first for it.
    await eventually(
      async () => {
        for (const name of names) {
          const [fa, fb] = await Promise.all([fleetOf(a, name), fleetOf(b, name)])
          const expected = rankedFirst(prefixOf(name), ids)
          if (fa.leader === fb.leader) return false
          if ((fa.leader ? fa.replica : fb.replica) !== expected) return false
        }
        return true
      },
      30_000,
    )
  }, 60_000)
})
