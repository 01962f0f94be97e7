import type { Config } from '../config/schema.js'
import type { MetricsOfService as Metrics } from '../metrics/metrics.js'
import type { MirrorResult, MirrorSettings, MirrorSink } from '../proxy/mirror.js'
import { percentToBuckets } from '../routing/types.js'
import type { Pair } from '../shadow/captured.js'

/** Pairs waiting for the comparison at most, and their body bytes; past either new ones are dropped (counted). */
const MAX_QUEUED = 1_000
const MAX_QUEUED_BYTES = 64 * 1024 * 1024

/** The body bytes a pair holds. */
function sizeOf(pair: Pair): number {
  return (pair.blue.body?.length ?? 0) + (pair.green.body?.length ?? 0) + (pair.blueTwin?.body?.length ?? 0)
}

/** How the proxy sends shadows, from the `mirror` config. */
export function mirrorSettings(config: Config): MirrorSettings {
  const m = config.mirror
  return {
    methods: new Set(m.methods.map((method) => method.toUpperCase())),
    maxBodySize: m.maxBodySize,
    concurrency: m.concurrency,
    timeoutMs: m.timeout,
    header: m.header.toLowerCase(),
    noiseBuckets: percentToBuckets(m.noise.percent),
    keepBodies: m.compare.mode === 'json' || m.compare.mode === 'exact',
  }
}

/**
 * A proxy process's pairs on their way to the comparison: queued (bounded) and handed on in
 * batches — at the next turn of the event loop in one process, with the worker's report to
 * the primary otherwise — so no comparison ever runs inside a client's exchange.
 */
export class PairQueue implements MirrorSink {
  readonly #metrics: Metrics
  readonly #deliver: ((pairs: Pair[]) => void) | null
  #pending: Pair[] = []
  #bytes = 0
  #scheduled = false

  /** `deliver` null: the owner takes the batches (`take`), as a worker's report does. */
  constructor(metrics: Metrics, deliver: ((pairs: Pair[]) => void) | null) {
    this.#metrics = metrics
    this.#deliver = deliver
  }

  pair(pair: Pair): boolean {
    const size = sizeOf(pair)
    if (this.#pending.length >= MAX_QUEUED || this.#bytes + size > MAX_QUEUED_BYTES) return false
    this.#pending.push(pair)
    this.#bytes += size
    if (this.#deliver !== null && !this.#scheduled) {
      this.#scheduled = true
      setImmediate(() => {
        this.#scheduled = false
        this.#deliver!(this.take())
      })
    }
    return true
  }

  count(result: MirrorResult): void {
    this.#metrics.mirrorRequest(result)
  }

  take(): Pair[] {
    const pairs = this.#pending
    this.#pending = []
    this.#bytes = 0
    return pairs
  }
}
