import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import type { Config } from '../../src/config/schema.js'
import { encodeState } from '../../src/state/codec.js'
import { StateFileError } from '../../src/state/errors.js'
import { FileStateStore } from '../../src/state/file-store.js'
import { openServiceStates, type ServiceStates } from '../../src/state/service-states.js'
import type { PersistedState } from '../../src/state/types.js'
import { memoryLogger } from '../helpers/logs.js'
import { dropPrefix, redisClient, SHARED_REDIS_URL, uniquePrefix } from '../helpers/redis.js'
import { until } from '../helpers/wait.js'

const state = (green: number, generation: number, reason = 'r'): PersistedState => ({
  split: { greenBuckets: green, generation, reverted: null },
  events: [{ at: '2026-01-01T00:00:00.000Z', type: 'split', from: { blue: 100, green: 0 }, to: { blue: 100 - green / 100, green: green / 100 }, source: 'api', reason }],
  rollout: null,
  targets: null,
  release: null,
})

/** Only what openServiceStates reads of a config. */
const config = (file: string, keyPrefix?: string): Config =>
  ({
    state: { file, redis: keyPrefix === undefined ? null : { url: SHARED_REDIS_URL, keyPrefix, sentinel: null } },
    autoRevert: { window: 10_000 },
  }) as unknown as Config

const opened: ServiceStates[] = []
const prefixes: string[] = []

async function states(file: string, keyPrefix?: string): Promise<ServiceStates> {
  const s = await openServiceStates(config(file, keyPrefix), memoryLogger().logger)
  opened.push(s)
  return s
}

async function stateFile(): Promise<string> {
  return join(await mkdtemp(join(tmpdir(), 'sy-services-')), 'state.json')
}

const onDisk = async (file: string) => JSON.parse(await readFile(file, 'utf8')) as { version: number; services?: Record<string, unknown> }

afterEach(async () => {
  for (const s of opened.splice(0)) await s.close()
})
afterAll(async () => {
  for (const p of prefixes) await dropPrefix(p)
})

describe('ServiceStates on the state file', () => {
  it('loads a version-1 file as `default` and keeps it version 1 while only default saves', async () => {
    const file = await stateFile()
    await new FileStateStore(file).save(state(1000, 1))
    const s = await states(file)
    const { store, fleet } = await s.open('default')
    expect(store.kind).toBe('file')
    expect(fleet).toBeNull()
    expect(await store.load()).toEqual(state(1000, 1))
    await store.save(state(2000, 2))
    expect(await onDisk(file)).toEqual(encodeState(state(2000, 2), true))
    // An older switchyard reads it as it always did.
    expect(await new FileStateStore(file).load()).toEqual(state(2000, 2))
    expect(await s.stored()).toEqual(['default'])
  })

  it('becomes version 2 when a second service saves, holding both, and both reload after reopening', async () => {
    const file = await stateFile()
    await new FileStateStore(file).save(state(1000, 1))
    const api = (await (await states(file)).open('api')).store
    expect(await api.load()).toBeNull()
    await api.save(state(500, 1, 'api'))
    expect(await onDisk(file)).toEqual({
      version: 2,
      services: { api: encodeState(state(500, 1, 'api'), true), default: encodeState(state(1000, 1), true) },
    })
    const again = await states(file)
    expect(await (await again.open('default')).store.load()).toEqual(state(1000, 1))
    expect(await (await again.open('api')).store.load()).toEqual(state(500, 1, 'api'))
    expect(await again.stored()).toEqual(['api', 'default'])
  })

  it('lands concurrent saves of three services, one durable rename at a time, leaving no temp file', async () => {
    const file = await stateFile()
    const s = await states(file)
    const stores = await Promise.all(['default', 'api', 'web'].map(async (name) => (await s.open(name)).store))
    // Each save resolves only once a write holding it is on disk.
    const names = ['default', 'api', 'web']
    await Promise.all(
      stores.flatMap((store, i) =>
        [1, 2, 3, 4, 5].map(async (g) => {
          await store.save(state(i * 1000 + g, g))
          const doc = await onDisk(file)
          const entry = (doc.version === 2 ? doc.services?.[names[i]!] : doc) as { split: { generation: number } }
          expect(entry.split.generation).toBeGreaterThanOrEqual(g)
        }),
      ),
    )
    const again = await states(file)
    for (const [i, name] of ['default', 'api', 'web'].entries()) {
      expect(await (await again.open(name)).store.load()).toEqual(state(i * 1000 + 5, 5))
    }
    expect(await readdir(join(file, '..'))).toEqual(['state.json'])
  })

  it('forgets one service, writing the file without it; with only default left it is version 1 again', async () => {
    const file = await stateFile()
    const s = await states(file)
    for (const [i, name] of ['default', 'api', 'web'].entries()) await (await s.open(name)).store.save(state(i * 100, 1))
    await s.forget('web')
    expect(Object.keys((await onDisk(file)).services ?? {})).toEqual(['api', 'default'])
    expect(await (await states(file)).stored()).toEqual(['api', 'default'])
    await s.forget('api')
    expect((await onDisk(file)).version).toBe(1)
    expect(await (await states(file)).stored()).toEqual(['default'])
  })

  it('refuses a version-2 file with a bad entry, naming the file and the service', async () => {
    const file = await stateFile()
    const bad = { ...encodeState(state(100, 1), true), split: { green: 500, generation: 1, reverted: null } }
    await writeFile(file, JSON.stringify({ version: 2, services: { default: encodeState(state(100, 1), true), api: bad } }))
    const { store } = await (await states(file)).open('default')
    const err = await store.load().catch((e: unknown) => e)
    expect(err).toBeInstanceOf(StateFileError)
    expect((err as Error).message).toContain(`state file ${file} does not hold a switchyard state for service "api" at /split/green`)
    // Nothing is written over a file that could not be read.
    await expect(store.save(state(200, 2))).rejects.toBeInstanceOf(StateFileError)
    expect((await onDisk(file)).services?.api).toEqual(bad)
  })
})

describe('ServiceStates on Redis', () => {
  async function fleetStates(keyPrefix: string): Promise<ServiceStates> {
    return states(await stateFile(), keyPrefix)
  }
  const prefix = () => {
    const p = uniquePrefix()
    prefixes.push(p)
    return p
  }

  it('keeps default under today\'s keys and another service under <prefix>svc:<name>:, each with its own state', async () => {
    const p = prefix()
    const s = await fleetStates(p)
    const def = await s.open('default')
    const api = await s.open('api')
    expect(def.fleet).not.toBeNull()
    expect(api.fleet?.link).toBe(def.fleet?.link)
    for (const { store } of [def, api]) expect(await store.load()).toBeNull()
    await def.store.save(state(1000, 1), null)
    await api.store.save(state(2000, 1), null)
    const client = redisClient()
    expect(await client.exists(`${p}state`, `${p}svc:api:state`)).toBe(2)
    client.disconnect()
    const again = await fleetStates(p)
    expect((await (await again.open('default')).store.load())?.split.greenBuckets).toBe(1000)
    expect((await (await again.open('api')).store.load())?.split.greenBuckets).toBe(2000)
    expect(await again.stored()).toEqual(['api', 'default'])
  })

  it('gives each service its own rollout lease', async () => {
    const p = prefix()
    const [a, b] = [await fleetStates(p), await fleetStates(p)]
    const aDefault = (await a.open('default')).fleet!
    const bDefault = (await b.open('default')).fleet!
    const bApi = (await b.open('api')).fleet!
    aDefault.lease.start()
    await until(() => aDefault.lease.leads())
    // b cannot take default's lease from a, but leads api: the leases do not exclude each other.
    bDefault.lease.start()
    bApi.lease.start()
    await until(() => bApi.lease.leads())
    expect(bDefault.lease.leads()).toBe(false)
    const client = redisClient()
    expect(await client.get(`${p}leader`)).toBe(aDefault.lease.id)
    expect(await client.get(`${p}svc:api:leader`)).toBe(bApi.lease.id)
    client.disconnect()
  })

  it('forgets one service\'s state and events, leaving the others', async () => {
    const p = prefix()
    const s = await fleetStates(p)
    for (const [i, name] of ['default', 'api', 'web'].entries()) {
      const { store } = await s.open(name)
      await store.load()
      await store.save(state(i * 100, 1), null)
    }
    await s.forget('api')
    expect(await s.stored()).toEqual(['default', 'web'])
    const client = redisClient()
    expect(await client.exists(`${p}svc:api:state`, `${p}svc:api:events`)).toBe(0)
    client.disconnect()
  })

  it('closes the shared link once, after every fleet', async () => {
    const s = await fleetStates(prefix())
    const { fleet } = await s.open('api')
    await fleet?.close()
    expect(fleet?.link.connected).toBe(true)
    await s.close()
    expect(fleet?.link.connected).toBe(false)
  })
})
