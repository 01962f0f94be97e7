/**
 * The client connections' deadlines (a request head, a body gone silent, an idle keep-alive
 * connection) and their upstreams' (timeouts.request until the answer's head, timeouts.idle
 * inside its body), checked by one coarse timer per engine instead of a node timer per socket.
 * `socket.setTimeout` allocates a Timeout and a bound function every time it is set (twice per
 * request on each side of a keep-alive exchange), re-sorts node's timer list at every read and
 * write, and holds them for as long as the connection is idle: ~300 bytes of heap each at
 * 10,000 idle connections. Here a deadline is a number.
 *
 * A deadline fires at most a tenth of its duration late (the tick follows the shortest
 * duration asked for, between 5 ms and 1 s; it never grows back, so a reload to longer
 * timeouts keeps the finer tick), as nginx's and HAProxy's timers also run on a coarse clock.
 */

/** Something with a deadline (0: none), told when it passed (`now`: the sweep's clock). */
export interface Timed {
  readonly deadline: number
  expired(now: number): void
}

/** The earlier of two deadlines, either of which may be 0 (none). */
export function earliest(a: number, b: number): number {
  return a === 0 ? b : b === 0 || a < b ? a : b
}

const MIN_TICK_MS = 5
const MAX_TICK_MS = 1000

export class DeadlineSweep {
  readonly #items: Iterable<Timed>
  #tickMs = MAX_TICK_MS
  #timer: NodeJS.Timeout | undefined = undefined
  /** Stop at the first tick that finds no item left (stopWhenEmpty). */
  #finishing = false

  /** `items`: the live set of what may have a deadline (read at every tick). */
  constructor(items: Iterable<Timed>) {
    this.#items = items
  }

  /** The deadline `ms` from now; the sweep ticks finely enough to keep it. */
  after(ms: number): number {
    if (ms < this.#tickMs * 10 && this.#tickMs > MIN_TICK_MS) this.#refine(ms)
    return performance.now() + ms
  }

  get running(): boolean {
    return this.#timer !== undefined
  }

  start(): void {
    if (this.#timer !== undefined) return
    this.#timer = setInterval(() => this.#sweep(), this.#tickMs)
    this.#timer.unref()
  }

  stop(): void {
    clearInterval(this.#timer)
    this.#timer = undefined
  }

  /**
   * Keeps sweeping while any item is left, then stops: the listener closed, but connections it
   * (or an extra acceptor) took may still be answering, each with its own and its upstream's
   * deadlines to keep (a request timeout during a drain is still a 504).
   */
  stopWhenEmpty(): void {
    this.#finishing = true
    this.#sweep()
  }

  #refine(ms: number): void {
    this.#tickMs = Math.max(MIN_TICK_MS, Math.floor(ms / 10))
    if (this.#timer === undefined) return
    this.stop()
    this.start()
  }

  #sweep(): void {
    const now = performance.now()
    let left = false
    for (const item of this.#items) {
      left = true
      const deadline = item.deadline
      if (deadline !== 0 && deadline <= now) item.expired(now)
    }
    if (this.#finishing && !left) this.stop()
  }
}
