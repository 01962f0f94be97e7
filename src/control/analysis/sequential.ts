/**
 * Anytime-valid tests for "is green worse than blue?", as e-processes (test martingales).
 *
 * The rate-ratio test conditions on each batch of outcomes: given a batch's green and blue
 * request counts and its number of events (errors, or slow answers), the number of those events
 * that came from green is hypergeometric when green is no worse than blue, and Fisher's
 * noncentral hypergeometric with odds ratio ω when green's odds of an event are ω times blue's.
 * The product over batches of P_ω(x) / P_1(x), mixed over a grid of ω > 1, is a nonnegative
 * supermartingale under "green is no worse" (ω ≤ 1), whatever blue's rate does from one batch to
 * the next and however the split changes between batches. By Ville's inequality the chance it
 * EVER reaches 1/α is at most α: looking after every batch, or every 100 ms, costs nothing.
 * Conditioning on each batch also makes it blind to what both colours share (an outage of a
 * common database raises both rates and moves nothing), which is what "blue is the baseline" means.
 *
 * References: Lindon & Malek, "Anytime-Valid Inference for Multinomial Count Data" (NeurIPS
 * 2022); Ramdas et al., "Game-theoretic statistics and safe anytime-valid inference" (2023).
 */

/** The odds ratios the mixture bets on, with their prior weights (summing to 1). */
const GRID: readonly (readonly [omega: number, weight: number])[] = [
  [1.25, 0.05],
  [1.5, 0.08],
  [2, 0.1],
  [3, 0.1],
  [5, 0.07],
  [10, 0.05],
  [100, 0.05],
  // Half the prior on "green fails (nearly) everything": an obvious breakage is decided within
  // a few green requests, at the cost of about log 2 in the evidence for subtle ones.
  [10_000, 0.5],
]
const LOG_OMEGA = GRID.map(([omega]) => Math.log(omega))
const LOG_WEIGHT = GRID.map(([, weight]) => Math.log(weight))

const LOG_FACTORIAL_TABLE = ((): Float64Array => {
  const table = new Float64Array(4096)
  for (let n = 2; n < table.length; n++) table[n] = table[n - 1]! + Math.log(n)
  return table
})()

/** ln(n!), exact from a table below 4096, Stirling's series above (error < 1e-12). */
export function logFactorial(n: number): number {
  if (n < LOG_FACTORIAL_TABLE.length) return LOG_FACTORIAL_TABLE[n]!
  const inv = 1 / n
  return n * Math.log(n) - n + 0.5 * Math.log(2 * Math.PI * n) + inv / 12 - (inv * inv * inv) / 360
}

function logChoose(n: number, k: number): number {
  return logFactorial(n) - logFactorial(k) - logFactorial(n - k)
}

function logSumExp(values: readonly number[]): number {
  let max = -Infinity
  for (const v of values) if (v > max) max = v
  if (max === -Infinity) return -Infinity
  let sum = 0
  for (const v of values) sum += Math.exp(v - max)
  return max + Math.log(sum)
}

/**
 * ln of P_ω(x) / P_1(x) for each ω of the grid, where x of a batch's `events` came from the
 * `k` green requests among `n` (Fisher's noncentral hypergeometric against the central one).
 */
export function batchLogRatios(n: number, k: number, events: number, x: number): number[] {
  const lo = Math.max(0, events - (n - k))
  const hi = Math.min(k, events)
  const w: number[] = []
  for (let j = lo; j <= hi; j++) w.push(logChoose(k, j) + logChoose(n - k, events - j))
  const central = logSumExpShifted(w, 0)
  return LOG_OMEGA.map((logOmega) => (x - lo) * logOmega - logSumExpShifted(w, logOmega) + central)
}

/**
 * ln Σ_i exp(w[i] + i·shift): the terms are log-concave in i, so only those within e^-40 of the
 * largest are summed (the rest change nothing in double precision).
 */
function logSumExpShifted(w: readonly number[], shift: number): number {
  let max = -Infinity
  for (let i = 0; i < w.length; i++) {
    const v = w[i]! + i * shift
    if (v > max) max = v
  }
  let sum = 0
  for (let i = 0; i < w.length; i++) {
    const d = w[i]! + i * shift - max
    if (d > -40) sum += Math.exp(d)
  }
  return max + Math.log(sum)
}

/** One colour's side of a batch: requests, and how many of them had the event. */
export interface BatchSide {
  readonly requests: number
  readonly events: number
}

/**
 * The e-process for "green's event rate is above blue's" (see the file comment). Feed it
 * closed batches; `logE()` is the log of the evidence against "green is no worse".
 */
export class RateRatioTest {
  /** Per grid point: the log of the product of batch likelihood ratios. */
  readonly #logProduct = new Float64Array(GRID.length)
  #batches = 0
  readonly totals = { greenRequests: 0, greenEvents: 0, blueRequests: 0, blueEvents: 0 }

  /** Adds one batch. A batch where only one colour served, or nothing happened, carries no evidence. */
  add(green: BatchSide, blue: BatchSide): void {
    const t = this.totals
    t.greenRequests += green.requests
    t.greenEvents += green.events
    t.blueRequests += blue.requests
    t.blueEvents += blue.events
    const events = green.events + blue.events
    const n = green.requests + blue.requests
    if (green.requests === 0 || blue.requests === 0 || events === 0 || events === n) return
    const ratios = batchLogRatios(n, green.requests, events, green.events)
    for (let i = 0; i < ratios.length; i++) this.#logProduct[i]! += ratios[i]!
    this.#batches++
  }

  /** ln of the mixture e-value: at least ln(1/α) happens with probability ≤ α if green is no worse. */
  logE(): number {
    const terms: number[] = []
    for (let i = 0; i < GRID.length; i++) terms.push(LOG_WEIGHT[i]! + this.#logProduct[i]!)
    return logSumExp(terms)
  }

  /** The odds ratio the evidence supports best (1 when nothing points above 1). */
  likeliestRatio(): number {
    let best = 1
    let bestLog = 0
    for (let i = 0; i < GRID.length; i++) {
      if (this.#logProduct[i]! > bestLog) {
        bestLog = this.#logProduct[i]!
        best = GRID[i]![0]
      }
    }
    return best
  }

  get batches(): number {
    return this.#batches
  }
}

/** Rates the one-sample ceiling test bets on, as multiples of the ceiling. */
const CEILING_MULTIPLES = [1.25, 1.5, 2, 3, 5, 10, 20]

/**
 * ln of the evidence that a rate is above `ceiling`, from `events` of `requests`: a mixture of
 * Bernoulli likelihood ratios over rates above the ceiling (each a test martingale when the
 * rate is at most the ceiling). A ceiling of 0 allows no event at all.
 */
export function ceilingLogE(events: number, requests: number, ceiling: number): number {
  if (requests === 0) return -Infinity
  if (ceiling <= 0) return events > 0 ? Infinity : -Infinity
  if (ceiling >= 1) return -Infinity
  const terms: number[] = []
  const logWeight = -Math.log(CEILING_MULTIPLES.length)
  for (const m of CEILING_MULTIPLES) {
    const p = Math.min(m * ceiling, 1 - (1 - ceiling) / (m * 10))
    if (p <= ceiling) continue
    terms.push(logWeight + events * Math.log(p / ceiling) + (requests - events) * Math.log((1 - p) / (1 - ceiling)))
  }
  return logSumExp(terms)
}

/** Rates the "under the ceiling" test bets on, as fractions of the ceiling. */
const UNDER_FRACTIONS = [0.1, 0.25, 0.5, 0.75]

/**
 * ln of the evidence that a rate is below `ceiling`, from `events` of `requests`: the mirror of
 * ceilingLogE, a mixture over rates under the ceiling (each a test martingale when the rate is
 * at least the ceiling).
 */
export function underCeilingLogE(events: number, requests: number, ceiling: number): number {
  if (requests === 0 || ceiling <= 0) return -Infinity
  if (ceiling >= 1) return events < requests ? Infinity : -Infinity
  const logWeight = -Math.log(UNDER_FRACTIONS.length)
  const terms = UNDER_FRACTIONS.map((f) => {
    const p = f * ceiling
    return logWeight + events * Math.log(p / ceiling) + (requests - events) * Math.log((1 - p) / (1 - ceiling))
  })
  return logSumExp(terms)
}
