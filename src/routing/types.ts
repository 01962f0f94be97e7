import { saltSeed } from './hash.js'

/** The two colours a request can be routed to. */
export type Color = 'blue' | 'green'

export const COLORS: readonly Color[] = Object.freeze(['blue', 'green'])

/** Buckets a sticky key hashes into; green's share is expressed in these (0.01 % each). */
export const BUCKETS = 10_000

/**
 * An immutable routing snapshot. The data path reads one reference per request;
 * a split change builds a new frozen table and swaps that reference.
 */
export interface RoutingTable {
  readonly generation: number
  /** Requests whose bucket is below this go green: `split.green * 100`, 0..10000. */
  readonly greenBuckets: number
  /** The release's salt ("" = none): a new release may draw a new group of users for green. */
  readonly salt: string
  /** The hash seed of `salt`, computed once per table. */
  readonly seed: number
  /** Blue requests whose mirror bucket is below this also go to green as shadows: 0..10000. */
  readonly mirrorBuckets: number
  /**
   * The hash seed of mirror sampling: its own salt (drawn from the release's), so the users
   * whose sessions are mirrored are not the ones nearest to going green.
   */
  readonly mirrorSeed: number
}

/** Where the data path reads the current table from; plugged in by app.ts. */
export interface TableSource {
  current(): RoutingTable
}

/** Builds a frozen table. `greenBuckets` and `mirrorBuckets` must already be integers in 0..10000. */
export function makeTable(generation: number, greenBuckets: number, salt = '', mirrorBuckets = 0): RoutingTable {
  return Object.freeze({ generation, greenBuckets, salt, seed: saltSeed(salt), mirrorBuckets, mirrorSeed: saltSeed(`mirror/${salt}`) })
}

/** Converts a percentage with 0.01 resolution to buckets, e.g. 12.34 -> 1234. */
export function percentToBuckets(percent: number): number {
  return Math.round(percent * 100)
}

/**
 * The buckets of a percentage that has at most two decimals (0.01 resolution), or undefined
 * when it has more: the one rule for every place that takes a percent from outside.
 */
export function exactBuckets(percent: number): number | undefined {
  const buckets = percentToBuckets(percent)
  return Math.abs(buckets - percent * 100) > 1e-6 ? undefined : buckets
}

/** Converts buckets back to a percentage, e.g. 1234 -> 12.34. */
export function bucketsToPercent(buckets: number): number {
  return buckets / 100
}
