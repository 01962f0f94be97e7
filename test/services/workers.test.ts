/**
 * Several services behind proxy workers (issue #15, `workers: 2`): ClusterServicesDataPlane
 * driven directly, as app.ts drives it, with plain tables and real upstreams that answer
 * `<service>-<colour>`. Each request goes on a fresh connection, so both workers serve.
 */
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Config } from '../../src/config/schema.js'
import { servicesOf, type ServiceSpec } from '../../src/config/services.js'
import { ClusterServicesDataPlane } from '../../src/dataplane/cluster/services-primary.js'
import type { ServiceInput } from '../../src/dataplane/services.js'
import { configTargets } from '../../src/demo/demo-upstreams.js'
import { Metrics } from '../../src/metrics/metrics.js'
import type { WindowDelta } from '../../src/outcomes/window-delta.js'
import { makeTable } from '../../src/routing/types.js'
import { eventually } from '../helpers/wait.js'
import { configOf, send, servicesRaw, startUpstreams, STREAM_CHUNKS, type Upstreams } from './helpers.js'

const opened: { close(): Promise<void> }[] = []
let u: Upstreams
let planes: ClusterServicesDataPlane
let proxy: { proxyUrl: string }
/** Requests each service's `merge` received from the workers' window deltas. */
const merged: Record<string, number> = {}

const HOST: Record<string, [host: string, path: string]> = { api: ['api.example.test', '/'], web: ['other.test', '/web'], extra: ['extra.test', '/'] }
const table = (green: number, generation = 1) => makeTable(generation, green * 100)

async function configFor(sections: Record<string, Record<string, unknown>>): Promise<Config> {
  return configOf(await servicesRaw(u, sections, { workers: 2, log: { level: 'error' } }))
}

function inputOf(spec: ServiceSpec, green: number, metrics: Metrics): ServiceInput {
  merged[spec.name] = 0
  return {
    spec,
    targets: configTargets(spec.config, undefined),
    table: table(green),
    metrics: metrics.service(spec.name),
    shadows: () => undefined,
    record: null,
    merge: (deltas: readonly WindowDelta[]) => (merged[spec.name] = (merged[spec.name] ?? 0) + deltas.reduce((n, d) => n + d.requests, 0)),
  }
}

/** What `n` users on fresh connections get from a service, as counts per body. */
async function bodies(service: string, n: number, tag = ''): Promise<Record<string, number>> {
  const [host, path] = HOST[service]!
  const answers = await Promise.all(Array.from({ length: n }, (_, i) => send(proxy, host, path, { 'x-user-id': `${service}${tag}-${i}` })))
  const seen: Record<string, number> = {}
  for (const a of answers) seen[a.status === 200 ? a.body : String(a.status)] = (seen[a.status === 200 ? a.body : String(a.status)] ?? 0) + 1
  return seen
}

beforeAll(async () => {
  u = await startUpstreams(['api', 'web', 'extra'], opened)
  const config = await configFor({ api: {}, web: {} })
  const metrics = new Metrics({ services: true })
  const green: Record<string, number> = { api: 0, web: 100 }
  const inputs = servicesOf(config).map((spec) => inputOf(spec, green[spec.name]!, metrics))
  planes = await ClusterServicesDataPlane.start(config, inputs, pino({ level: 'silent' }), null)
  proxy = { proxyUrl: `http://127.0.0.1:${planes.port}` }
}, 60_000)
afterAll(async () => {
  await planes?.close(1_000)
  for (const thing of opened.splice(0).reverse()) await thing.close()
})

describe('several services with workers: 2', { timeout: 30_000 }, () => {
  it("routes each service by Host and path to its own table's colour, in both workers, and hands each its own counts", async () => {
    expect(await bodies('api', 20)).toEqual({ 'api-blue': 20 })
    expect(await bodies('web', 20)).toEqual({ 'web-green': 20 })
    expect(await bodies('extra', 4)).toEqual({ '404': 4 })
    // Both workers served each service; each reports per service.
    for (const name of ['api', 'web']) {
      const workers = await planes.plane(name).workers()
      expect(workers).toHaveLength(2)
      expect(workers.every((w) => w.requests > 0)).toBe(true)
      expect(workers.reduce((n, w) => n + w.requests, 0)).toBe(20)
    }
    expect(planes.takeOwn('api')).toBeUndefined()
    await eventually(async () => merged.api === 20 && merged.web === 20, 3_000)
    // The workers' registries carry the service label.
    const remote = JSON.stringify(await planes.plane('api').remoteMetrics())
    expect(remote).toContain('"service":"api"')
    expect(remote).toContain('"service":"web"')
  })

  it("a publish moves only its service, in every worker, by the time it resolves", async () => {
    await planes.plane('api').publish(table(100, 2))
    expect(await bodies('api', 20, 'a')).toEqual({ 'api-green': 20 })
    expect(await bodies('web', 20, 'a')).toEqual({ 'web-green': 20 })
    await planes.plane('web').publish(table(0, 2))
    expect(await bodies('web', 20, 'b')).toEqual({ 'web-blue': 20 })
    expect(await bodies('api', 20, 'b')).toEqual({ 'api-green': 20 })
  })

  it('health, in-flight and connections answer per service, summed over the workers', async () => {
    const api = await planes.plane('api').health()
    expect(api.blue.map((h) => h.url)).toEqual([u.api!.blue.url])
    expect(api.green.map((h) => h.url)).toEqual([u.api!.green.url])
    expect((await planes.plane('web').health()).green.map((h) => h.url)).toEqual([u.web!.green.url])
    // A stream on api (green now) stays open for about 1.5 s.
    const stream = send(proxy, 'api.example.test', '/stream', { 'x-user-id': 'streamer' })
    await eventually(async () => (await planes.plane('api').inFlight()).green === 1, 2_000)
    expect(await planes.plane('web').inFlight()).toEqual({ blue: 0, green: 0 })
    expect((await planes.plane('api').connections()).green.streams + (await planes.plane('api').connections()).green.requests).toBe(1)
    expect((await planes.plane('web').connections()).green).toEqual({ requests: 0, streams: 0, websockets: 0 })
    expect((await stream).body.split('\n').filter(Boolean)).toHaveLength(STREAM_CHUNKS)
    await eventually(async () => (await planes.plane('api').inFlight()).green === 0, 2_000)
  })

  it('setServices adds a service that then routes and removes one that then 404s, in every worker', async () => {
    const next = await configFor({ api: {}, extra: {} })
    const metrics = new Metrics({ services: true })
    const specs = servicesOf(next)
    const added = new Map([['extra', inputOf(specs.find((s) => s.name === 'extra')!, 0, metrics)]])
    planes.setServices(next, specs, added)
    // Messages to a worker keep their order: this publish is confirmed after the new services.
    await planes.plane('extra').publish(table(0, 2))
    expect(await bodies('extra', 20)).toEqual({ 'extra-blue': 20 })
    expect(await bodies('web', 20, 'c')).toEqual({ '404': 20 })
    expect(await bodies('api', 20, 'c')).toEqual({ 'api-green': 20 })
    expect(() => planes.plane('web').setTargets('blue', [u.web!.green.url])).toThrow(/no lane for service web/)
    await eventually(async () => merged.extra === 20, 3_000)
  })

  it('a worker started after a crash gets every service as it is now: tables, targets and services', async () => {
    planes.plane('extra').setTargets('blue', [u.web!.blue.url])
    await planes.plane('extra').publish(table(0, 3))
    expect(await bodies('extra', 10, 'd')).toEqual({ 'web-blue': 10 })
    const before = await planes.plane('api').workers()
    process.kill(before[0]!.pid, 'SIGKILL')
    await eventually(async () => {
      const now = await planes.plane('api').workers()
      return now.length === 2 && !now.some((w) => w.pid === before[0]!.pid)
    }, 15_000, 100)
    const after = await planes.plane('api').workers()
    // Fresh connections reach both workers, the replacement included.
    expect(await bodies('api', 20, 'e')).toEqual({ 'api-green': 20 })
    expect(await bodies('extra', 20, 'e')).toEqual({ 'web-blue': 20 })
    expect(await bodies('web', 10, 'e')).toEqual({ '404': 10 })
    const served = await planes.plane('api').workers()
    const replacement = served.find((w) => !before.some((b) => b.pid === w.pid))!
    expect(replacement.requests).toBeGreaterThan(after.find((w) => w.pid === replacement.pid)!.requests)
  })
})
