import { afterEach, describe, expect, it } from 'vitest'
import { DEFAULT_OUTLIER, HEALTH_CHECK_OFF } from '../../src/proxy/health-checker.js'
import { UpstreamPool } from '../../src/proxy/upstream-pool.js'
import { startUpstream } from '../helpers/upstream-server.js'

const pools: UpstreamPool[] = []
afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.destroy()))
})

function pool(urls: string[], previous?: UpstreamPool): UpstreamPool {
  const built = new UpstreamPool(urls, { connect: 1_000 }, previous)
  pools.push(built)
  return built
}

const A = 'http://127.0.0.1:3001'
const B = 'http://127.0.0.1:3002'
const C = 'http://127.0.0.1:3003'

function picks(from: UpstreamPool, count: number): string[] {
  return Array.from({ length: count }, () => from.pick()?.url ?? 'none')
}

describe('UpstreamPool', () => {
  it('rotates over targets in order', () => {
    expect(picks(pool([A, B, C]), 7)).toEqual([A, B, C, A, B, C, A])
    expect(picks(pool([A]), 3)).toEqual([A, A, A])
    expect(pool([]).pick()).toBeUndefined()
  })

  it('parses origins, default ports and IPv6 hosts', () => {
    const [plain, secure, v6] = pool(['http://example.test', 'https://example.test/base', 'http://[::1]:8080']).targets
    expect(plain).toMatchObject({ origin: 'http://example.test', hostname: 'example.test', port: 80, secure: false })
    expect(secure).toMatchObject({ origin: 'https://example.test', port: 443, secure: true })
    expect(v6).toMatchObject({ hostname: '::1', port: 8080 })
  })

  it('skips an ejected target until its ejection ends', () => {
    const built = pool([A, B])
    built.setHealth({ healthCheck: HEALTH_CHECK_OFF, outlier: { consecutiveErrors: 3, ejectionTime: 60_000 } })
    const [a] = built.targets
    for (let i = 0; i < 3; i++) a!.failed('connect ECONNREFUSED')
    expect(picks(built, 4)).toEqual([B, B, B, B])
    expect(built.health()[0]).toMatchObject({ url: A, healthy: false, consecutiveFailures: 3 })

    // Once the ejection is over A is back in the rotation.
    a!.ejectedUntil = Date.now() - 1
    expect(picks(built, 4)).toEqual([A, B, A, B])
  })

  it('keeps rotating when every target is unhealthy', () => {
    const built = pool([A, B])
    for (const target of built.targets) for (let i = 0; i < DEFAULT_OUTLIER.consecutiveErrors; i++) target.failed('down')
    expect(built.health().map((h) => h.healthy)).toEqual([false, false])
    expect(new Set(picks(built, 4))).toEqual(new Set([A, B]))
  })

  it('carries health over to a rebuilt pool for the same URL', () => {
    const before = pool([A, B])
    before.targets[0]!.failed('reset')
    const after = pool([A, C], before)
    expect(after.health()).toMatchObject([
      { url: A, consecutiveFailures: 1, lastError: 'reset', active: 'off', ejectedUntil: null },
      { url: C, consecutiveFailures: 0, lastError: null, lastErrorAt: null, active: 'off', ejectedUntil: null },
    ])
  })

  it('rejects invalid URLs', () => {
    expect(() => new UpstreamPool(['nope'], { connect: 1_000 })).toThrow(/not a valid upstream URL/)
    expect(() => new UpstreamPool([A, 'ws://127.0.0.1:1'], { connect: 1_000 })).toThrow(/must use http or https/)
  })

  it('makes its undici pool on first use, and one asked for after close refuses requests and opens nothing', async () => {
    const upstream = await startUpstream('target', (_req, res) => void res.end('ok'))
    try {
      const used = pool([upstream.url]).targets[0]!
      const answer = await used.pool.request({ path: '/', method: 'GET' })
      expect(await answer.body.text()).toBe('ok')
      expect(upstream.sockets).toHaveLength(1)
      // Closed before anything used it: a late retry or probe gets a closed pool, as it did when every pool was made up front.
      const late = new UpstreamPool([upstream.url], { connect: 1_000 })
      await late.close()
      await expect(late.targets[0]!.pool.request({ path: '/', method: 'GET' })).rejects.toThrow(/closed|destroyed/i)
      expect(upstream.sockets).toHaveLength(1)
    } finally {
      await upstream.close()
    }
  })
})
