import { afterEach, describe, expect, it } from 'vitest'
import { ActiveCheck, HEALTH_CHECK_OFF } from '../../src/proxy/health-checker.js'
import type { HealthCheckSettings, OutlierSettings } from '../../src/proxy/types.js'
import { HEALTH_PATH, startHealthUpstream, waitUntil } from '../helpers/health-upstream.js'
import { Resources, send, startProxy, type TestProxy } from '../helpers/upstream-proxy-harness.js'

const resources = new Resources()
afterEach(() => resources.closeAll())

const CHECKS: HealthCheckSettings = { path: HEALTH_PATH, interval: 50, timeout: 1_000, healthyThreshold: 2, unhealthyThreshold: 3 }
const NO_EJECTION: OutlierSettings = { consecutiveErrors: 0, ejectionTime: 0 }

/** Sends `count` requests one after the other; returns which upstream answered each. */
async function served(proxy: TestProxy, count: number): Promise<string[]> {
  const names: string[] = []
  for (let i = 0; i < count; i++) names.push((await send(proxy.url)).body)
  return names
}

function activeOf(proxy: TestProxy, index: number): string | undefined {
  return proxy.proxy.health().blue[index]?.active
}

describe('ActiveCheck', () => {
  const settings = { ...CHECKS, healthyThreshold: 2, unhealthyThreshold: 3 }

  it('is off without a path and unknown for a new path', () => {
    const check = new ActiveCheck()
    expect(check.state).toBe('off')
    expect(check.record(false, settings)).toBeUndefined()
    check.configure('/a')
    expect(check.state).toBe('unknown')
    check.configure('')
    expect(check.state).toBe('off')
  })

  it('turns unhealthy after unhealthyThreshold failures and healthy after healthyThreshold successes', () => {
    const check = new ActiveCheck()
    check.configure('/a')
    expect([check.record(false, settings), check.record(false, settings)]).toEqual([undefined, undefined])
    expect(check.state).toBe('unknown')
    expect(check.record(false, settings)).toBe('unhealthy')
    expect(check.record(true, settings)).toBeUndefined()
    // A failure in between starts the count over.
    check.record(false, settings)
    expect(check.record(true, settings)).toBeUndefined()
    expect(check.record(true, settings)).toBe('healthy')
    // Interleaved failures below the threshold do not flip it back.
    for (let i = 0; i < 4; i++) {
      check.record(false, settings)
      check.record(false, settings)
      check.record(true, settings)
    }
    expect(check.state).toBe('healthy')
  })

  it('takes one success from unknown to healthy and keeps its verdict for the same path', () => {
    const check = new ActiveCheck()
    check.configure('/a')
    expect(check.record(true, settings)).toBe('healthy')
    check.configure('/a')
    expect(check.state).toBe('healthy')
    check.configure('/b')
    expect(check.state).toBe('unknown')
  })
})

describe('active health checks', () => {
  it('takes a target that fails its checks out of rotation and brings it back', async () => {
    const sick = resources.add(await startHealthUpstream('sick'))
    const fine = resources.add(await startHealthUpstream('fine'))
    sick.healthStatus = 503
    const proxy = resources.add(await startProxy({ blue: [sick.url, fine.url], green: [fine.url] }))
    proxy.proxy.setHealth(CHECKS, NO_EJECTION)

    await waitUntil(() => activeOf(proxy, 0) === 'unhealthy', 'the sick target to turn unhealthy')
    expect(sick.probes).toBeGreaterThanOrEqual(CHECKS.unhealthyThreshold)
    await waitUntil(() => activeOf(proxy, 1) === 'healthy', 'the fine target to turn healthy')
    expect(proxy.proxy.health().blue).toMatchObject([
      { url: sick.url, healthy: false, active: 'unhealthy', ejectedUntil: null },
      { url: fine.url, healthy: true, active: 'healthy', ejectedUntil: null },
    ])

    expect(await served(proxy, 6)).toEqual(Array(6).fill('fine'))
    expect(sick.served).toBe(0)

    // Back to 200: healthy again after healthyThreshold probes, and in the rotation.
    sick.healthStatus = 200
    const probesBefore = sick.probes
    await waitUntil(() => activeOf(proxy, 0) === 'healthy', 'the sick target to recover')
    expect(sick.probes - probesBefore).toBeGreaterThanOrEqual(CHECKS.healthyThreshold)
    expect(new Set(await served(proxy, 4))).toEqual(new Set(['sick', 'fine']))
  })

  it('counts a probe without an answer within the timeout as a failure', async () => {
    const slow = resources.add(await startHealthUpstream('slow'))
    const fine = resources.add(await startHealthUpstream('fine'))
    slow.healthStatus = 'hang'
    const proxy = resources.add(await startProxy({ blue: [slow.url, fine.url], green: [fine.url] }))
    proxy.proxy.setHealth({ ...CHECKS, timeout: 100, unhealthyThreshold: 2 }, NO_EJECTION)

    await waitUntil(() => activeOf(proxy, 0) === 'unhealthy', 'the slow target to turn unhealthy')
    expect(proxy.proxy.health().blue[0]).toMatchObject({ healthy: false, active: 'unhealthy' })
    expect(await served(proxy, 4)).toEqual(Array(4).fill('fine'))
  })

  it('still sends requests when every target fails its checks (panic mode)', async () => {
    const a = resources.add(await startHealthUpstream('a'))
    const b = resources.add(await startHealthUpstream('b'))
    a.healthStatus = 500
    b.healthStatus = 500
    const proxy = resources.add(await startProxy({ blue: [a.url, b.url], green: [a.url] }))
    proxy.proxy.setHealth({ ...CHECKS, unhealthyThreshold: 1 }, NO_EJECTION)
    await waitUntil(() => activeOf(proxy, 0) === 'unhealthy' && activeOf(proxy, 1) === 'unhealthy', 'both targets to turn unhealthy')

    // The requests go out and get what the upstreams answer: here 200 ...
    expect(new Set(await served(proxy, 4))).toEqual(new Set(['a', 'b']))
    // ... and here the upstreams' own 503.
    a.status = 503
    b.status = 503
    const reply = await send(proxy.url)
    expect(reply.status).toBe(503)
    expect(['a', 'b']).toContain(reply.body)
  })

  it('starts unknown and routes such targets; reports off when checks are off', async () => {
    const a = resources.add(await startHealthUpstream('a'))
    a.healthStatus = 'hang'
    const proxy = resources.add(await startProxy({ blue: [a.url], green: [a.url] }))
    expect(proxy.proxy.health().blue[0]).toMatchObject({ active: 'off', healthy: true })
    proxy.proxy.setHealth({ ...CHECKS, timeout: 5_000 }, NO_EJECTION)
    expect(proxy.proxy.health().blue[0]).toMatchObject({ active: 'unknown', healthy: true })
    expect((await send(proxy.url)).body).toBe('a')

    proxy.proxy.setHealth(HEALTH_CHECK_OFF, NO_EJECTION)
    expect(proxy.proxy.health().blue[0]).toMatchObject({ active: 'off', healthy: true })
  })

  it('keeps the verdict of a target that stays across setTargets and stops probing replaced ones', async () => {
    const kept = resources.add(await startHealthUpstream('kept'))
    const dropped = resources.add(await startHealthUpstream('dropped'))
    const added = resources.add(await startHealthUpstream('added'))
    kept.healthStatus = 503
    added.healthStatus = 'hang'
    const proxy = resources.add(await startProxy({ blue: [kept.url, dropped.url], green: [kept.url] }))
    proxy.proxy.setHealth({ ...CHECKS, timeout: 5_000 }, NO_EJECTION)
    await waitUntil(() => activeOf(proxy, 0) === 'unhealthy' && activeOf(proxy, 1) === 'healthy', 'the first verdicts')

    proxy.proxy.setTargets('blue', [kept.url, added.url])
    expect(proxy.proxy.health().blue).toMatchObject([
      { url: kept.url, active: 'unhealthy', healthy: false },
      { url: added.url, active: 'unknown', healthy: true },
    ])
    // A probe already on the wire when the old pool stopped may still land.
    await new Promise((resolve) => setTimeout(resolve, 20))
    const droppedProbes = dropped.probes
    const keptProbes = kept.probes
    await waitUntil(() => kept.probes >= keptProbes + 2, 'the new pool to probe the kept target')
    expect(dropped.probes).toBe(droppedProbes)
    expect(activeOf(proxy, 0)).toBe('unhealthy')
  })

  it('stops probing when the proxy closes', async () => {
    const a = resources.add(await startHealthUpstream('a'))
    const proxy = await startProxy({ blue: [a.url], green: [a.url] })
    proxy.proxy.setHealth(CHECKS, NO_EJECTION)
    await waitUntil(() => a.probes >= 2, 'two probes')
    await proxy.close()
    // A probe already on the wire when the proxy closed may still land.
    await new Promise((resolve) => setTimeout(resolve, 20))
    const probes = a.probes
    await new Promise((resolve) => setTimeout(resolve, 5 * CHECKS.interval))
    expect(a.probes).toBe(probes)
  })
})
