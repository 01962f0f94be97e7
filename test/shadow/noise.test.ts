import { describe, expect, it } from 'vitest'
import { comparePair, compareSettings } from '../../src/shadow/compare.js'
import { NoiseModel } from '../../src/shadow/noise.js'
import { answer, json, pair } from './fixtures.js'

const settings = compareSettings()

/** A blue answer, its twin and green's, where generatedAt differs on every answer. */
function sample(n: number, greenValue = 1, route = '/api') {
  const body = (at: number, value: number) => json({ generatedAt: at, value, items: [{ ts: at, id: 1 }, { ts: at + 1, id: 2 }] }, { headers: { 'content-type': 'application/json', 'x-request-id': `r${at}` } })
  return pair(body(3 * n, 1), body(3 * n + 2, greenValue), { route, blueTwin: body(3 * n + 1, 1) })
}

describe('NoiseModel', () => {
  it('learns a field that differs between two blue answers after minDiffs samples, then keeps it out of green\'s diffs', () => {
    const noise = new NoiseModel({ minDiffs: 2 })
    expect(comparePair(sample(0), settings, noise).body.paths.map((p) => p.path)).toContain('$.generatedAt')
    noise.learn(sample(1))
    expect(noise.noisyPath('/api', '$.generatedAt')).toBe(false) // one sample is not enough
    noise.learn(sample(2))
    expect(noise.noisyPath('/api', '$.generatedAt')).toBe(true)
    const quiet = comparePair(sample(3), settings, noise)
    expect(quiet.kinds).toEqual([])
    expect(quiet.body.noise.map((p) => p.path)).toEqual(['$.generatedAt', '$.items[0].ts', '$.items[1].ts'])
    const real = comparePair(sample(4, 2), settings, noise)
    expect(real.body.paths).toEqual([{ path: '$.value', kind: 'changed' }])
    expect(real.kinds).toEqual(['field'])
  })

  it('is per route', () => {
    const noise = new NoiseModel()
    noise.learn(sample(1))
    noise.learn(sample(2))
    expect(noise.noisyPath('/api', '$.generatedAt')).toBe(true)
    expect(noise.noisyPath('/other', '$.generatedAt')).toBe(false)
    expect(comparePair(sample(3, 1, '/other'), settings, noise).kinds).toEqual(['field'])
  })

  it('normalises array indices, and covers what lies under a noisy path', () => {
    const noise = new NoiseModel({ minDiffs: 1 })
    const twin = (ts: number, meta: unknown) => json({ items: [{ ts: 1 }, { ts: 1 }, { ts: 1 }, { ts }], meta })
    expect(noise.learn(pair(twin(1, null), answer(), { blueTwin: twin(2, { a: 1 }) }))).toBe(true)
    expect(noise.noisyPath('/api', '$.items[7].ts')).toBe(true)
    expect(noise.noisyPath('/api', '$.items[7].id')).toBe(false)
    expect(noise.noisyPath('/api', '$.meta.a.b')).toBe(true)
    expect(noise.snapshot().routes[0]!.paths.map((p) => p.path)).toEqual(['$.items[*].ts', '$.meta'])
  })

  it('learns noisy headers', () => {
    const noise = new NoiseModel()
    noise.learn(sample(1))
    noise.learn(sample(2))
    expect(noise.noisyHeader('/api', 'x-request-id')).toBe(true)
    expect(noise.noisyHeader('/api', 'content-type')).toBe(false)
  })

  it('learns nothing without a twin or from twins that disagree on status', () => {
    const noise = new NoiseModel({ minDiffs: 1 })
    expect(noise.learn(pair(json({ a: 1 }), json({ a: 2 })))).toBe(false)
    expect(noise.learn(pair(json({ a: 1 }), json({ a: 2 }), { blueTwin: json({ a: 3 }, { status: 500 }) }))).toBe(false)
    expect(noise.snapshot()).toEqual({ routes: [] })
  })

  it('with minShare, a rare difference in a busy route is not noise', () => {
    const noise = new NoiseModel({ minDiffs: 2, minShare: 0.1 })
    const twins = (a: number, b: number) => pair(json({ v: a }), answer(), { blueTwin: json({ v: b }) })
    for (let i = 0; i < 2; i++) noise.learn(twins(1, 2))
    for (let i = 0; i < 30; i++) noise.learn(twins(1, 1))
    expect(noise.noisyPath('/api', '$.v')).toBe(false) // 2 of 32
    for (let i = 0; i < 2; i++) noise.learn(twins(1, 2))
    expect(noise.noisyPath('/api', '$.v')).toBe(true) // 4 of 34
  })

  it('keeps at most maxRoutes routes, evicting the least recently learned', () => {
    const noise = new NoiseModel({ minDiffs: 1, maxRoutes: 2 })
    const twins = (route: string) => pair(json({ v: 1 }), answer(), { route, blueTwin: json({ v: 2 }) })
    noise.learn(twins('/a'))
    noise.learn(twins('/b'))
    noise.learn(twins('/a'))
    noise.learn(twins('/c'))
    expect(noise.snapshot().routes.map((r) => r.route)).toEqual(['/a', '/c'])
  })

  it('keeps at most maxPathsPerRoute paths, evicting the least differing, then the longest unseen', () => {
    const noise = new NoiseModel({ minDiffs: 1, maxPathsPerRoute: 2 })
    const twins = (...keys: string[]) =>
      pair(json(Object.fromEntries(keys.map((k) => [k, 1]))), answer(), { blueTwin: json(Object.fromEntries(keys.map((k) => [k, 2]))) })
    noise.learn(twins('a', 'b'))
    noise.learn(twins('a'))
    noise.learn(twins('c')) // evicts b (1 difference) and keeps a (2)
    expect(noise.snapshot().routes[0]!.paths).toEqual([
      { path: '$.a', diffs: 2, noisy: true },
      { path: '$.c', diffs: 1, noisy: true },
    ])
    noise.reset()
    noise.learn(twins('x'))
    noise.learn(twins('y'))
    noise.learn(twins('z')) // x and y differed once each: x, seen longest ago, goes
    expect(noise.snapshot().routes[0]!.paths.map((p) => p.path)).toEqual(['$.y', '$.z'])
    noise.reset()
    expect(noise.snapshot().routes).toEqual([])
  })
})
