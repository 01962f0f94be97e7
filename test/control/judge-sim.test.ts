/**
 * The targets for the release judgement, asserted on a seeded simulation of the real
 * decision code (bench/judge/simulate.ts): deterministic, so a change that breaks a guarantee
 * fails here. `npm run judge:sim` runs the same scenarios with 200 seeds a row for the README.
 */
import { describe, expect, it } from 'vitest'
import { DEFAULT_STEPS, fraction, median, runMany } from '../../bench/judge/simulate.js'

const SEED = 20261201
const PLAN = { steps: DEFAULT_STEPS, horizonMs: 60 * 60_000 } as const
const LONG = 60_000

describe('release judgement, simulated', () => {
  it('falsely reverts or aborts at most 1 % of healthy releases (0.1-2 % errors, 5-1000 req/s)', { timeout: LONG }, () => {
    let bad = 0
    let total = 0
    let promoted = 0
    for (const base of [0.001, 0.01, 0.02]) {
      for (const rate of [5, 20, 200, 1000]) {
        const o = runMany({ rate, blueErrors: base, greenErrors: base, ...PLAN }, 10, SEED)
        bad += o.filter((x) => x.end === 'failed' || x.end === 'reverted').length
        promoted += o.filter((x) => x.end === 'promoted').length
        total += o.length
      }
    }
    expect(bad / total).toBeLessThanOrEqual(0.01)
    // ... and they are promoted, not left waiting.
    expect(promoted / total).toBeGreaterThanOrEqual(0.98)
  })

  it('reverts a green that fails everything within 10 green requests at 5 req/s, within a second at 50 and 200 req/s', { timeout: LONG }, () => {
    const slow = runMany({ rate: 5, blueErrors: 0.01, greenErrors: 1, fixedGreen: 10, horizonMs: 120_000 }, 40, SEED)
    expect(fraction(slow, 'reverted')).toBe(1)
    expect(Math.max(...slow.map((o) => o.greenRequests))).toBeLessThanOrEqual(10)
    for (const rate of [50, 200]) {
      const fast = runMany({ rate, blueErrors: 0.01, greenErrors: 1, fixedGreen: 10, horizonMs: 120_000 }, 40, SEED)
      expect(fraction(fast, 'reverted')).toBe(1)
      expect(median(fast.map((o) => o.atMs))).toBeLessThanOrEqual(1000)
      const within = fast.filter((o) => o.atMs <= 1000).length / fast.length
      expect(within).toBeGreaterThanOrEqual(rate >= 200 ? 0.99 : 0.8)
    }
  })

  it('catches green 3 % vs blue 1 % before promotion every time, 2 % vs 1 % at least 90 %', { timeout: LONG }, () => {
    const three = runMany({ rate: 200, blueErrors: 0.01, greenErrors: 0.03, ...PLAN }, 20, SEED)
    expect(fraction(three, 'failed', 'reverted')).toBe(1)
    const two = runMany({ rate: 200, blueErrors: 0.01, greenErrors: 0.02, ...PLAN }, 20, SEED)
    expect(fraction(two, 'failed', 'reverted')).toBeGreaterThanOrEqual(0.9)
  })

  it('never blames green for a degradation both colours share', { timeout: LONG }, () => {
    const fixed = runMany({ rate: 200, blueErrors: 0.1, greenErrors: 0.1, fixedGreen: 10, horizonMs: 60_000 }, 10, SEED)
    expect(fraction(fixed, 'reverted')).toBe(0)
    expect(fraction(fixed, 'shared-degradation')).toBe(1)
    const rollout = runMany({ rate: 200, blueErrors: 0.1, greenErrors: 0.1, ...PLAN }, 10, SEED)
    expect(fraction(rollout, 'reverted', 'failed')).toBe(0)
  })

  it('catches a route carrying 2 % of traffic that is broken on green within 60 s, and names it', { timeout: LONG }, () => {
    const o = runMany({ rate: 200, blueErrors: 0.01, greenErrors: 0.01, brokenRouteShare: 0.02, fixedGreen: 10, horizonMs: 60_000 }, 20, SEED)
    expect(fraction(o, 'reverted')).toBeGreaterThanOrEqual(0.95)
    expect(o.filter((x) => x.by === '/broken').length / o.length).toBeGreaterThanOrEqual(0.9)
  })

  it('aborts a green 1.5x slower than blue', { timeout: LONG }, () => {
    const o = runMany({ rate: 200, blueErrors: 0.01, greenErrors: 0.01, greenLatencyFactor: 1.5, ...PLAN }, 10, SEED)
    expect(fraction(o, 'failed')).toBe(1)
    expect(o.every((x) => x.by === 'latency' || x.by === 'ttfb')).toBe(true)
  })
})
