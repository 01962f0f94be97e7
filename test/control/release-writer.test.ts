import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { carryRandomSecret, RELOAD_RULES, restartOnlyChanges } from '../../src/config/reload.js'
import { resolveConfig } from '../../src/config/load.js'
import { Release } from '../../src/control/release/release.js'
import type { ReleasePlane } from '../../src/control/release/plane.js'
import type { TargetHealth } from '../../src/proxy/types.js'
import type { Color, RoutingTable } from '../../src/routing/types.js'
import { FileStateStore } from '../../src/state/file-store.js'
import { memoryLogger } from '../helpers/logs.js'

/** A data plane in this process that records what the release pushes to it; `confirm` lets a publish finish. */
function recordingPlane(healthy = true) {
  const log: string[] = []
  const tables: RoutingTable[] = []
  let confirm: () => void = () => undefined
  const health = (url: string): TargetHealth => ({ url, healthy, active: 'off', ejectedUntil: null, consecutiveFailures: 0, lastError: healthy ? null : 'probe failed', lastErrorAt: null, inFlight: 0 })
  const plane: ReleasePlane & { healthy: boolean } = {
    healthy,
    publish: (table) => {
      tables.push(table)
      return new Promise<void>((resolve) => (confirm = resolve))
    },
    setTargets: (color: Color, targets) => void log.push(`targets ${color} ${targets.join(',')}`),
    drainColor: (color: Color) => void log.push(`drain ${color}`),
    cancelDrain: (color: Color) => void log.push(`undrain ${color}`),
    health: async () => ({ blue: [health('http://b')], green: [{ ...health('http://g'), healthy: plane.healthy }] }),
  }
  return { plane, log, tables, confirm: () => confirm() }
}

async function release(seed: number, configTargets = { blue: ['http://b'], green: ['http://g'] }): Promise<Release> {
  const store = new FileStateStore(join(await mkdtemp(join(tmpdir(), 'sy-release-')), 'state.json'))
  const r = new Release(store, { logger: memoryLogger().logger, configTargets, drainDeadline: () => 1_000 })
  await r.init(seed)
  return r
}

describe('Release, the one writer', () => {
  it('returns the new split and its propagation, which settles once the data plane has the table', async () => {
    const r = await release(0)
    const { plane, tables, confirm } = recordingPlane()
    r.attach(plane, { table: r.current(), targets: r.targets() })
    const { value, propagated } = await r.setSplit({ greenBuckets: 2500, type: 'split', source: 'api' })
    expect(value).toMatchObject({ greenBuckets: 2500, generation: 2 })
    expect(tables.at(-1)).toMatchObject({ greenBuckets: 2500, generation: 2 })
    let settled = false
    void propagated.then(() => (settled = true))
    await new Promise((resolve) => setImmediate(resolve))
    expect(settled).toBe(false)
    confirm()
    await propagated
    expect(r.propagated()).toBe(propagated)
  })

  it('holds the health gate for every writer: green does not rise while it has no healthy target, unless forced', async () => {
    const r = await release(1000)
    const { plane } = recordingPlane(false)
    r.attach(plane, { table: r.current(), targets: r.targets() })
    await expect(r.setSplit({ greenBuckets: 2000, type: 'step', source: 'rollout' })).rejects.toMatchObject({ code: 'SY_ERR_GREEN_UNHEALTHY', statusCode: 409 })
    expect(r.state().greenBuckets).toBe(1000)
    expect(r.events()).toHaveLength(0)
    // Lowering green, or insisting, passes.
    await r.setSplit({ greenBuckets: 500, type: 'split', source: 'api' })
    await r.setSplit({ greenBuckets: 3000, type: 'split', source: 'api', force: true })
    expect(r.state().greenBuckets).toBe(3000)
  })

  it('drains a colour whose share reaches 0 and cancels the drain when it rises again', async () => {
    const r = await release(5000)
    const { plane, log } = recordingPlane()
    r.attach(plane, { table: r.current(), targets: r.targets() })
    await r.rollback({ source: 'api' })
    await r.setSplit({ greenBuckets: 10, type: 'split', source: 'api' })
    await r.promote({ source: 'api' })
    expect(log).toEqual(['drain green', 'undrain green', 'drain blue'])
  })

  it('points a colour at API-set targets over the config, and lets a config that names others win', async () => {
    const r = await release(0)
    const { plane, log } = recordingPlane()
    r.attach(plane, { table: r.current(), targets: r.targets() })
    const { value: event } = await r.setTargets('green', ['http://g2'], { source: 'api', reason: 'release 2' })
    expect(event).toMatchObject({ type: 'targets', from: { color: 'green', targets: ['http://g'] }, to: { color: 'green', targets: ['http://g2'] } })
    expect(r.targets().green).toEqual(['http://g2'])
    expect(r.targetOverrides().green).toEqual({ targets: ['http://g2'], over: ['http://g'] })
    await r.reloadTargets({ blue: ['http://b'], green: ['http://g3'] })
    expect(r.targets().green).toEqual(['http://g3'])
    expect(log).toEqual(['targets green http://g2', 'targets green http://g3'])
    expect(r.events()[0]).toMatchObject({ type: 'targets', source: 'reload' })
  })

  it('refuses a rollout write computed from a rollout that changed meanwhile (409), by content, not identity', async () => {
    const r = await release(0)
    const rollout = { id: 'r1', phase: 'progressing', steps: [{ greenBuckets: 1000, holdMs: 1000 }], step: 0, startedAt: 'x', stepStartedAt: 'x', holdUntil: 1, holdLeftMs: null, checks: 0, failedChecks: 0, consecutiveFailures: 0, passedThisStep: false, lastVerdict: null, endedAt: null, reason: null } as const
    await r.saveRollout(rollout, null)
    // An equal copy (as adopted from a store) is the same basis; a different one is not.
    await r.saveRollout({ ...rollout, checks: 1 }, { ...rollout })
    await expect(r.saveRollout({ ...rollout, checks: 2 }, rollout)).rejects.toMatchObject({ code: 'SY_ERR_ROLLOUT_STATE' })
    expect(r.rollout()?.checks).toBe(1)
  })
})

describe('config reload rules', () => {
  const base = resolveConfig({ upstreams: { blue: { targets: ['http://127.0.0.1:1'] }, green: { targets: ['http://127.0.0.1:2'] } } })

  it('names the keys that need a restart and nothing that reloads live', () => {
    const next = resolveConfig({
      upstreams: { blue: { targets: ['http://127.0.0.1:3'] }, green: { targets: ['http://127.0.0.1:2'] }, tls: { insecureSkipVerify: true } },
      workers: 2,
      sticky: { cookie: 'other' },
      timeouts: { request: '5s' },
      autoRevert: { maxErrorRate: 0.2 },
      split: { green: 50 },
    })
    // Neither names a previewSecret: each read draws one at random, and a reload keeps the running one.
    expect(next.override.previewSecret).not.toBe(base.override.previewSecret)
    expect(restartOnlyChanges(base, carryRandomSecret(base, next))).toEqual(['upstreams.tls', 'sticky', 'workers'])
    expect(restartOnlyChanges(base, base)).toEqual([])
    // A configured secret is the file's word: it is taken as read.
    const secret = 'preview-secret-0123456789-0123456789-abcdef'
    const configured = resolveConfig({ upstreams: { blue: { targets: ['http://127.0.0.1:1'] }, green: { targets: ['http://127.0.0.1:2'] } }, override: { previewSecret: secret } })
    expect(carryRandomSecret(base, configured).override.previewSecret).toBe(secret)
    expect(restartOnlyChanges(base, carryRandomSecret(base, configured))).toEqual(['override'])
  })

  it('mirror: how answers are compared applies live, how shadows are sent takes a restart, the share is state', () => {
    const targets = { blue: { targets: ['http://127.0.0.1:1'] }, green: { targets: ['http://127.0.0.1:2'] } }
    const read = (mirror: Record<string, unknown>) => resolveConfig({ upstreams: targets, override: { previewSecret: 'preview-secret-0123456789-0123456789-abcdef' }, mirror })
    const before = read({})
    expect(restartOnlyChanges(before, read({ percent: 50, compare: { mode: 'exact', ignore: ['$.at'] }, noise: { minDiffs: 3 }, report: { includeBodies: true } }))).toEqual([])
    for (const sending of [{ concurrency: 8 }, { methods: ['GET', 'POST'] }, { maxBodySize: 10 }, { timeout: '1s' }, { header: 'x-shadow' }, { noise: { percent: 50 } }]) {
      expect(restartOnlyChanges(before, read(sending))).toEqual(['mirror'])
    }
  })

  it('has a rule for every top-level key of the config', () => {
    expect(Object.keys(RELOAD_RULES).sort()).toEqual(Object.keys(base).sort())
  })
})
