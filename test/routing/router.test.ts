import { describe, expect, it } from 'vitest'
import { Router } from '../../src/routing/router.js'
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
    expect(route.setCookie).toMatch(/^sy_sid=[0-9a-f-]{36}; Path=\/; Max-Age=86400; HttpOnly; SameSite=Lax$/)
    const id = /^sy_sid=([^;]+)/.exec(route.setCookie!)![1]!
    expect(route.color).toBe(bucketOf(id) < 5000 ? 'green' : 'blue')
    // The next request carries the cookie and is routed by it, with no new cookie.
    const again = keyless.route(makeTable(1, 5000), { cookie: `sy_sid=${id}` }, '10.0.0.2')
    expect(again).toEqual({ color: route.color, setCookie: undefined })
  })

  it('falls back to the client address when the cookie is off', () => {
    const noCookie = new Router({ ...policy, keys: ['header:x-user-id'], cookie: '' })
    const route = noCookie.route(justGreen('10.1.1.1'), {}, '10.1.1.1')
    expect(route).toEqual({ color: 'green', setCookie: undefined })
  })
})
