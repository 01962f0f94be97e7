import http from 'node:http'
import { afterEach, describe, expect, it } from 'vitest'
import { AuthFailureLimiter } from '../../src/admin/auth.js'
import { startTestApp, testConfig } from '../helpers/app.js'
import { startUpstream, type Upstream } from '../helpers/upstream-server.js'

const TOKEN = 'correct-horse-battery-staple-0451'

/** One admin request from a chosen local address (127.0.0.0/8 is all loopback on Linux). */
function adminFrom(
  adminUrl: string,
  localAddress: string,
  path: string,
  token: string | undefined,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = token === undefined ? {} : { authorization: `Bearer ${token}` }
    const req = http.request(`${adminUrl}${path}`, { localAddress, headers, agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => (body += chunk))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
    })
    req.on('error', reject)
    req.end()
  })
}

const closers: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close()
})

describe('failed-auth rate limit on the admin API', () => {
  it('answers 429 with retry-after after 10 failures from one address; other addresses are unaffected; the token is never logged', async () => {
    const blue: Upstream = await startUpstream('blue')
    const green: Upstream = await startUpstream('green')
    closers.push(() => blue.close(), () => green.close())
    const app = await startTestApp(await testConfig([blue.url], [green.url], { admin: { host: '127.0.0.1', port: 0, token: TOKEN } }))
    closers.push(() => app.close())

    const wrong = (i: number) => `${TOKEN.slice(0, -4)}wrong${i}`
    for (let i = 0; i < 10; i++) {
      const reply = await adminFrom(app.adminUrl, '127.0.0.1', '/v1/split', i % 3 === 0 ? undefined : wrong(i))
      expect(reply.status).toBe(401)
    }
    for (let i = 10; i < 15; i++) {
      const reply = await adminFrom(app.adminUrl, '127.0.0.1', '/v1/split', wrong(i))
      expect(reply.status).toBe(429)
      const wait = Number(reply.headers['retry-after'])
      expect(wait).toBeGreaterThanOrEqual(1)
      expect(wait).toBeLessThanOrEqual(60)
      expect(JSON.parse(reply.body)).toMatchObject({ statusCode: 429, error: 'Too Many Requests' })
    }
    // Blocked means blocked: even the right token waits for the window from this address.
    expect((await adminFrom(app.adminUrl, '127.0.0.1', '/v1/split', TOKEN)).status).toBe(429)
    // Another address with the right token is served; unauthenticated routes stay open.
    expect((await adminFrom(app.adminUrl, '127.0.0.2', '/v1/split', TOKEN)).status).toBe(200)
    expect((await adminFrom(app.adminUrl, '127.0.0.1', '/healthz', undefined)).status).toBe(200)

    const text = app.logs.text()
    expect(text).not.toContain(TOKEN)
    expect(text).not.toContain(TOKEN.slice(0, -4))
    const limitLines = app.logs.lines().filter((line) => String(line.msg).includes('reached the limit'))
    expect(limitLines).toHaveLength(1)
    expect(limitLines[0]).toMatchObject({ level: 40, ip: '127.0.0.1' })
  })
})

describe('admin.failedAuthLimit', () => {
  it('sets how many failures an address may make (3 here), and 0 lifts the limit', async () => {
    const blue: Upstream = await startUpstream('blue')
    const green: Upstream = await startUpstream('green')
    closers.push(() => blue.close(), () => green.close())
    const [strict, open] = await Promise.all([
      startTestApp(await testConfig([blue.url], [green.url], { admin: { host: '127.0.0.1', port: 0, token: TOKEN, failedAuthLimit: 3 } })),
      startTestApp(await testConfig([blue.url], [green.url], { admin: { host: '127.0.0.1', port: 0, token: TOKEN, failedAuthLimit: 0 } })),
    ])
    closers.push(() => strict.close(), () => open.close())

    const statuses = async (url: string, n: number) => {
      const seen: number[] = []
      for (let i = 0; i < n; i++) seen.push((await adminFrom(url, '127.0.0.1', '/v1/split', `wrong-${i}`)).status)
      return seen
    }
    expect(await statuses(strict.adminUrl, 5)).toEqual([401, 401, 401, 429, 429])
    expect(await statuses(open.adminUrl, 25)).toEqual(Array<number>(25).fill(401))
    expect((await adminFrom(open.adminUrl, '127.0.0.1', '/v1/split', TOKEN)).status).toBe(200)
    expect(open.logs.lines().filter((line) => String(line.msg).includes('reached the limit'))).toHaveLength(0)
  })
})

describe('AuthFailureLimiter', () => {
  it('blocks at the limit within a window and forgets after it', () => {
    const limiter = new AuthFailureLimiter(3, 60_000)
    const t0 = 1_000_000
    expect(limiter.failed('a', t0)).toBe(false)
    expect(limiter.failed('a', t0 + 1)).toBe(false)
    expect(limiter.blockedFor('a', t0 + 2)).toBe(0)
    expect(limiter.failed('a', t0 + 2)).toBe(true)
    expect(limiter.failed('a', t0 + 3)).toBe(false)
    expect(limiter.blockedFor('a', t0 + 10)).toBe(60)
    expect(limiter.blockedFor('a', t0 + 59_500)).toBe(1)
    expect(limiter.blockedFor('b', t0 + 10)).toBe(0)
    expect(limiter.blockedFor('a', t0 + 60_000)).toBe(0)
    expect(limiter.failed('a', t0 + 60_001)).toBe(false)
  })

  it('keeps its memory bounded under many addresses', () => {
    const limiter = new AuthFailureLimiter(2, 60_000)
    for (let i = 0; i < 25_000; i++) limiter.failed(`10.0.${i >> 8}.${i & 255}`, 1_000)
    // The newest addresses are still tracked.
    limiter.failed('10.0.97.167', 1_001)
    expect(limiter.blockedFor('10.0.97.167', 1_002)).toBeGreaterThan(0)
  })
})
