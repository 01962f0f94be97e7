import { describe, expect, it } from 'vitest'
import { batchLogRatios, ceilingLogE, logFactorial, RateRatioTest } from '../../src/control/analysis/sequential.js'
import { rng } from '../../bench/judge/simulate.js'

/** ln C(n, k) the slow way. */
function logChooseSlow(n: number, k: number): number {
  let sum = 0
  for (let i = 1; i <= k; i++) sum += Math.log(n - k + i) - Math.log(i)
  return sum
}

/** The central hypergeometric probability of x green events, directly. */
function hypergeometric(n: number, k: number, events: number, x: number): number {
  return Math.exp(logChooseSlow(k, x) + logChooseSlow(n - k, events - x) - logChooseSlow(n, events))
}

describe('logFactorial', () => {
  it('is exact in the table and continuous into Stirling', () => {
    let sum = 0
    for (let n = 2; n <= 5000; n++) sum += Math.log(n)
    expect(logFactorial(5000)).toBeCloseTo(sum, 6)
    expect(logFactorial(4096) - logFactorial(4095)).toBeCloseTo(Math.log(4096), 9)
    expect(logFactorial(0)).toBe(0)
    expect(logFactorial(1)).toBe(0)
  })
})

describe('batchLogRatios', () => {
  it('has expectation exactly 1 under "green is no worse" for every odds ratio (a fair bet)', () => {
    for (const [n, k, events] of [
      [10, 1, 1],
      [40, 4, 3],
      [200, 20, 25],
      [37, 30, 12],
      [1000, 100, 7],
    ] as const) {
      const lo = Math.max(0, events - (n - k))
      const hi = Math.min(k, events)
      const expectation = new Array<number>(8).fill(0)
      for (let x = lo; x <= hi; x++) {
        const p = hypergeometric(n, k, events, x)
        batchLogRatios(n, k, events, x).forEach((logRatio, i) => (expectation[i]! += p * Math.exp(logRatio)))
      }
      for (const e of expectation) expect(e).toBeCloseTo(1, 9)
    }
  })

  it('bets on green: more green events than its share raise every ratio', () => {
    const fair = batchLogRatios(100, 10, 10, 1)
    const worse = batchLogRatios(100, 10, 10, 5)
    worse.forEach((r, i) => expect(r).toBeGreaterThan(fair[i]!))
  })
})

describe('RateRatioTest', () => {
  /**
   * Green exactly as good as blue, in batches whose size, split and shared error rate all
   * change (a shared outage included): the test must fire in at most α of the runs, however
   * long they go and however often one looks.
   */
  it('fires in at most α of healthy runs, looking after every batch', () => {
    const random = rng(7)
    const runs = 2000
    const alpha = 0.05
    let fired = 0
    for (let run = 0; run < runs; run++) {
      const test = new RateRatioTest()
      for (let batch = 0; batch < 300; batch++) {
        const share = [0.01, 0.1, 0.5, 0.9][batch % 4]!
        const rate = batch > 100 && batch < 130 ? 0.3 : 0.02
        const n = 5 + Math.floor(random() * 60)
        const g = { requests: 0, events: 0 }
        const b = { requests: 0, events: 0 }
        for (let i = 0; i < n; i++) {
          const side = random() < share ? g : b
          side.requests++
          if (random() < rate) side.events++
        }
        test.add(g, b)
        if (test.logE() >= Math.log(1 / alpha)) {
          fired++
          break
        }
      }
    }
    expect(fired / runs).toBeLessThanOrEqual(alpha)
  })

  it('decides an obvious breakage within a few green requests', () => {
    const test = new RateRatioTest()
    let green = 0
    while (test.logE() < Math.log(250)) {
      // One failing green request among ten; blue clean.
      test.add({ requests: 1, events: 1 }, { requests: 9, events: 0 })
      green++
    }
    expect(green).toBeLessThanOrEqual(4)
    expect(test.likeliestRatio()).toBe(10_000)
  })

  it('a batch where one colour alone served carries no evidence', () => {
    const test = new RateRatioTest()
    test.add({ requests: 5, events: 5 }, { requests: 0, events: 0 })
    expect(test.logE()).toBeCloseTo(0, 12)
    expect(test.batches).toBe(0)
    expect(test.totals).toMatchObject({ greenRequests: 5, greenEvents: 5 })
  })

  it('evidence shrinks while green does better than its share', () => {
    const test = new RateRatioTest()
    for (let i = 0; i < 50; i++) test.add({ requests: 10, events: 0 }, { requests: 90, events: 2 })
    expect(test.logE()).toBeLessThan(Math.log(0.1))
  })
})

describe('ceilingLogE', () => {
  it('grows with events over the ceiling and is silent without requests', () => {
    expect(ceilingLogE(0, 0, 0.05)).toBe(-Infinity)
    expect(ceilingLogE(1, 100, 0.05)).toBeLessThan(0)
    expect(ceilingLogE(10, 20, 0.05)).toBeGreaterThan(Math.log(100))
    expect(ceilingLogE(3, 3, 0)).toBe(Infinity)
    expect(ceilingLogE(3, 3, 1)).toBe(-Infinity)
  })

  it('fires in at most α of samples at the ceiling (each look alone)', () => {
    const random = rng(11)
    let fired = 0
    for (let run = 0; run < 5000; run++) {
      let errors = 0
      for (let i = 0; i < 200; i++) if (random() < 0.05) errors++
      if (ceilingLogE(errors, 200, 0.05) >= Math.log(100)) fired++
    }
    expect(fired / 5000).toBeLessThanOrEqual(0.01)
  })
})
