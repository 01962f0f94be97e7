import { describe, expect, it } from 'vitest'
import type { TestReading } from '../../src/control/analysis/evidence.js'
import { decideRevert, decideStep, describe as explain, readCeiling } from '../../src/control/analysis/judge.js'

const reading = (over: Partial<TestReading> = {}): TestReading => ({
  test: 'errors',
  state: 'ok',
  evidence: 0.5,
  threshold: 250,
  likelyRatio: 1,
  green: { requests: 1000, events: 10, rate: 0.01 },
  blue: { requests: 9000, events: 90, rate: 0.01 },
  ...over,
})
const quiet = readCeiling({ requests: 100, errors: 1 }, { requests: 900, errors: 9 }, 0.05, 0.01)
const step = { ceiling: quiet, vsBlue: true, greenThisStep: 100, minRequests: 50, holdOver: true }

describe('decideRevert', () => {
  it('reverts on a failing error test and says why with the numbers', () => {
    const d = decideRevert([reading({ state: 'fail', evidence: 5000, likelyRatio: 3 })], quiet, true)
    expect(d.action).toBe('revert')
    expect(d.reason).toMatch(/^green is worse than blue: errors: green 10 of 1000 \(1\.00%\), blue 90 of 9000 .* reached 250/)
  })

  it('names the route group when a route fails', () => {
    const d = decideRevert([reading(), reading({ test: 'route', route: '/v1/chat', state: 'fail' })], quiet, true)
    expect(d.reason).toMatch(/errors on \/v1\/chat/)
  })

  it('does not revert on latency: rollouts judge latency', () => {
    expect(decideRevert([reading({ test: 'latency', state: 'fail' })], quiet, true).action).toBe('none')
  })

  it('blames nobody when both colours are over the ceiling together', () => {
    const both = readCeiling({ requests: 600, errors: 60 }, { requests: 5400, errors: 540 }, 0.05, 0.01)
    expect(both).toMatchObject({ greenOver: true, blueOver: true })
    expect(decideRevert([reading()], both, true)).toMatchObject({ action: 'shared-degradation' })
    // With the absolute ceiling, green is reverted all the same.
    expect(decideRevert([reading()], both, false).action).toBe('revert')
  })

  it('applies the ceiling absolutely when blue serves nothing', () => {
    const alone = readCeiling({ requests: 300, errors: 60 }, { requests: 0, errors: 0 }, 0.05, 0.01)
    const d = decideRevert([reading()], alone, true)
    expect(d.action).toBe('revert')
    expect(d.reason).toMatch(/blue serves nothing to compare with/)
  })

  it('blames green by the ceiling only once blue is shown to be under it', () => {
    const green = { requests: 600, errors: 60 }
    const clean = readCeiling(green, { requests: 2000, errors: 10 }, 0.05, 0.01)
    expect(clean).toMatchObject({ greenOver: true, blueUnder: true, blueOver: false })
    expect(decideRevert([reading()], clean, true).action).toBe('revert')
    // Blue at 4 % of a few requests: neither shown over nor under; the ceiling waits.
    const unclear = readCeiling(green, { requests: 50, errors: 2 }, 0.05, 0.01)
    expect(unclear).toMatchObject({ greenOver: true, blueUnder: false, blueOver: false })
    expect(decideRevert([reading()], unclear, true).action).toBe('none')
  })

  it('one unlucky blue error among a few requests is no shared degradation', () => {
    expect(readCeiling({ requests: 30, errors: 30 }, { requests: 10, errors: 1 }, 0.05, 0.01).blueOver).toBe(false)
  })
})

describe('decideStep', () => {
  it('advances when the hold is over, green served enough and nothing leans against it', () => {
    expect(decideStep({ ...step, readings: [reading()] })).toMatchObject({ action: 'advance', result: 'pass' })
    expect(decideStep({ ...step, readings: [reading()], holdOver: false })).toMatchObject({ action: 'hold', result: 'pass' })
  })

  it('never passes on silence', () => {
    const d = decideStep({ ...step, readings: [reading()], greenThisStep: 3 })
    expect(d).toMatchObject({ action: 'wait', result: 'inconclusive' })
    expect(d.reasons[0]).toMatch(/green served 3 of the 50 requests/)
  })

  it('waits while the evidence leans against green', () => {
    const d = decideStep({ ...step, readings: [reading({ state: 'leaning', evidence: 40 })] })
    expect(d.action).toBe('wait')
    expect(d.reasons[0]).toMatch(/leaning against green/)
  })

  it('fails on any failing test, latency included, and pauses on a shared degradation', () => {
    expect(decideStep({ ...step, readings: [reading({ test: 'latency', state: 'fail', slowMs: { blue: 30, green: 35 } })] })).toMatchObject({
      action: 'fail',
    })
    const both = readCeiling({ requests: 600, errors: 60 }, { requests: 5400, errors: 540 }, 0.05, 0.01)
    expect(decideStep({ ...step, readings: [reading()], ceiling: both })).toMatchObject({ action: 'pause', result: 'inconclusive' })
  })
})

describe('describe', () => {
  it('says what would change the decision', () => {
    const text = explain(reading({ state: 'leaning', evidence: 40 }))
    expect(text).toMatch(/fails at 250, over 16 so a step waits/)
    expect(text).toMatch(/grows while green's share of errors \(10\.00%\) runs above its share of requests \(10\.00%\)/)
  })
})
