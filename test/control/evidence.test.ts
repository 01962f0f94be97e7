import { describe, expect, it } from 'vitest'
import { Evidence } from '../../src/control/analysis/evidence.js'
import { DEFAULT_ANALYSIS } from '../../bench/judge/simulate.js'

function setup(overrides: Partial<typeof DEFAULT_ANALYSIS> = {}) {
  let now = 1_000_000
  const evidence = new Evidence({ ...DEFAULT_ANALYSIS, ...overrides }, () => now)
  return { evidence, advance: (ms: number) => (now += ms), at: () => now }
}

const reading = (e: Evidence, test: string, route?: string) => e.readings().find((r) => r.test === test && r.route === route)!

describe('Evidence', () => {
  it('judges nothing until both colours served in a batch', () => {
    const { evidence, advance } = setup()
    for (let i = 0; i < 30; i++) evidence.record('green', 10, true, 5, '')
    evidence.update()
    expect(reading(evidence, 'errors').green.requests).toBe(0)
    evidence.record('blue', 10, false, 5, '')
    advance(10)
    evidence.update()
    const r = reading(evidence, 'errors')
    expect(r.green).toMatchObject({ requests: 30, events: 30 })
    expect(r.blue).toMatchObject({ requests: 1, events: 0 })
  })

  it('drops a batch where one colour alone served for 10 s: it must not meet traffic from much later', () => {
    const { evidence, advance } = setup()
    evidence.record('green', 10, true, 5, '')
    advance(11_000)
    evidence.update()
    evidence.record('blue', 10, false, 5, '')
    advance(3000)
    evidence.update()
    expect(reading(evidence, 'errors').green.requests).toBe(0)
    expect(evidence.totals().green).toEqual({ requests: 1, errors: 1 })
  })

  it('fails an obviously broken green, names it, and forgets everything on restart', () => {
    const { evidence, advance } = setup()
    for (let batch = 0; batch < 6; batch++) {
      evidence.record('green', 10, true, 5, '/v1/chat')
      for (let i = 0; i < 19; i++) evidence.record('blue', 10, false, 5, '/v1/chat')
      advance(200)
      evidence.update()
    }
    expect(reading(evidence, 'errors').state).toBe('fail')
    evidence.restart()
    expect(reading(evidence, 'errors')).toMatchObject({ state: 'ok', evidence: 1, green: { requests: 0 } })
    expect(evidence.readings().filter((r) => r.test === 'route')).toHaveLength(0)
    expect(evidence.greenSinceMark).toBe(0)
  })

  it('drops counts from another process that began before the restart', () => {
    const { evidence, advance, at } = setup()
    advance(1000)
    evidence.restart()
    evidence.merge({ color: 'green', second: 0, requests: 5, errors: 5, latency: [8, 5], since: at() - 100 })
    evidence.merge({ color: 'green', second: 0, requests: 2, errors: 0, latency: [8, 2], since: at() })
    expect(evidence.totals().green).toEqual({ requests: 2, errors: 0 })
  })

  it('keeps at most routes.max route groups; the rest share "other"', () => {
    const { evidence, advance } = setup({ routes: { depth: 1, max: 2, prefixes: [] } })
    for (const route of ['/a', '/b', '/c', '/d']) {
      evidence.record('green', 10, false, 5, route)
      evidence.record('blue', 10, false, 5, route)
    }
    advance(3000)
    evidence.update()
    const routes = evidence.readings().filter((r) => r.test === 'route').map((r) => r.route)
    expect(routes.sort()).toEqual(['/a', '/b', 'other'])
    // Bonferroni over every group that may exist: max + 1.
    expect(reading(evidence, 'route', '/a').threshold).toBe(Math.round(1 / ((0.01 * 0.2) / 3)))
  })

  it('finds a broken route that the overall error rate hides', () => {
    const { evidence, advance } = setup()
    for (let batch = 0; batch < 40; batch++) {
      for (let i = 0; i < 180; i++) evidence.record('blue', 10, false, 5, '/api')
      for (let i = 0; i < 20; i++) evidence.record('green', 10, false, 5, '/api')
      for (let i = 0; i < 4; i++) evidence.record('blue', 10, false, 5, '/v1/broken')
      evidence.record('green', 10, true, -1, '/v1/broken')
      advance(2000)
      evidence.update()
    }
    expect(reading(evidence, 'route', '/v1/broken').state).toBe('fail')
    expect(reading(evidence, 'route', '/api').state).toBe('ok')
  })

  it('judges latency against blue\'s own quantile, with the floor', () => {
    const run = (greenMs: number) => {
      const { evidence, advance } = setup()
      for (let batch = 0; batch < 50; batch++) {
        for (let i = 0; i < 20; i++) {
          evidence.record('blue', 20 + (i % 10), false, 5, '')
          evidence.record('green', greenMs + (i % 10), false, 5, '')
        }
        advance(200)
        evidence.update()
      }
      return reading(evidence, 'latency')
    }
    const same = run(20)
    expect(same.state).toBe('ok')
    // Blue's p90 line is about 29-30 ms; green's is 10 % and 5 ms above it.
    expect(same.slowMs!.green).toBeGreaterThanOrEqual(same.slowMs!.blue + 5)
    // 3 ms slower is under the 5 ms floor: never a failure.
    expect(run(23).state).toBe('ok')
    expect(run(60).state).toBe('fail')
  })

  it('counts green requests since the step began', () => {
    const { evidence, advance } = setup()
    for (let i = 0; i < 7; i++) evidence.record('green', 10, false, 5, '')
    advance(3000)
    evidence.update()
    evidence.mark()
    evidence.record('green', 10, false, 5, '')
    expect(evidence.greenSinceMark).toBe(1)
  })
})
