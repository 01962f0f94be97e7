/**
 * Each service's release kept apart and kept (issue #15): across a restart (one state file, a
 * version-2 document), across a fleet (one Redis, a key prefix per service), and across a
 * reload that adds and removes services while the others' requests stream on.
 */
import { readFile } from 'node:fs/promises'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { admin, startTestApp } from '../helpers/app.js'
import { dropPrefix, redisClient, SHARED_REDIS_URL, uniquePrefix } from '../helpers/redis.js'
import { gate } from '../helpers/upstream-server.js'
import { eventually } from '../helpers/wait.js'
import { colorsOf, configOf, send, servicesRaw, setGreen, splitOf, startUpstreams, streamBody, who, type Answer } from './helpers.js'

const opened: { close(): Promise<void> }[] = []
const prefixes: string[] = []
afterEach(async () => {
  for (const thing of opened.splice(0).reverse()) await thing.close()
})
afterAll(async () => {
  for (const p of prefixes) await dropPrefix(p)
})

async function start(raw: Record<string, unknown>) {
  const app = await startTestApp(configOf(raw))
  opened.push(app)
  return app
}

const stateFileOf = (raw: Record<string, unknown>) => (raw.state as { file: string }).file

interface ServiceListing {
  defaultService: string | null
  services: { name: string; configured: boolean; split: { green: number } | null; match?: unknown }[]
}

describe('the state of several services', () => {
  it('restores every service after a restart from one version-2 state file', async () => {
    const u = await startUpstreams(['api', 'models', 'web'], opened)
    const raw = await servicesRaw(u, { api: { split: { green: 10 } }, models: {}, web: {} })
    const first = await start(raw)
    await setGreen(first, 'api', 30)
    await setGreen(first, 'web', 70)
    await setGreen(first, 'web', 100)
    const before = { api: await splitOf(first, 'api'), web: await splitOf(first, 'web'), models: await splitOf(first, 'models') }
    const webEvents = (await admin(first, 'GET', '/v1/services/web/events')).body
    await first.close()

    const doc = JSON.parse(await readFile(stateFileOf(raw), 'utf8')) as { version: number; services: Record<string, { version: number; split: { green: number; generation: number } }> }
    expect(doc.version).toBe(2)
    expect(doc.services.api).toMatchObject({ version: 1, split: { green: 30, generation: before.api.generation } })
    expect(doc.services.web).toMatchObject({ version: 1, split: { green: 100, generation: before.web.generation } })
    expect(Object.keys(doc.services)).not.toContain('default')

    // The config's split.green (10 for api) is only the first start's.
    const second = await start(raw)
    expect(await splitOf(second, 'api')).toEqual(before.api)
    expect(await splitOf(second, 'web')).toEqual(before.web)
    expect(await splitOf(second, 'models')).toEqual(before.models)
    expect(before.api).toMatchObject({ green: 30 })
    expect((await admin(second, 'GET', '/v1/services/web/events')).body).toEqual(webEvents)
    // Routing follows the restored splits.
    expect(await colorsOf(second, 'other.test', '/web', 20)).toEqual({ 'web-green': 20 })
    const api = await colorsOf(second, 'api.example.test', '/', 100)
    expect(api['api-green']).toBeGreaterThan(10)
    expect(api['api-green']).toBeLessThan(55)
    expect(await colorsOf(second, 'a.models.test', '/v1', 10)).toEqual({ 'models-blue': 10 })
  })

  it('shares a service split through Redis with the other replica, for that service alone', async () => {
    const u = await startUpstreams(['api', 'web'], opened)
    const keyPrefix = uniquePrefix()
    prefixes.push(keyPrefix)
    const raw = await servicesRaw(u, { api: {}, web: { split: { green: 20 } } }, { state: { redis: { url: SHARED_REDIS_URL, keyPrefix } } })
    const a = await start(raw)
    const b = await start(raw)
    expect(await splitOf(b, 'api')).toMatchObject({ green: 0 })
    const webBefore = await splitOf(b, 'web')
    expect(webBefore).toMatchObject({ green: 20 })

    const changed = await setGreen(a, 'api', 100)
    await eventually(async () => (await splitOf(b, 'api')).green === 100, 10_000)
    expect(await splitOf(b, 'api')).toEqual(await splitOf(a, 'api'))
    expect((await splitOf(b, 'api')).generation).toBe(changed.generation)
    expect(await colorsOf(b, 'api.example.test', '/', 20)).toEqual({ 'api-green': 20 })
    // Web on B: the same as before, on A too.
    expect(await splitOf(b, 'web')).toEqual(webBefore)
    expect(await splitOf(a, 'web')).toEqual(webBefore)
    const bEvents = (await admin(b, 'GET', '/v1/services/web/events')).body as { type: string }[]
    expect(bEvents.some((e) => e.type === 'split')).toBe(false)

    // Each service under its own keys: <prefix>svc:<name>:.
    const redis = redisClient()
    try {
      const api = JSON.parse((await redis.hget(`${keyPrefix}svc:api:state`, 'doc')) ?? 'null') as { split: { green: number } } | null
      const web = JSON.parse((await redis.hget(`${keyPrefix}svc:web:state`, 'doc')) ?? 'null') as { split: { green: number } } | null
      expect(api?.split.green).toBe(100)
      expect(web?.split.green).toBe(20)
      expect(await redis.exists(`${keyPrefix}state`)).toBe(0)
    } finally {
      redis.disconnect()
    }
  })

  it('a reload adds and removes services while the others stream on; a removed service is listed until deleted', async () => {
    const u = await startUpstreams(['api', 'models', 'web', 'extra'], opened)
    const sections: Record<string, Record<string, unknown>> = { api: {}, models: {}, web: {} }
    const raw = await servicesRaw(u, sections)
    const app = await start(raw)
    await setGreen(app, 'models', 60)
    expect(await who(app, 'a.models.test', '/v1')).toMatch(/^models-/)
    expect((await send(app, 'extra.test', '/')).status).toBe(404)

    // Slow streams on web and api, held open (half sent) until the reload is done.
    const held = gate()
    u.web!.blue.midStream = held.promise
    u.api!.blue.midStream = held.promise
    opened.push({ close: async () => held.open() })
    const got: Record<string, string> = { web: '', api: '' }
    const streams: Record<string, Promise<Answer>> = {
      web: send(app, 'other.test', '/web/stream', { 'x-user-id': 'u-1' }, (c) => (got.web += c)),
      api: send(app, 'api.example.test', '/stream', { 'x-user-id': 'u-1' }, (c) => (got.api += c)),
    }
    const half = (name: string) => streamBody(name).split('\n').slice(0, 5).join('\n') + '\n'
    await eventually(async () => got.web === half('web-blue') && got.api === half('api-blue'), 10_000)

    const next = structuredClone(raw)
    const nextServices = next.services as Record<string, unknown>
    delete nextServices.models
    nextServices.extra = { match: { hosts: ['extra.test'] }, upstreams: { blue: { targets: [u.extra!.blue.url] }, green: { targets: [u.extra!.green.url] } } }
    await app.reload(configOf(next))

    expect(await who(app, 'extra.test', '/')).toBe('extra-blue')
    const gone = await send(app, 'a.models.test', '/v1')
    expect(gone.status).toBe(404)
    expect(JSON.parse(gone.body)).toMatchObject({ code: 'SY_ERR_NO_SERVICE' })
    expect(app.service('models')).toBeUndefined()
    expect(app.service('extra')).toBeDefined()

    expect(got).toEqual({ web: half('web-blue'), api: half('api-blue') })
    held.open()
    const web = await streams.web!
    const api = await streams.api!
    expect(web).toMatchObject({ status: 200, body: streamBody('web-blue') })
    expect(api).toMatchObject({ status: 200, body: streamBody('api-blue') })
    expect(await who(app, 'other.test', '/static/a')).toBe('web-blue')
    expect(await who(app, 'api.example.test', '/')).toBe('api-blue')

    // Removed but stored: listed as not configured, until deleted.
    const listing = (await admin(app, 'GET', '/v1/services')).body as ServiceListing
    const byName = Object.fromEntries(listing.services.map((s) => [s.name, s]))
    expect(Object.keys(byName).sort()).toEqual(['api', 'extra', 'models', 'web'])
    // Its split as it was left (60 % green before the reload), kept in the store.
    expect(byName.models).toMatchObject({ configured: false, split: { green: 60 }, phase: 'idle' })
    expect(byName.models!.match).toBeUndefined()
    expect(byName.extra).toMatchObject({ configured: true, split: { green: 0 }, match: { hosts: ['extra.test'] } })
    expect(await admin(app, 'GET', '/v1/services/models/split')).toMatchObject({ status: 404, body: { code: 'SY_ERR_UNKNOWN_SERVICE' } })

    expect(await admin(app, 'DELETE', '/v1/services/web')).toMatchObject({ status: 409, body: { code: 'SY_ERR_SERVICE_CONFIGURED' } })
    expect((await admin(app, 'DELETE', '/v1/services/models')).status).toBe(204)
    expect(await admin(app, 'DELETE', '/v1/services/models')).toMatchObject({ status: 404, body: { code: 'SY_ERR_UNKNOWN_SERVICE' } })
    const after = (await admin(app, 'GET', '/v1/services')).body as ServiceListing
    expect(after.services.map((s) => s.name).sort()).toEqual(['api', 'extra', 'web'])
    const doc = JSON.parse(await readFile(stateFileOf(raw), 'utf8')) as { version: number; services: Record<string, unknown> }
    expect(doc.version).toBe(2)
    expect(Object.keys(doc.services)).not.toContain('models')
    expect(Object.keys(doc.services)).toContain('web')
  })
})
