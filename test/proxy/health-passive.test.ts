import { afterEach, describe, expect, it } from 'vitest'
import { HEALTH_CHECK_OFF } from '../../src/proxy/health-checker.js'
import type { OutlierSettings } from '../../src/proxy/types.js'
import { startHealthUpstream, waitUntil } from '../helpers/health-upstream.js'
import { Resources, send, startProxy, type TestProxy } from '../helpers/upstream-proxy-harness.js'
import { startUpstream } from '../helpers/upstream-server.js'

const resources = new Resources()
afterEach(() => resources.closeAll())

/** Long enough that a few local requests surely fit in, even on a loaded machine. */
const EJECTION_MS = 1_000
const OUTLIER: OutlierSettings = { consecutiveErrors: 5, ejectionTime: EJECTION_MS }

/** Sends `count` requests one after the other; returns which upstream answered each. */
async function served(proxy: TestProxy, count: number): Promise<string[]> {
  const names: string[] = []
  for (let i = 0; i < count; i++) names.push((await send(proxy.url)).body)
  return names
}

async function statuses(proxy: TestProxy, count: number): Promise<number[]> {
  const codes: number[] = []
  for (let i = 0; i < count; i++) codes.push((await send(proxy.url)).status)
  return codes
}

describe('passive ejection (consecutive errors)', () => {
  it('ejects a target after consecutiveErrors 5xx answers for ejectionTime, then takes it back', async () => {
    const bad = resources.add(await startHealthUpstream('bad'))
    const good = resources.add(await startHealthUpstream('good'))
    bad.status = 500
    const proxy = resources.add(await startProxy({ blue: [bad.url, good.url], green: [good.url] }))
    proxy.proxy.setHealth(HEALTH_CHECK_OFF, OUTLIER)

    // Round-robin: the fifth 500 of `bad` comes with the ninth request.
    const before = Date.now()
    expect(await served(proxy, 10)).toEqual(['bad', 'good', 'bad', 'good', 'bad', 'good', 'bad', 'good', 'bad', 'good'])
    const [report] = proxy.proxy.health().blue
    expect(report).toMatchObject({ url: bad.url, healthy: false, active: 'off', consecutiveFailures: 5, lastError: 'status 500' })
    const until = Date.parse(report!.ejectedUntil ?? '')
    expect(until).toBeGreaterThan(before)
    expect(until).toBeLessThanOrEqual(Date.now() + EJECTION_MS)

    expect(await served(proxy, 4)).toEqual(['good', 'good', 'good', 'good'])
    expect(bad.served).toBe(5)

    // After the ejection the target is back; its first answer (a 200 now) resets the count.
    bad.status = 200
    await waitUntil(() => Date.now() > until + 10, 'the ejection to end')
    expect(proxy.proxy.health().blue[0]).toMatchObject({ healthy: true, ejectedUntil: null })
    expect(new Set(await served(proxy, 4))).toEqual(new Set(['bad', 'good']))
    expect(proxy.proxy.health().blue[0]).toMatchObject({ healthy: true, consecutiveFailures: 0 })
  })

  it('ejects again at the first failure of a target that comes back still failing', async () => {
    const bad = resources.add(await startHealthUpstream('bad'))
    const good = resources.add(await startHealthUpstream('good'))
    bad.status = 502
    const proxy = resources.add(await startProxy({ blue: [bad.url, good.url], green: [good.url] }))
    proxy.proxy.setHealth(HEALTH_CHECK_OFF, { consecutiveErrors: 2, ejectionTime: 600 })
    await served(proxy, 4)
    const first = proxy.proxy.health().blue[0]!.ejectedUntil
    expect(first).not.toBeNull()

    await waitUntil(() => Date.now() > Date.parse(first!) + 10, 'the ejection to end')
    await served(proxy, 2)
    expect(bad.served).toBe(3)
    const second = proxy.proxy.health().blue[0]!
    expect(second).toMatchObject({ healthy: false, consecutiveFailures: 3 })
    expect(Date.parse(second.ejectedUntil ?? '')).toBeGreaterThan(Date.parse(first!))
  })

  it('starts the count over after a non-5xx answer', async () => {
    const target = resources.add(await startHealthUpstream('t'))
    const proxy = resources.add(await startProxy({ blue: [target.url], green: [target.url] }))
    proxy.proxy.setHealth(HEALTH_CHECK_OFF, OUTLIER)

    target.status = 503
    await statuses(proxy, 4)
    target.status = 404
    expect(await statuses(proxy, 1)).toEqual([404])
    target.status = 503
    await statuses(proxy, 4)
    expect(proxy.proxy.health().blue[0]).toMatchObject({ healthy: true, consecutiveFailures: 4, ejectedUntil: null })

    await statuses(proxy, 1)
    expect(proxy.proxy.health().blue[0]).toMatchObject({ healthy: false, consecutiveFailures: 5 })
    expect(proxy.proxy.health().blue[0]!.ejectedUntil).not.toBeNull()
  })

  it('counts transport failures and 5xx answers together', async () => {
    let mode: 'error' | 'reset' = 'error'
    const flaky = resources.add(
      await startUpstream('flaky', (req, res) => {
        if (mode === 'reset') res.socket?.destroy()
        else res.writeHead(500, { 'content-length': 0 }).end()
      }),
    )
    const proxy = resources.add(await startProxy({ blue: [flaky.url], green: [flaky.url] }))
    proxy.proxy.setHealth(HEALTH_CHECK_OFF, OUTLIER)
    expect(await statuses(proxy, 3)).toEqual([500, 500, 500])
    mode = 'reset'
    expect(await statuses(proxy, 2)).toEqual([502, 502])
    const report = proxy.proxy.health().blue[0]!
    expect(report).toMatchObject({ healthy: false, consecutiveFailures: 5 })
    expect(report.ejectedUntil).not.toBeNull()
  })

  it('never ejects with consecutiveErrors 0', async () => {
    const bad = resources.add(await startHealthUpstream('bad'))
    const good = resources.add(await startHealthUpstream('good'))
    bad.status = 500
    const proxy = resources.add(await startProxy({ blue: [bad.url, good.url], green: [good.url] }))
    proxy.proxy.setHealth(HEALTH_CHECK_OFF, { consecutiveErrors: 0, ejectionTime: EJECTION_MS })
    await served(proxy, 16)
    expect(bad.served).toBe(8)
    expect(proxy.proxy.health().blue[0]).toMatchObject({ healthy: true, consecutiveFailures: 8, ejectedUntil: null })
  })

  it('still sends requests when every target is ejected (panic mode)', async () => {
    const a = resources.add(await startHealthUpstream('a'))
    const b = resources.add(await startHealthUpstream('b'))
    a.status = 503
    b.status = 503
    const proxy = resources.add(await startProxy({ blue: [a.url, b.url], green: [a.url] }))
    proxy.proxy.setHealth(HEALTH_CHECK_OFF, { consecutiveErrors: 2, ejectionTime: 60_000 })
    expect(await statuses(proxy, 4)).toEqual([503, 503, 503, 503])
    expect(proxy.proxy.health().blue.map((h) => h.healthy)).toEqual([false, false])

    // Both ejected: the upstreams still get every request and answer it their way.
    expect(await statuses(proxy, 2)).toEqual([503, 503])
    a.status = 200
    b.status = 200
    expect(new Set(await served(proxy, 4))).toEqual(new Set(['a', 'b']))
    expect(a.served + b.served).toBe(10)
  })

  it('keeps an ejection across setTargets for a URL that stays', async () => {
    const bad = resources.add(await startHealthUpstream('bad'))
    const good = resources.add(await startHealthUpstream('good'))
    const other = resources.add(await startHealthUpstream('other'))
    bad.status = 500
    const proxy = resources.add(await startProxy({ blue: [bad.url, good.url], green: [good.url] }))
    proxy.proxy.setHealth(HEALTH_CHECK_OFF, { consecutiveErrors: 2, ejectionTime: 60_000 })
    await served(proxy, 4)
    const ejectedUntil = proxy.proxy.health().blue[0]!.ejectedUntil
    expect(ejectedUntil).not.toBeNull()

    proxy.proxy.setTargets('blue', [bad.url, other.url])
    expect(proxy.proxy.health().blue).toMatchObject([
      { url: bad.url, healthy: false, ejectedUntil },
      { url: other.url, healthy: true, ejectedUntil: null, consecutiveFailures: 0 },
    ])
    expect(await served(proxy, 3)).toEqual(['other', 'other', 'other'])
  })
})
