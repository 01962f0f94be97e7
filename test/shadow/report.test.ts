import { describe, expect, it } from 'vitest'
import { comparePair, compareSettings } from '../../src/shadow/compare.js'
import type { Captured, Pair } from '../../src/shadow/captured.js'
import { ShadowReport, type ReportOptions } from '../../src/shadow/report.js'
import { redactQuery } from '../../src/shadow/redact.js'
import { answer, json, pair } from './fixtures.js'

const settings = compareSettings()

function fill(report: ShadowReport, pairs: Pair[]): ShadowReport {
  for (const p of pairs) report.add(p, comparePair(p, settings))
  return report
}
const same = (route: string) => pair(json({ a: 1 }), json({ a: 1 }), { route })
const field = (route: string, key = 'a') => pair(json({ [key]: 1, items: [{ v: 1 }] }), json({ [key]: 2, items: [{ v: 2 }] }), { route })
const status = (route: string) => pair(json({ a: 1 }), json({ a: 1 }, { status: 500 }), { route })

describe('ShadowReport', () => {
  it('counts shares by route, kind and normalised field path, most frequent first', () => {
    const report = fill(new ShadowReport(), [
      same('/a'), same('/a'), field('/a'), status('/a'),
      field('/b'), field('/b', 'b'),
      same('/c'),
    ])
    const s = report.snapshot()
    expect([s.pairs, s.differing, s.share]).toEqual([7, 4, 0.5714])
    expect(s.kinds).toEqual([{ kind: 'field', count: 3, share: 0.4286 }, { kind: 'status', count: 1, share: 0.1429 }])
    expect(s.routes.map((r) => [r.route, r.pairs, r.differing, r.share])).toEqual([['/a', 4, 2, 0.5], ['/b', 2, 2, 1], ['/c', 1, 0, 0]])
    expect(s.routes[1]!.paths).toEqual([
      { path: '$.items[*].v', count: 2, share: 1, noise: 0, noisy: false },
      { path: '$.a', count: 1, share: 0.5, noise: 0, noisy: false },
      { path: '$.b', count: 1, share: 0.5, noise: 0, noisy: false },
    ])
    expect(s.routes[0]!.kinds.map((k) => k.kind)).toEqual(['field', 'status'])
    expect(JSON.parse(JSON.stringify(s))).toEqual(s)
  })

  it('counts learned noise apart', () => {
    const report = new ShadowReport()
    const p = field('/a')
    const c = comparePair(p, settings, { noisyPath: (_, path) => path === '$.a', noisyHeader: () => false })
    report.add(p, c)
    expect(report.snapshot().routes[0]!.paths).toEqual([
      { path: '$.items[*].v', count: 1, share: 1, noise: 0, noisy: false },
      { path: '$.a', count: 0, share: 0, noise: 1, noisy: true },
    ])
  })

  it('caps examples per route and in all, routes and paths', () => {
    const routes = Array.from({ length: 10 }, (_, i) => `/r${i}`)
    const s = fill(new ShadowReport({ maxExamples: 20, examplesPerRoute: 3 }), routes.flatMap((r) => Array.from({ length: 5 }, () => field(r)))).snapshot()
    expect(s.examples).toHaveLength(20)
    expect(Math.max(...routes.map((r) => s.examples.filter((e) => e.route === r).length))).toBe(3)
    const capped = fill(new ShadowReport({ maxRoutes: 2, maxPathsPerRoute: 1 }), [field('/x'), field('/y'), field('/z'), status('/w'), same('other')]).snapshot()
    expect(capped.routes.map((r) => [r.route, r.pairs])).toEqual([['other', 3], ['/x', 1], ['/y', 1]])
    expect(capped.routes[1]!.paths.map((p) => p.path)).toEqual(['$.a'])
    expect(capped.routes[1]!.otherPaths).toBe(1)
  })

  it("gives quantiles of green's time over blue's per route, within a bin", () => {
    const timed = (blue: number, green: number) => pair(answer({ durationMs: blue, ttfbMs: blue / 2 }), answer({ durationMs: green, ttfbMs: green / 2 }), { route: '/t' })
    // Nine pairs where green takes 1.5x blue's time, one where it takes 3x.
    const report = fill(new ShadowReport(), [...Array.from({ length: 9 }, () => timed(10, 15)), timed(10, 30)])
    const route = report.snapshot().routes[0]!
    expect(route.latencyRatio!.p50).toBeCloseTo(1.5, 0)
    expect(Math.abs(route.latencyRatio!.p50 - 1.5) / 1.5).toBeLessThan(0.05)
    expect(route.latencyRatio!.p90).toBeCloseTo(1.5, 0)
    expect(route.ttfbRatio!.p50).toBeCloseTo(1.5, 0)
    const slowTail = fill(new ShadowReport(), [...Array.from({ length: 8 }, () => timed(10, 10)), timed(10, 30), timed(10, 30)]).snapshot().routes[0]!
    expect(slowTail.latencyRatio).toEqual({ p50: 1, p90: expect.closeTo(3, 0) as number })
    expect(fill(new ShadowReport(), []).snapshot().routes).toEqual([])
  })

  it('resets', () => {
    const report = fill(new ShadowReport(), [field('/a')])
    report.reset()
    expect(report.snapshot()).toEqual({ pairs: 0, differing: 0, share: 0, kinds: [], routes: [], examples: [] })
  })

  it('redacts query values and leaves bodies out by default', () => {
    expect(redactQuery('/p?token=abc&x=1&bare#frag')).toBe('/p?token=[redacted]&x=[redacted]&[redacted]')
    expect(redactQuery('/p')).toBe('/p')
    const p = pair(json({ secret: 'hunter2', a: 1 }), json({ secret: 'hunter2', a: 2 }), { path: '/login?token=abc123' })
    const s = fill(new ShadowReport(), [p]).snapshot()
    expect(s.examples[0]).toMatchObject({ method: 'GET', path: '/login?token=[redacted]', blue: { status: 200 }, green: { status: 200 } })
    expect(s.examples[0]!.paths).toEqual([{ path: '$.a', kind: 'changed' }])
    const text = JSON.stringify(s)
    for (const secret of ['abc123', 'hunter2', '"body"', 'headerValues']) expect(text).not.toContain(secret)
  })

  it('with bodies on, shows excerpts with redacted fields and headers, never a secret', () => {
    const secrets = { authorization: 'Bearer tok-SECRET-1', cookie: 'sid=COOKIE-SECRET-2', 'set-cookie': 'sid=COOKIE-SECRET-3', 'x-api-key': 'KEY-SECRET-4' }
    const headers = (n: number): Record<string, string> =>
      ({ 'content-type': 'application/json', ...Object.fromEntries(Object.entries(secrets).map(([k, v]) => [k, `${v}-${n}`])), 'x-version': String(n) })
    const body = (n: number) => ({ user: { password: 'PW-SECRET-5', name: 'ada' }, tokens: [{ value: 'TOKEN-SECRET-6' }], n })
    const blue: Captured = json(body(1), { headers: headers(1) })
    const green: Captured = json(body(2), { headers: headers(2) })
    const options: ReportOptions = { includeBodies: true, redactFields: ['$..password', '$.tokens[*].value'] }
    // The comparison never compares redacted headers; show them differing anyway to test the report's own list.
    const p = pair(blue, green, { path: '/x?api_key=KEY-SECRET-7' })
    const c = comparePair(p, compareSettings({ redactHeaders: [] }))
    expect(c.headers).toEqual(['authorization', 'cookie', 'set-cookie', 'x-api-key', 'x-version'])
    const report = new ShadowReport(options)
    report.add(p, c)
    const s = report.snapshot()
    const example = s.examples[0]!
    expect(example.blue.body).toBe('{"user":{"password":"[redacted]","name":"ada"},"tokens":[{"value":"[redacted]"}],"n":1}')
    expect(example.headerValues?.['x-version']).toEqual({ blue: '1', green: '2' })
    expect(example.headerValues?.authorization).toEqual({ blue: '[redacted]', green: '[redacted]' })
    expect(JSON.stringify(s)).not.toMatch(/SECRET/)
  })

  it('describes bodies it cannot redact instead of showing them, and cuts long ones', () => {
    const report = new ShadowReport({ includeBodies: true, bodyExcerptChars: 10 })
    const cut: Captured = answer({ headers: { 'content-type': 'application/json' }, body: Buffer.from('{"password":"SECRET'), truncated: true })
    const binary: Captured = answer({ status: 500, headers: { 'content-type': 'application/octet-stream' }, body: Buffer.from('SECRET') })
    const p = pair(cut, binary, { route: '/a' })
    report.add(p, comparePair(p, settings))
    const text = pair(answer({ body: Buffer.from('x'.repeat(100)) }), answer({ status: 404 }), { route: '/b' })
    report.add(text, comparePair(text, settings))
    const s = report.snapshot()
    expect(JSON.stringify(s)).not.toMatch(/SECRET/)
    const a = s.examples.find((e) => e.route === '/a')!
    expect([a.blue.body, a.green.body]).toEqual(['[19 bytes of partial JSON, not shown]', '[6 bytes of application/octet-stream, not shown]'])
    expect(s.examples.find((e) => e.route === '/b')!.blue.body).toBe('xxxxxxxxxx…')
  })
})

describe('mergeReports (a fleet)', () => {
  it('sums counts exactly by kind, route and path, unions the noise, and says ratios are approximate', async () => {
    const { mergeReports } = await import('../../src/shadow/merge.js')
    const { NoiseModel } = await import('../../src/shadow/noise.js')
    const a = fill(new ShadowReport(), [field('/api'), field('/api'), same('/api'), status('/web')]).snapshot()
    const b = fill(new ShadowReport(), [field('/api', 'b'), same('/web')]).snapshot()
    const noise = new NoiseModel().snapshot()
    const merged = mergeReports([{ ...a, noise }, { ...b, noise }])
    expect(merged).toMatchObject({ replicas: 2, approximateRatios: true, pairs: 6, differing: 4, share: 0.6667 })
    expect(merged.kinds).toEqual([{ kind: 'field', count: 3, share: 0.5 }, { kind: 'status', count: 1, share: 0.1667 }])
    const api = merged.routes.find((r) => r.route === '/api')!
    expect(api).toMatchObject({ pairs: 4, differing: 3, share: 0.75 })
    expect(api.paths.map((p) => [p.path, p.count])).toEqual([['$.items[*].v', 3], ['$.a', 2], ['$.b', 1]])
    expect(merged.routes.find((r) => r.route === '/web')).toMatchObject({ pairs: 2, differing: 1 })
    expect(merged.examples.length).toBeLessThanOrEqual(20)
    expect(mergeReports([{ ...a, noise }])).toMatchObject({ replicas: 1, approximateRatios: false, pairs: 4 })
  })
})
