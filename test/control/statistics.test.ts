import { describe, expect, it } from 'vitest'
import { judge, normalCdf, twoProportionTest } from '../../src/control/statistics.js'

const settings = { interval: 1000, minRequests: 100, confidence: 0.99, maxErrorRate: 0.05, maxP99Ratio: 1.5, maxP99: 0, failureThreshold: 3 }
const sample = (requests: number, errors: number, p99Ms: number | null = 50) => ({ requests, errors, errorRate: requests === 0 ? 0 : errors / requests, p99Ms })

describe('normalCdf', () => {
  it('matches tabulated values', () => {
    expect(normalCdf(0)).toBeCloseTo(0.5, 7)
    expect(normalCdf(1)).toBeCloseTo(0.841344746, 6)
    expect(normalCdf(1.959964)).toBeCloseTo(0.975, 6)
    expect(normalCdf(2.326348)).toBeCloseTo(0.99, 6)
    expect(normalCdf(-3)).toBeCloseTo(0.001349898, 6)
    expect(normalCdf(6)).toBeCloseTo(1, 8)
  })
})

describe('twoProportionTest', () => {
  it('gives the textbook z and one-sided p for a known case', () => {
    // 30/1000 vs 10/1000: pooled 0.02, se = sqrt(0.02*0.98*0.002) = 0.0062610, z = 3.1944
    const { z, pValue } = twoProportionTest(30, 1000, 10, 1000)
    expect(z).toBeCloseTo(3.1944, 3)
    expect(pValue).toBeCloseTo(0.000700, 5)
  })
  it('is one-sided: a better green has a p-value above one half', () => {
    expect(twoProportionTest(10, 1000, 30, 1000).pValue).toBeGreaterThan(0.99)
  })
  it('answers z = 0 when nothing failed anywhere or a side is empty', () => {
    expect(twoProportionTest(0, 500, 0, 500)).toEqual({ z: 0, pValue: 0.5 })
    expect(twoProportionTest(3, 10, 0, 0)).toEqual({ z: 0, pValue: 0.5 })
  })
})

describe('judge', () => {
  it('is inconclusive below minRequests, whatever the error rate', () => {
    expect(judge(sample(99, 99), sample(1000, 0), settings).result).toBe('inconclusive')
  })
  it('passes a green as good as blue', () => {
    expect(judge(sample(500, 1), sample(5000, 5), settings)).toMatchObject({ result: 'pass' })
  })
  it('fails 3% errors against blue 0.1% with enough samples (significant)', () => {
    const verdict = judge(sample(1000, 30), sample(10_000, 10), settings)
    expect(verdict.result).toBe('fail')
    expect(verdict.reasons[0]).toMatch(/worse than blue's/)
  })
  it('does not fail a difference that is not significant', () => {
    // 2/100 vs 1/100 is well within chance at 99 %.
    expect(judge(sample(100, 2), sample(100, 1), settings).result).toBe('pass')
  })
  it('fails above the absolute ceiling even when blue is as bad', () => {
    const verdict = judge(sample(1000, 100), sample(1000, 100), settings)
    expect(verdict.result).toBe('fail')
    expect(verdict.reasons.join()).toMatch(/maxErrorRate/)
  })
  it('fails a p99 more than 1.5× blue, unless under the absolute cap', () => {
    expect(judge(sample(500, 0, 300), sample(500, 0, 100), settings).result).toBe('fail')
    expect(judge(sample(500, 0, 140), sample(500, 0, 100), settings).result).toBe('pass')
    expect(judge(sample(500, 0, 300), sample(500, 0, 100), { ...settings, maxP99: 400 }).result).toBe('pass')
  })
})
