import { describe, expect, it } from 'vitest'
import { mergeHealth } from '../../src/dataplane/plane.js'
import type { TargetHealth } from '../../src/proxy/types.js'

const A = 'http://127.0.0.1:3001'

function report(overrides: Partial<TargetHealth>): TargetHealth {
  return {
    url: A,
    healthy: true,
    active: 'healthy',
    ejectedUntil: null,
    consecutiveFailures: 0,
    lastError: null,
    lastErrorAt: null,
    inFlight: 0,
    ...overrides,
  }
}

function merged(...targets: TargetHealth[]): TargetHealth | undefined {
  return mergeHealth(targets.map((target) => ({ blue: [target], green: [] }))).blue[0]
}

describe('mergeHealth', () => {
  it('is healthy only if every process says so', () => {
    expect(merged(report({}), report({}))?.healthy).toBe(true)
    expect(merged(report({}), report({ healthy: false }), report({}))?.healthy).toBe(false)
  })

  it('takes the worst active verdict', () => {
    expect(merged(report({ active: 'healthy' }), report({ active: 'unhealthy' }))?.active).toBe('unhealthy')
    expect(merged(report({ active: 'unhealthy' }), report({ active: 'unknown' }))?.active).toBe('unhealthy')
    expect(merged(report({ active: 'healthy' }), report({ active: 'unknown' }))?.active).toBe('unknown')
    expect(merged(report({ active: 'off' }), report({ active: 'healthy' }))?.active).toBe('healthy')
    expect(merged(report({ active: 'off' }), report({ active: 'off' }))?.active).toBe('off')
  })

  it('takes the latest ejection end, and adds up what is in flight', () => {
    const early = '2030-01-01T00:00:01.000Z'
    const late = '2030-01-01T00:00:02.000Z'
    expect(merged(report({ ejectedUntil: late }), report({ ejectedUntil: early }))?.ejectedUntil).toBe(late)
    expect(merged(report({ ejectedUntil: null }), report({ ejectedUntil: early }), report({}))?.ejectedUntil).toBe(early)
    expect(merged(report({}), report({}))?.ejectedUntil).toBeNull()
    expect(
      merged(
        report({ inFlight: 2, consecutiveFailures: 1, lastError: 'old', lastErrorAt: early }),
        report({ inFlight: 3, consecutiveFailures: 4, lastError: 'new', lastErrorAt: late }),
      ),
    ).toEqual(report({ inFlight: 5, consecutiveFailures: 4, lastError: 'new', lastErrorAt: late }))
  })

  it('keeps targets that only some processes know', () => {
    const b = 'http://127.0.0.1:3002'
    const all = mergeHealth([
      { blue: [report({})], green: [] },
      { blue: [report({}), report({ url: b, active: 'unknown' })], green: [report({ url: b })] },
    ])
    expect(all.blue.map((h) => [h.url, h.active])).toEqual([
      [A, 'healthy'],
      [b, 'unknown'],
    ])
    expect(all.green).toHaveLength(1)
  })
})
