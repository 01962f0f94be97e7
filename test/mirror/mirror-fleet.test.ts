import type { ServerResponse } from 'node:http'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { admin, startTestApp, testConfig } from '../helpers/app.js'
import { startLoad } from '../helpers/load.js'
import { dropPrefix, SHARED_REDIS_URL, uniquePrefix } from '../helpers/redis.js'
import { startUpstream } from '../helpers/upstream-server.js'
import { eventually } from '../helpers/wait.js'
import { SHADOW } from './helpers.js'

const opened: { close(): Promise<void> }[] = []
const prefixes: string[] = []
afterEach(async () => {
  for (const thing of opened.splice(0).reverse()) await thing.close()
})
afterAll(async () => {
  for (const p of prefixes) await dropPrefix(p)
})

function answer(res: ServerResponse, status: number): void {
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': 11 }).end('{"ok":true}')
}

describe('mirroring in a fleet', () => {
  it('shares the mirror share, and judges a mirror stage on the shadows of every replica', async () => {
    const blue = await startUpstream('blue', (_req, res) => answer(res, 200))
    const green = await startUpstream('green', (_req, res) => answer(res, 500))
    opened.push(blue, green)
    const keyPrefix = uniquePrefix()
    prefixes.push(keyPrefix)
    const replica = async () => {
      const app = await startTestApp(
        await testConfig([blue.url], [green.url], {
          state: { redis: { url: SHARED_REDIS_URL, keyPrefix } },
          sticky: { keys: ['header:x-user-id'], cookie: '' },
          autoRevert: { enabled: false },
          rollout: { analysis: { interval: '100ms', minRequests: 20, confidence: 0.99, maxErrorRate: 0.05, maxP99: '500ms' } },
        }),
      )
      opened.push(app)
      return app
    }
    // The first replica takes the lease: it drives the rollout, yet no user request reaches it.
    const leader = await replica()
    await eventually(async () => ((await admin(leader, 'GET', '/v1/status')).body as { state: { leader?: boolean } }).state.leader === true)
    const serving = await replica()

    const set = await admin(serving, 'PUT', '/v1/mirror', { percent: 25 })
    expect(set.status).toBe(200)
    await eventually(async () => ((await admin(leader, 'GET', '/v1/mirror')).body as { percent: number }).percent === 25)

    const started = await admin(serving, 'POST', '/v1/rollout', { steps: [{ mirror: 100, hold: '30s' }, { green: 50, hold: 0 }] })
    expect(started.status).toBe(201)
    const load = startLoad(serving.proxyUrl, 6)
    opened.push({ close: async () => void (await load.stop()) })
    await eventually(async () => ((await admin(leader, 'GET', '/v1/rollout')).body as { phase: string }).phase === 'aborted', 15_000)
    const rollout = (await admin(serving, 'GET', '/v1/rollout')).body as { phase: string; step: number; reason: string }
    expect(rollout).toMatchObject({ phase: 'aborted', step: 1 })
    expect(green.requests.filter((r) => r.headers[SHADOW] === undefined)).toHaveLength(0)
    await eventually(async () => ((await admin(serving, 'GET', '/v1/mirror')).body as { percent: number }).percent === 0)
    // The shadows were all the serving replica's: the leader's own report is empty ...
    type Report = { scope: string; pairs: number; replicas?: number }
    expect((await admin(leader, 'GET', '/v1/mirror/report?scope=replica')).body).toMatchObject({ scope: 'replica', pairs: 0 })
    const own = ((await admin(serving, 'GET', '/v1/mirror/report?scope=replica')).body as Report).pairs
    expect(own).toBeGreaterThan(0)
    // ... and the fleet's report, from either replica, sums what every replica shared (every 3 s).
    await eventually(async () => ((await admin(leader, 'GET', '/v1/mirror/report')).body as Report).pairs >= own, 10_000)
    expect((await admin(leader, 'GET', '/v1/mirror/report')).body).toMatchObject({ scope: 'fleet', replicas: 2 })
    expect((await admin(leader, 'GET', '/v1/mirror/report?scope=everyone')).status).toBe(400)
  })
})
