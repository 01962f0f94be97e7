import { describe, expect, it } from 'vitest'
import { pickColor, Router } from '../../src/routing/router.js'
import { PreviewSigner } from '../../src/routing/preview.js'
import { compileKey, readCookie } from '../../src/routing/sticky.js'
import { bucketOf } from '../../src/routing/hash.js'
import { makeTable } from '../../src/routing/types.js'

const policy = {
  keys: ['cookie:session', 'header:x-user-id', 'ip'],
  cookie: 'sy_sid',
  cookieMaxAgeSeconds: 86_400,
  overrideHeader: 'x-switchyard-color',
}

/** A table that puts exactly `key` on the green side of the boundary. */
const justGreen = (key: string) => makeTable(1, bucketOf(key) + 1)
const justBlue = (key: string) => makeTable(1, bucketOf(key))

describe('readCookie', () => {
  it('finds a cookie among others and ignores look-alike names', () => {
    expect(readCookie('a=1; session=abc; b=2', 'session')).toBe('abc')
    expect(readCookie('mysession=x; session=y', 'session')).toBe('y')
    expect(readCookie('session=first;session=second', 'session')).toBe('first')
    expect(readCookie('session="quoted"', 'session')).toBe('quoted')
    expect(readCookie('session=', 'session')).toBeUndefined()
    expect(readCookie('other=1', 'session')).toBeUndefined()
    expect(readCookie(undefined, 'session')).toBeUndefined()
  })
})

describe('compileKey', () => {
  it('refuses unknown forms', () => {
    expect(() => compileKey('query:x')).toThrow(/not a sticky key/)
    expect(() => compileKey('cookie:')).toThrow(/not a sticky key/)
  })
  it('reads headers case-insensitively', () => {
    expect(compileKey('header:X-User-Id')({ 'x-user-id': 'u1' }, undefined)).toBe('u1')
  })
})

describe('Router', () => {
  const router = new Router(policy)

  it('uses the first key present: cookie before header before ip', () => {
    const headers = { cookie: 'session=s1', 'x-user-id': 'u1' }
    expect(router.route(justGreen('s1'), headers, '10.0.0.1').color).toBe('green')
    expect(router.route(justBlue('s1'), headers, '10.0.0.1').color).toBe('blue')
    expect(router.route(justGreen('u1'), { 'x-user-id': 'u1' }, '10.0.0.1').color).toBe('green')
    expect(router.route(justGreen('10.0.0.1'), {}, '10.0.0.1').color).toBe('green')
    expect(router.route(justBlue('10.0.0.1'), {}, '10.0.0.1').color).toBe('blue')
  })

  it('the override header wins over the split, other values are ignored', () => {
    expect(router.route(makeTable(1, 0), { 'x-switchyard-color': 'green' }, 'ip').color).toBe('green')
    expect(router.route(makeTable(1, 10_000), { 'x-switchyard-color': 'blue' }, 'ip').color).toBe('blue')
    expect(router.route(makeTable(1, 0), { 'x-switchyard-color': 'purple' }, 'ip').color).toBe('blue')
  })

  it('assigns a cookie to a keyless client and routes by it', () => {
    const keyless = new Router({ ...policy, keys: ['header:x-user-id'] })
    const route = keyless.route(makeTable(1, 5000), {}, '10.0.0.1')
    expect(route.setCookie).toMatch(/^sy_sid=[0-9a-f-]{36}\.[0-9a-z]+; Path=\/; Max-Age=86400; HttpOnly; SameSite=Lax$/)
    const value = /^sy_sid=([^;]+)/.exec(route.setCookie!)![1]!
    // The cookie is <id>.<issued>; the id alone is hashed, so re-issuing it keeps the colour.
    const id = value.split('.')[0]!
    expect(route.color).toBe(bucketOf(id) < 5000 ? 'green' : 'blue')
    // The next request carries the cookie and is routed by it, with no new cookie.
    const again = keyless.route(makeTable(1, 5000), { cookie: `sy_sid=${value}` }, '10.0.0.2')
    expect(again).toEqual({ color: route.color, setCookie: undefined })
  })

  it('falls back to the client address when the cookie is off', () => {
    const noCookie = new Router({ ...policy, keys: ['header:x-user-id'], cookie: '' })
    const route = noCookie.route(justGreen('10.1.1.1'), {}, '10.1.1.1')
    expect(route).toEqual({ color: 'green', setCookie: undefined })
  })
})

describe('Router: stickiness a user cannot fall out of', () => {
  const sticky = { keys: ['cookie:session', 'header:x-user-id'], cookie: 'sy_sid', cookieMaxAgeSeconds: 3600, overrideHeader: 'x-switchyard-color' }
  const table = makeTable(1, 5000)

  it('the assigned cookie wins once present: an app cookie appearing or rotating moves nobody', () => {
    let now = 1_000_000_000
    const router = new Router({ ...sticky, now: () => now })
    const first = router.route(table, {}, '10.0.0.1', false, 'GET')
    const cookie = /^(sy_sid=[^;]+)/.exec(first.setCookie!)![1]!
    for (let i = 0; i < 50; i++) {
      now += 1000
      const r = router.route(table, { cookie: `${cookie}; session=rotated-${i}` }, '10.0.0.1', false, 'GET')
      expect(r.color).toBe(first.color)
    }
  })

  it('slides: an active user gets the same id re-issued once half the Max-Age has passed', () => {
    let now = 1_000_000_000
    const router = new Router({ ...sticky, now: () => now })
    const first = router.route(table, {}, undefined, false, 'GET')
    const value = /^sy_sid=([^;]+)/.exec(first.setCookie!)![1]!
    now += 1000_000 // 1000 s: under half of 3600 s
    expect(router.route(table, { cookie: `sy_sid=${value}` }, undefined).setCookie).toBeUndefined()
    now += 1000_000 // 2000 s: over half
    const refreshed = router.route(table, { cookie: `sy_sid=${value}` }, undefined)
    expect(refreshed.color).toBe(first.color)
    expect(refreshed.setCookie).toMatch(new RegExp(`^sy_sid=${value.split('.')[0]!}\\.`))
    // A cookie from before the stamp (the id alone) keeps its colour and gets one.
    const legacy = router.route(table, { cookie: `sy_sid=${value.split('.')[0]!}` }, undefined)
    expect(legacy.color).toBe(first.color)
    expect(legacy.setCookie).toBeDefined()
  })

  it('never mints a cookie on a cross-site POST (it would overwrite the one the browser holds)', () => {
    const router = new Router(sticky)
    const post = router.route(table, { 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'navigate' }, undefined, false, 'POST')
    expect(post.setCookie).toBeUndefined()
    const nav = router.route(table, { 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'navigate' }, undefined, false, 'GET')
    expect(nav.setCookie).toBeDefined()
  })

  it('Secure and SameSite=None over HTTPS, Lax over HTTP', () => {
    const router = new Router(sticky)
    expect(router.route(table, {}, undefined, true, 'GET').setCookie).toMatch(/; SameSite=None; Secure$/)
    expect(router.route(table, {}, undefined, false, 'GET').setCookie).toMatch(/; SameSite=Lax$/)
    const strict = new Router({ ...sticky, cookieSameSite: 'Strict', cookieSecure: 'always' })
    expect(strict.route(table, {}, undefined, false, 'GET').setCookie).toMatch(/; SameSite=Strict; Secure$/)
  })

  it('answers an unknown override value with a reason instead of ignoring it', () => {
    const r = new Router(sticky).route(table, { 'x-switchyard-color': 'purple' }, undefined)
    expect(r.reject).toBe('x-switchyard-color must be "blue" or "green", not "purple"')
  })

  it('a valid preview cookie shows its colour; a forged or expired one changes nothing', () => {
    let now = 1_000_000_000
    const signer = new PreviewSigner('a secret of sixteen+ chars')
    const router = new Router({ ...sticky, preview: signer, now: () => now, keys: ['header:x-user-id'] })
    const zero = makeTable(1, 0)
    const token = signer.sign('green', now + 60_000)
    expect(router.route(zero, { cookie: `sy_preview=${token}`, 'x-user-id': 'u' }, undefined).color).toBe('green')
    expect(router.route(zero, { cookie: `sy_preview=${token.replace(/.$/, 'x')}`, 'x-user-id': 'u' }, undefined).color).toBe('blue')
    const other = new PreviewSigner('another secret, sixteen+')
    expect(router.route(zero, { cookie: `sy_preview=${other.sign('green', now + 60_000)}`, 'x-user-id': 'u' }, undefined).color).toBe('blue')
    now += 61_000
    expect(router.route(zero, { cookie: `sy_preview=${token}`, 'x-user-id': 'u' }, undefined).color).toBe('blue')
  })

  it('a new release salt draws a new group; within a release raising green only moves blue users', () => {
    const keys = Array.from({ length: 2000 }, (_, i) => `user-${i}`)
    const green = (t: ReturnType<typeof makeTable>) => new Set(keys.filter((k) => pickColor(t, k) === 'green'))
    const a10 = green(makeTable(1, 1000, 'release-a'))
    const a30 = green(makeTable(2, 3000, 'release-a'))
    for (const k of a10) expect(a30.has(k)).toBe(true)
    const b10 = green(makeTable(3, 1000, 'release-b'))
    const overlap = [...a10].filter((k) => b10.has(k)).length
    // Independent groups: about 10 % of a10 is green again, not all of it.
    expect(overlap / a10.size).toBeLessThan(0.25)
    // No salt hashes as before (stored sticky assignments keep their colour after an upgrade).
    expect(pickColor(makeTable(1, 5000), 'alice')).toBe(pickColor(makeTable(1, 5000, ''), 'alice'))
  })
})
