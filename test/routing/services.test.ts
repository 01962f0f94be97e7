import { describe, expect, it } from 'vitest'
import { normalizeHost, ServiceMatcher, ServiceMatchError } from '../../src/routing/services.js'

const matcher = (fallback?: string) =>
  new ServiceMatcher(
    [
      { name: 'api', match: { hosts: ['api.example.com'], pathPrefixes: [] }, service: 'api' },
      { name: 'api-v2', match: { hosts: ['api.example.com'], pathPrefixes: ['/v2'] }, service: 'api-v2' },
      { name: 'models', match: { hosts: ['*.models.example.com'], pathPrefixes: ['/v1/chat', '/v1/completions/'] }, service: 'models' },
      { name: 'tenants', match: { hosts: ['*.example.com'], pathPrefixes: [] }, service: 'tenants' },
      { name: 'web', match: { hosts: [], pathPrefixes: ['/'] }, service: 'web' },
      { name: 'static', match: { hosts: [], pathPrefixes: ['/static'] }, service: 'static' },
    ],
    fallback,
  )

describe('ServiceMatcher', () => {
  it('picks an exact host, then the longest path prefix on segment boundaries', () => {
    const m = matcher()
    expect(m.match('api.example.com', '/v1/users')).toBe('api')
    expect(m.match('api.example.com', '/v2')).toBe('api-v2')
    expect(m.match('api.example.com', '/v2/users?x=1')).toBe('api-v2')
    expect(m.match('api.example.com', '/v2?x=/v1')).toBe('api-v2')
    // Not a segment boundary.
    expect(m.match('api.example.com', '/v2beta')).toBe('api')
    expect(m.match('API.Example.com.:8443', '/v2/x')).toBe('api-v2')
  })

  it('takes wildcards from the most specific suffix, at any depth', () => {
    const m = matcher()
    expect(m.match('eu.models.example.com', '/v1/chat/stream')).toBe('models')
    expect(m.match('a.b.models.example.com', '/v1/completions')).toBe('models')
    // The wildcard host has no prefix for this path: the next, less specific host takes it.
    expect(m.match('eu.models.example.com', '/v1/embeddings')).toBe('tenants')
    expect(m.match('acme.example.com', '/anything')).toBe('tenants')
    // *.example.com does not match example.com itself.
    expect(m.match('example.com', '/')).toBe('web')
  })

  it('falls back to services of any host, then to the default, else undefined', () => {
    expect(matcher().match('other.org', '/static/app.js')).toBe('static')
    expect(matcher().match(undefined, '/')).toBe('web')
    const narrow = new ServiceMatcher([{ name: 'api', match: { hosts: ['api.example.com'], pathPrefixes: ['/v1'] }, service: 'api' }])
    expect(narrow.match('api.example.com', '/v2')).toBeUndefined()
    expect(narrow.match('x.org', '/v1')).toBeUndefined()
    const withDefault = new ServiceMatcher([{ name: 'api', match: { hosts: ['api.example.com'], pathPrefixes: ['/v1'] }, service: 'api' }], 'default')
    expect(withDefault.match('x.org', '/v1')).toBe('default')
  })

  it('refuses malformed rules and two services on one host and prefix, naming them', () => {
    const make = (hosts: string[], pathPrefixes: string[]) => () => new ServiceMatcher([{ name: 'a', match: { hosts, pathPrefixes }, service: 1 }])
    expect(make(['api.*.com'], [])).toThrow(ServiceMatchError)
    expect(make(['*'], [])).toThrow(/services\.a\.match: "\*" is not a host name/)
    expect(make(['a b'], [])).toThrow(/not a host name/)
    expect(make([], ['api'])).toThrow(/must start with "\/"/)
    expect(make([], ['/api?x'])).toThrow(/path alone/)
    expect(
      () =>
        new ServiceMatcher([
          { name: 'a', match: { hosts: ['x.io'], pathPrefixes: ['/api/'] }, service: 1 },
          { name: 'b', match: { hosts: ['X.io'], pathPrefixes: ['/api'] }, service: 2 },
        ]),
    ).toThrow(/services\.b\.match: path prefix "\/api" on this host is also services\.a's/)
  })

  it('normalises Host headers', () => {
    expect(normalizeHost(' Example.COM. ')).toBe('example.com')
    expect(normalizeHost('[::1]:8080')).toBe('[::1]')
    expect(normalizeHost('host:80')).toBe('host')
    expect(normalizeHost('')).toBeUndefined()
    expect(normalizeHost(undefined)).toBeUndefined()
  })

  it('matches 50 host-named services without scanning them (same answer as a scan)', () => {
    const services = Array.from({ length: 50 }, (_, i) => ({ name: `s${i}`, match: { hosts: [`s${i}.example.com`], pathPrefixes: [] }, service: i }))
    const m = new ServiceMatcher(services)
    for (let i = 0; i < 50; i++) expect(m.match(`s${i}.example.com`, '/x')).toBe(i)
    expect(m.match('s50.example.com', '/x')).toBeUndefined()
  })
})
