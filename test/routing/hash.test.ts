import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { bucketOf, hash32 } from '../../src/routing/hash.js'
import { pickColor } from '../../src/routing/router.js'
import { makeTable, percentToBuckets } from '../../src/routing/types.js'

const keys = Array.from({ length: 10_000 }, (_, i) => `user-${i}`)

describe('hash32', () => {
  it('is stable across runs and platforms (pinned values)', () => {
    // Changing these moves every user to another bucket: a breaking change for live rollouts.
    expect([hash32(''), hash32('a'), hash32('user-1'), hash32('ünïcødé')]).toEqual([2872998923, 444641715, 2005895916, 379909559])
  })

  it('returns unsigned 32-bit integers', () => {
    for (const key of keys.slice(0, 1000)) {
      const h = hash32(key)
      expect(Number.isInteger(h) && h >= 0 && h < 2 ** 32).toBe(true)
    }
  })

  it('buckets lie in 0..9999', () => {
    for (const key of keys) {
      const b = bucketOf(key)
      expect(b >= 0 && b < 10_000).toBe(true)
    }
  })
})

describe('distribution', () => {
  for (const green of [1, 5, 10, 25, 50, 75, 90, 99]) {
    it(`sends ${green}% of 10,000 keys green within ±1.5%`, () => {
      const table = makeTable(1, percentToBuckets(green))
      const share = (keys.filter((k) => pickColor(table, k) === 'green').length / keys.length) * 100
      expect(Math.abs(share - green)).toBeLessThanOrEqual(1.5)
    })
  }

  it('spreads UUID-like and numeric keys evenly over ten deciles', () => {
    const counts = new Array<number>(10).fill(0)
    for (let i = 0; i < 10_000; i++) counts[Math.floor(bucketOf(String(i * 7919)) / 1000)]!++
    for (const c of counts) expect(Math.abs(c - 1000)).toBeLessThan(150)
  })

  it('0 sends nobody green and 100 sends everybody green', () => {
    expect(keys.every((k) => pickColor(makeTable(1, 0), k) === 'blue')).toBe(true)
    expect(keys.every((k) => pickColor(makeTable(1, 10_000), k) === 'green')).toBe(true)
  })
})

describe('monotone under weight changes', () => {
  const sample = keys.slice(0, 2000)
  const weights = fc.array(fc.integer({ min: 0, max: 10_000 }), { minLength: 2, maxLength: 12 })

  it('a rising sequence of weights never moves a key green -> blue', () => {
    fc.assert(
      fc.property(weights, (ws) => {
        const rising = [...ws].sort((a, b) => a - b)
        const seen = new Set<string>()
        for (const w of rising) {
          const table = makeTable(1, w)
          for (const key of sample) {
            const green = pickColor(table, key) === 'green'
            if (seen.has(key) && !green) return false
            if (green) seen.add(key)
          }
        }
        return true
      }),
      { numRuns: 60 },
    )
  })

  it('a falling sequence of weights never moves a key blue -> green', () => {
    fc.assert(
      fc.property(weights, (ws) => {
        const falling = [...ws].sort((a, b) => b - a)
        const blue = new Set<string>()
        for (const w of falling) {
          const table = makeTable(1, w)
          for (const key of sample) {
            const isBlue = pickColor(table, key) === 'blue'
            if (blue.has(key) && !isBlue) return false
            if (isBlue) blue.add(key)
          }
        }
        return true
      }),
      { numRuns: 60 },
    )
  })
})
