import { describe, expect, it } from 'vitest'
import { OTHER_ROUTE, RouteGroups } from '../../src/outcomes/route-groups.js'

const groups = (settings: { depth?: number; max?: number; prefixes?: string[] } = {}) =>
  new RouteGroups({ depth: settings.depth ?? 1, max: settings.max ?? 100, prefixes: settings.prefixes ?? [] })

describe('RouteGroups', () => {
  it('groups by the first `depth` path segments, without the query', () => {
    expect(groups({ depth: 2 }).group('/v1/chat/completions?x=1')).toBe('/v1/chat')
    expect(groups({ depth: 1 }).group('/v1/chat/completions')).toBe('/v1')
    expect(groups({ depth: 3 }).group('/v1/chat')).toBe('/v1/chat')
    expect(groups({ depth: 0 }).group('/v1/chat/completions')).toBe('/')
    expect(groups({ depth: 2 }).group('/')).toBe('/')
    expect(groups({ depth: 2 }).group('/?q=/a/b')).toBe('/')
    expect(groups({ depth: 2 }).group('/v1/?q')).toBe('/v1')
  })

  it('turns id-like segments into :id: digits, UUIDs, long hex, overlong tokens', () => {
    const g = groups({ depth: 3 })
    expect(g.group('/users/42/orders')).toBe('/users/:id/orders')
    expect(g.group('/users/43/orders')).toBe('/users/:id/orders')
    expect(g.group('/jobs/3f2504e0-4f89-11d3-9a0c-0305e82c3301/log')).toBe('/jobs/:id/log')
    expect(g.group('/blobs/0123456789ABCDEF0123/x')).toBe('/blobs/:id/x')
    expect(g.group(`/t/${'a'.repeat(65)}z/x`)).toBe('/t/:id/x')
    // Short hex-looking words are names.
    expect(g.group('/cafe/beef/face')).toBe('/cafe/beef/face')
    expect(g.group('/v2/models/gpt-4o')).toBe('/v2/models/gpt-4o')
  })

  it('a configured prefix names the group, on segment boundaries only, the longest winning', () => {
    const g = groups({ depth: 1, prefixes: ['/v1/chat', '/v1/chat/completions', '/v1'] })
    expect(g.group('/v1/chat/completions?stream=true')).toBe('/v1/chat/completions')
    expect(g.group('/v1/chat/other')).toBe('/v1/chat')
    expect(g.group('/v1/chat')).toBe('/v1/chat')
    expect(g.group('/v1/chatter')).toBe('/v1')
    expect(g.group('/v2/chat')).toBe('/v2')
  })

  it('a template matches any one segment in its :name places and is named as written', () => {
    const g = groups({ depth: 1, prefixes: ['/v1/models/:model/chat', '/v1/models/:model', '/v1/models/special/chat'] })
    expect(g.group('/v1/models/llama-3/chat?x')).toBe('/v1/models/:model/chat')
    expect(g.group('/v1/models/llama-3/chat/stream')).toBe('/v1/models/:model/chat')
    expect(g.group('/v1/models/llama-3')).toBe('/v1/models/:model')
    expect(g.group('/v1/models/llama-3/embed')).toBe('/v1/models/:model')
    // Equal length: the literal one is more specific.
    expect(g.group('/v1/models/special/chat')).toBe('/v1/models/special/chat')
    // A :name needs a segment to match.
    expect(g.group('/v1/models')).toBe('/v1')
    expect(g.group('/v1/models/')).toBe('/v1')
  })

  it('keeps the first `max` groups and puts every further one in "other"', () => {
    const g = groups({ depth: 1, max: 2 })
    expect(g.group('/a/1')).toBe('/a')
    expect(g.group('/b')).toBe('/b')
    expect(g.group('/c')).toBe(OTHER_ROUTE)
    expect(g.group('/d?x')).toBe(OTHER_ROUTE)
    // Groups already seen stay themselves.
    expect(g.group('/a/2')).toBe('/a')
    expect(g.group('/b/x')).toBe('/b')
    const distinct = new Set<string>()
    const busy = groups({ depth: 2, max: 10 })
    for (let i = 0; i < 10_000; i++) distinct.add(busy.group(`/r${i % 500}/s${i}`))
    expect(distinct.size).toBe(11)
    expect(distinct.has(OTHER_ROUTE)).toBe(true)
  })

  it('prefix groups count against the cap too', () => {
    const g = groups({ depth: 1, max: 1, prefixes: ['/api'] })
    expect(g.group('/api/x')).toBe('/api')
    expect(g.group('/web')).toBe(OTHER_ROUTE)
  })

  it('max 0 turns grouping off', () => {
    const g = groups({ max: 0, prefixes: ['/v1'] })
    expect(g.group('/v1/chat')).toBe('')
    expect(g.group(undefined)).toBe('')
  })

  it('never throws on hostile targets and keeps them bounded', () => {
    const g = groups({ depth: 2, prefixes: ['/v1/:x'] })
    expect(g.group(undefined)).toBe('/')
    expect(g.group('')).toBe('/')
    expect(g.group('*')).toBe('/')
    expect(g.group('http://example.com/v2/chat/completions?x')).toBe('/v2/chat')
    expect(g.group('HTTPS://example.com')).toBe('/')
    expect(g.group('http://example.com?x=/a/b')).toBe('/')
    expect(g.group('http://example.com/v1/a')).toBe('/v1/:x')
    expect(g.group('//v2//chat///x')).toBe('/v2/chat')
    expect(g.group('///')).toBe('/')
    expect(g.group('/%2e%2e/%2F/x')).toBe('/%2e%2e/%2F')
    expect(g.group('/v2/#frag/x')).toBe('/v2')
    expect(g.group('/\ud800/\u0000')).toBe('/\ud800/\u0000')
    expect(g.group('/x?')).toBe('/x')
    const long = `/${'seg/'.repeat(100_000)}`
    const started = performance.now()
    expect(g.group(long)).toBe('/seg/seg')
    expect(g.group(`/${'a'.repeat(1_000_000)}`)).toBe('/:id')
    expect(performance.now() - started).toBeLessThan(1_000)
    for (const url of ['/v1', '/v1/', 'v1/a', 'http:/x', '://', '?', '#', '/?#', 'http://', 'http:///']) {
      expect(typeof g.group(url)).toBe('string')
    }
  })
})
