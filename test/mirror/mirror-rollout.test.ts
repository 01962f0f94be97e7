import type { ServerResponse } from 'node:http'
import { afterEach, describe, expect, it } from 'vitest'
import type { App } from '../../src/app.js'
import { admin, startTestApp, testConfig } from '../helpers/app.js'
import { startLoad } from '../helpers/load.js'
import { startUpstream, type Upstream } from '../helpers/upstream-server.js'
import { metric, SHADOW } from './helpers.js'

const opened: { close(): Promise<void> }[] = []
afterEach(async () => {
  for (const thing of opened.splice(0).reverse()) await thing.close()
})

// As test/app/rollout.test.ts: answers under 500 ms never count as slow on a busy machine.
const fastAnalysis = { interval: '100ms', minRequests: 20, confidence: 0.99, maxErrorRate: 0.05, maxP99: '500ms' }

function answer(res: ServerResponse, status: number): void {
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': 11 }).end('{"ok":true}')
}

async function setup(greenStatus: { value: number }) {
  const blue = await startUpstream('blue', (_req, res) => answer(res, 200))
  const green = await startUpstream('green', (_req, res) => answer(res, greenStatus.value))
  opened.push(blue, green)
  const config = await testConfig([blue.url], [green.url], {
    sticky: { keys: ['header:x-user-id'], cookie: '' },
    autoRevert: { enabled: false },
    rollout: { analysis: fastAnalysis },
  })
  const app = await startTestApp(config)
  opened.push(app)
  const load = startLoad(app.proxyUrl, 6)
  opened.push({ close: async () => void (await load.stop()) })
  return { app, blue, green }
}

interface RolloutView {
  phase: string
  step: number
  green: number
  reason: string | null
  steps: { green: number; mirror?: number; holdMs: number }[]
}

async function until(app: App, test: (r: RolloutView) => boolean, ms: number): Promise<RolloutView> {
  const start = Date.now()
  for (;;) {
    const r = (await admin(app, 'GET', '/v1/rollout')).body as RolloutView
    if (test(r)) return r
    if (Date.now() - start > ms) throw new Error(`rollout did not get there within ${ms} ms: ${JSON.stringify(r)}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

const users = (u: Upstream) => u.requests.filter((r) => r.headers[SHADOW] === undefined)

describe('a rollout mirror stage', () => {
  it('aborts on a failing green before a single user reached it, and stops the shadows', async () => {
    const { app, green } = await setup({ value: 500 })
    const started = await admin(app, 'POST', '/v1/rollout', { steps: [{ mirror: 100, hold: '30s' }, { green: 50, hold: '1s' }, { green: 100, hold: 0 }] })
    expect(started.status).toBe(201)
    expect(started.body).toMatchObject({ step: 1, green: 0, steps: [{ green: 0, mirror: 100 }, { green: 50 }, { green: 100 }] })
    const aborted = await until(app, (r) => r.phase === 'aborted', 15_000)
    expect(aborted).toMatchObject({ step: 1, green: 0 })
    expect(aborted.reason).toMatch(/step 1/)
    expect(green.requests.length).toBeGreaterThan(0)
    expect(users(green)).toHaveLength(0)
    expect(await metric(app, 'switchyard_requests_total', 'color="green",code="200"')).toBe(0)
    expect(await metric(app, 'switchyard_requests_total', 'color="green",code="500"')).toBe(0)
    expect((await admin(app, 'GET', '/v1/mirror')).body).toMatchObject({ percent: 0 })
    const events = ((await admin(app, 'GET', '/v1/events')).body as { type: string; to: unknown }[]).reverse()
    expect(events.map((e) => e.type)).toEqual(['step', 'abort'])
    expect(events[1]!.to).toMatchObject({ green: 0, mirror: 0 })
  })

  it('lets a healthy green through the mirror stage, then stops mirroring as users move', async () => {
    const { app, green } = await setup({ value: 200 })
    const started = await admin(app, 'POST', '/v1/rollout', { mirror: { percent: 100, hold: '300ms' }, steps: [{ green: 50, hold: '300ms' }, { green: 100, hold: 0 }] })
    expect(started.status).toBe(201)
    await until(app, (r) => r.phase === 'succeeded', 20_000)
    const steps = ((await admin(app, 'GET', '/v1/events?type=step')).body as { to: unknown }[]).reverse()
    expect(steps.map((e) => e.to)).toEqual([
      { blue: 100, green: 0, mirror: 100 },
      { blue: 50, green: 50, mirror: 0 },
      { blue: 0, green: 100 },
    ])
    expect((await admin(app, 'GET', '/v1/mirror')).body).toMatchObject({ percent: 0 })
    expect(users(green).length).toBeGreaterThan(0)
  })

  it('refuses a mirror step after a weight step, and a step that sets neither or both', async () => {
    const { app } = await setup({ value: 200 })
    for (const [steps, message] of [
      [[{ green: 10, hold: 0 }, { mirror: 100, hold: 0 }], /mirror step after a weight step/],
      [[{ hold: 0 }], /either "green"/],
      [[{ green: 10, mirror: 10, hold: 0 }], /either "green"/],
      [[{ mirror: 100, hold: 0 }], /at least one weight step/],
      [[{ mirror: 0, hold: 0 }, { green: 10, hold: 0 }], /above 0/],
    ] as const) {
      const refused = await admin(app, 'POST', '/v1/rollout', { steps })
      expect(refused.status).toBe(400)
      expect((refused.body as { message: string }).message).toMatch(message)
    }
  })
})
