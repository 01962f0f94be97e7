import type { AnalysisSettings } from '../config/schema.js'

/** Standard normal CDF, via erf (Abramowitz & Stegun 7.1.26 refined by W. J. Cody's rational form). */
export function normalCdf(z: number): number {
  return 0.5 * (1 + erf(z / Math.SQRT2))
}

/** erf with |error| < 1.2e-7 (Numerical Recipes' erfc Chebyshev fit). */
function erf(x: number): number {
  const t = 1 / (1 + 0.5 * Math.abs(x))
  const y =
    t *
    Math.exp(
      -x * x -
        1.26551223 +
        t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    )
  return x >= 0 ? 1 - y : y - 1
}

/** Result of the one-sided two-proportion z-test H1: p(a) > p(b). */
export interface ProportionTest {
  readonly z: number
  /** Probability of a difference this large if a were no worse than b. */
  readonly pValue: number
}

/**
 * One-sided two-proportion z-test with a pooled proportion: is `a`'s error rate higher than
 * `b`'s? With no errors anywhere (pooled p = 0) nothing can differ: z = 0, p = 0.5.
 */
export function twoProportionTest(errorsA: number, totalA: number, errorsB: number, totalB: number): ProportionTest {
  if (totalA === 0 || totalB === 0) return { z: 0, pValue: 0.5 }
  const pa = errorsA / totalA
  const pb = errorsB / totalB
  const pooled = (errorsA + errorsB) / (totalA + totalB)
  const se = Math.sqrt(pooled * (1 - pooled) * (1 / totalA + 1 / totalB))
  if (se === 0) return { z: 0, pValue: 0.5 }
  const z = (pa - pb) / se
  return { z, pValue: 1 - normalCdf(z) }
}

/** What a check looks at for one colour. */
export interface ColorSample {
  readonly requests: number
  readonly errors: number
  readonly errorRate: number
  readonly p99Ms: number | null
}

/** The verdict of one analysis check, with the numbers behind it. */
export interface Verdict {
  readonly result: 'pass' | 'fail' | 'inconclusive'
  readonly reasons: readonly string[]
  readonly green: ColorSample
  readonly blue: ColorSample
  readonly z: number
  readonly pValue: number
}

const pct = (x: number): string => `${(x * 100).toFixed(2)}%`

/**
 * Judges green against blue: inconclusive on too few green requests; a failure when green's
 * error rate is significantly worse than blue's (at `confidence`), above the absolute ceiling,
 * or when green's p99 is more than `maxP99Ratio` × blue's and above `maxP99` (when set).
 */
export function judge(green: ColorSample, blue: ColorSample, settings: AnalysisSettings): Verdict {
  const test = twoProportionTest(green.errors, green.requests, blue.errors, blue.requests)
  const base = { green, blue, z: test.z, pValue: test.pValue }
  if (green.requests < settings.minRequests) {
    return { ...base, result: 'inconclusive', reasons: [`green has ${green.requests} of ${settings.minRequests} requests needed`] }
  }
  const reasons: string[] = []
  if (blue.requests > 0 && test.pValue < 1 - settings.confidence) {
    reasons.push(
      `green error rate ${pct(green.errorRate)} is worse than blue's ${pct(blue.errorRate)} ` +
        `(z = ${test.z.toFixed(2)}, p = ${test.pValue.toExponential(2)} < ${(1 - settings.confidence).toFixed(4)})`,
    )
  }
  if (green.errorRate > settings.maxErrorRate) {
    reasons.push(`green error rate ${pct(green.errorRate)} is above rollout.analysis.maxErrorRate ${pct(settings.maxErrorRate)}`)
  }
  if (green.p99Ms !== null) {
    const underCap = settings.maxP99 > 0 && green.p99Ms <= settings.maxP99
    const ratioLimit = blue.p99Ms === null ? null : blue.p99Ms * settings.maxP99Ratio
    if (!underCap && ratioLimit !== null && green.p99Ms > ratioLimit) {
      reasons.push(`green p99 ${green.p99Ms} ms is above ${settings.maxP99Ratio}× blue's ${blue.p99Ms} ms`)
    } else if (!underCap && ratioLimit === null && settings.maxP99 > 0) {
      reasons.push(`green p99 ${green.p99Ms} ms is above rollout.analysis.maxP99 ${settings.maxP99} ms`)
    }
  }
  return reasons.length === 0 ? { ...base, result: 'pass', reasons: ['green is no worse than blue'] } : { ...base, result: 'fail', reasons }
}
