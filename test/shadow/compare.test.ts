import { describe, expect, it } from 'vitest'
import { comparePair, compareSettings, type NoiseFilter } from '../../src/shadow/compare.js'
import { answer, json, pair, sse } from './fixtures.js'

const settings = compareSettings()

describe('comparePair', () => {
  it('reports exactly the one JSON field green changed', () => {
    const c = comparePair(pair(json({ user: { id: 1, name: 'ada' }, n: 2 }), json({ n: 2.0, user: { name: 'bob', id: 1 } })), settings)
    expect(c.body).toMatchObject({ mode: 'json', compared: 'json', equal: false, why: null })
    expect(c.body.paths).toEqual([{ path: '$.user.name', kind: 'changed' }])
    expect(c.kinds).toEqual(['field'])
    expect(c.statusMatch && c.statusClassMatch).toBe(true)
    expect(c.headers).toEqual([])
  })

  it('does not report an ignored timestamp', () => {
    const at = compareSettings({ ignore: ['$.generatedAt', '$..ts'] })
    const c = comparePair(pair(json({ generatedAt: 1, items: [{ ts: 1, v: 1 }] }), json({ generatedAt: 2, items: [{ ts: 2, v: 1 }] })), at)
    expect(c.body.equal).toBe(true)
    expect(c.kinds).toEqual([])
  })

  it('tells a status class mismatch from a status mismatch', () => {
    const c = comparePair(pair(json({}), json({ error: 'x' }, { status: 503 })), settings)
    expect(c.statusClassMatch).toBe(false)
    expect(c.kinds).toEqual(['status', 'field'])
    const d = comparePair(pair(answer(), answer({ status: 201 })), compareSettings({ mode: 'status' }))
    expect([d.statusClassMatch, d.statusMatch]).toEqual([true, false])
    expect(d.kinds).toEqual(['status'])
    expect(d.body).toMatchObject({ compared: null, equal: null, why: 'mode-none' })
  })

  it('compares bytes in exact mode, fields in json mode', () => {
    const p = pair(json({ a: 1, b: 2 }), answer({ headers: { 'content-type': 'application/json' }, body: Buffer.from('{"b":2,"a":1}') }))
    expect(comparePair(p, compareSettings({ mode: 'exact' })).body).toMatchObject({ compared: 'exact', equal: false })
    expect(comparePair(p, compareSettings({ mode: 'exact' })).kinds).toEqual(['body'])
    expect(comparePair(p, settings).body).toMatchObject({ compared: 'json', equal: true })
  })

  it('falls back to bytes, saying why, when a body is not JSON', () => {
    const html = answer({ headers: { 'content-type': 'text/html' }, body: Buffer.from('<p>') })
    expect(comparePair(pair(json({ a: 1 }), html), settings).body).toMatchObject({ compared: 'exact', equal: false, why: 'not-json' })
    const broken = answer({ headers: { 'content-type': 'application/problem+json' }, body: Buffer.from('{"a":') })
    expect(comparePair(pair(broken, broken), settings).body).toMatchObject({ compared: 'exact', equal: true, why: 'not-json' })
    expect(comparePair(pair(json({ a: 1 }), html), settings).kinds).toEqual(['body'])
  })

  it('does not compare a truncated, uncaptured or cut body, and says why', () => {
    const cases = [
      [json({ a: 1 }, { truncated: true }), 'truncated'],
      [json({ a: 1 }, { body: null }), 'not-captured'],
      [json({ a: 1 }, { complete: false }), 'incomplete'],
    ] as const
    for (const [green, why] of cases) {
      const c = comparePair(pair(json({ a: 2 }), green), settings)
      expect(c.body).toMatchObject({ equal: null, compared: null, why })
      expect(c.kinds).not.toContain('field')
      expect(c.kinds).not.toContain('body')
    }
  })

  it('judges streams on framing, completion and SSE frames, never bytes', () => {
    const whole = comparePair(pair(sse(12), sse(12, { body: Buffer.from('data: other') })), settings)
    expect(whole.stream).toEqual({ framing: true, completion: true, events: true })
    expect(whole.body.why).toBe('streamed')
    expect(whole.kinds).toEqual([])
    const cut = comparePair(pair(sse(12), sse(4, { complete: false })), settings)
    expect(cut.stream).toEqual({ framing: true, completion: false, events: false })
    expect(cut.kinds).toEqual(['stream'])
    expect(comparePair(pair(sse(12), sse(13)), compareSettings({ compareEvents: false })).kinds).toEqual([])
    expect(comparePair(pair(sse(12), sse(13)), settings).kinds).toEqual(['stream'])
    const framing = comparePair(pair(answer(), sse(3)), settings)
    expect(framing.stream.framing).toBe(false)
    expect(framing.kinds).toContain('stream')
    // Chunked without a length is no stream: once whole, its body is compared like any other.
    const chunked = comparePair(pair(json({ a: 1 }, { headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' } }), json({ a: 2 })), settings)
    expect(chunked.stream.framing).toBe(true)
    expect(chunked.kinds).toEqual(['field'])
  })

  it('calls green slow past the factor, with blue counted as at least the floor', () => {
    const at = compareSettings({ latencyFactor: 2, latencyFloorMs: 10 })
    const kinds = (blue: number, green: number) => comparePair(pair(answer({ durationMs: blue }), answer({ durationMs: green })), at).kinds
    expect(kinds(1, 15)).toEqual([]) // 15 ms is under 2 × the 10 ms floor
    expect(kinds(1, 25)).toEqual(['latency'])
    expect(kinds(100, 150)).toEqual([])
    expect(kinds(100, 201)).toEqual(['latency'])
    const ttfb = comparePair(pair(answer({ ttfbMs: 20 }), answer({ ttfbMs: 50 })), at)
    expect(ttfb.kinds).toEqual(['latency'])
    expect(ttfb.ttfbRatio).toBe(2.5)
    expect(ttfb.latencyRatio).toBe(1)
    const none = comparePair(pair(answer({ durationMs: 0, ttfbMs: -1 }), answer({ durationMs: 15, ttfbMs: 900 })), at)
    expect([none.latencyRatio, none.ttfbRatio]).toEqual([null, null])
    expect(none.kinds).toEqual([]) // no first byte on blue's side: unknown, never slow
    expect(kinds(0, 100)).toEqual(['latency'])
  })

  it('compares nothing in mode none, but still measures', () => {
    const c = comparePair(pair(json({ a: 1 }), json({ a: 2 }, { status: 500, durationMs: 900 })), compareSettings({ mode: 'none' }))
    expect(c.kinds).toEqual([])
    expect(c.latencyRatio).toBe(45)
    expect(c.statusMatch).toBe(false)
  })

  it('reports differing header names, past hop-by-hop, date, redacted, ignored and noisy ones', () => {
    const blue = answer({ headers: { 'content-type': 'text/plain', date: 'a', etag: '1', 'set-cookie': 's=1', 'x-trace': '1', 'x-v': '1', connection: 'close', 'x-request-id': 'r1' } })
    const green = answer({ headers: { 'content-type': 'text/html', date: 'b', etag: '2', 'set-cookie': 's=2', 'x-trace': '2', 'x-new': 'y', 'x-request-id': 'r2' } })
    const noise: NoiseFilter = { noisyPath: () => false, noisyHeader: (route, name) => route === '/api' && name === 'x-request-id' }
    const c = comparePair(pair(blue, green), compareSettings({ ignoreHeaders: ['X-Trace'] }), noise)
    expect(c.headers).toEqual(['content-type', 'etag', 'x-new', 'x-v'])
    expect(c.kinds).toEqual([]) // headers are never a kind
  })

  it('keeps noisy fields apart from differences', () => {
    const noise: NoiseFilter = { noisyPath: (_, path) => path === '$.generatedAt', noisyHeader: () => false }
    const c = comparePair(pair(json({ generatedAt: 1, v: 1 }), json({ generatedAt: 2, v: 1 })), settings, noise)
    expect(c.body).toMatchObject({ equal: true, paths: [], noise: [{ path: '$.generatedAt', kind: 'changed' }] })
    expect(c.kinds).toEqual([])
  })

  it('refuses bad settings, naming them', () => {
    expect(() => compareSettings({ latencyFactor: 0.5 })).toThrow(/latencyFactor/)
    expect(() => compareSettings({ ignore: ['timestamp'] })).toThrow(/"timestamp"/)
  })
})

describe('compressed answers', () => {
  it('are compared by what they say, not by their compressed bytes', async () => {
    const { gzipSync, brotliCompressSync, deflateSync } = await import('node:zlib')
    const { decodedPair } = await import('../../src/shadow/decode.js')
    const body = (value: unknown, coding: string, encode: (b: Buffer) => Buffer) =>
      json(value, { headers: { 'content-type': 'application/json', 'content-encoding': coding }, body: encode(Buffer.from(JSON.stringify(value))) })
    const same = decodedPair(pair(body({ a: 1, b: [1, 2] }, 'gzip', (b) => gzipSync(b, { level: 1 })), body({ a: 1, b: [1, 2] }, 'br', (b) => brotliCompressSync(b))), 1 << 20)
    expect(comparePair(same, compareSettings()).kinds).toEqual([])
    const differs = decodedPair(pair(body({ a: 1 }, 'deflate', (b) => deflateSync(b)), body({ a: 2 }, 'gzip', (b) => gzipSync(b))), 1 << 20)
    expect(comparePair(differs, compareSettings()).body.paths.map((p) => p.path)).toEqual(['$.a'])
    // Bounded: a body that decodes past the limit stays as it came (compared as bytes).
    const big = body({ a: 'x'.repeat(10_000) }, 'gzip', (b) => gzipSync(b))
    expect(decodedPair(pair(big, big), 100).blue.body).toBe(big.body)
    // Corrupt or unknown codings stay as they came.
    const corrupt = json({ a: 1 }, { headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' } })
    expect(decodedPair(pair(corrupt, corrupt), 1 << 20).blue).toBe(corrupt)
  })
})
