import type { Duplex } from 'node:stream'
import type { Logger } from 'pino'
import type { Router } from '../routing/router.js'
import type { Color, TableSource } from '../routing/types.js'
import type { ErrorKind, OutcomeSink, ProxyTimeouts } from './types.js'
import type { UpstreamPool, UpstreamTarget } from './upstream-pool.js'

/** What the data path is built from; the part of ProxyOptions the request handlers read. */
export interface ProxyStateOptions {
  readonly tables: TableSource
  readonly router: Router
  readonly sink: OutcomeSink
  readonly logger: Logger
  readonly accessLog: boolean
  readonly timeouts: ProxyTimeouts
  readonly pools: Record<Color, UpstreamPool>
}

/**
 * The data path's shared state: the current pools and timeouts (swapped whole by the control
 * side), in-flight counts and the one place where an outcome is recorded and logged.
 */
export class ProxyState {
  readonly tables: TableSource
  readonly router: Router
  readonly #sink: OutcomeSink
  readonly #logger: Logger
  readonly #accessLog: boolean
  /** Read once per request; `setTargets` replaces an entry, never mutates a pool. */
  readonly pools: Record<Color, UpstreamPool>
  /** Replaced whole by `setTimeouts`; a request reads it once when it starts. */
  timeouts: ProxyTimeouts
  /** Set when the server drains: responses ask clients to close their connections. */
  closing = false
  /** Client sockets of open WebSocket tunnels, destroyed if a drain runs out of time. */
  readonly tunnels = new Set<Duplex>()
  readonly #inFlight: Record<Color, number> = { blue: 0, green: 0 }
  readonly #idleWaiters: Array<() => void> = []

  constructor(options: ProxyStateOptions) {
    this.tables = options.tables
    this.router = options.router
    this.#sink = options.sink
    this.#logger = options.logger
    this.#accessLog = options.accessLog
    this.timeouts = options.timeouts
    this.pools = options.pools
  }

  /** Counts a request or tunnel as in flight on a colour and target. */
  acquire(color: Color, target: UpstreamTarget | undefined): void {
    this.#inFlight[color]++
    if (target !== undefined) target.inFlight++
  }

  /** Ends what `acquire` started; wakes a pending drain when nothing is left. */
  release(color: Color, target: UpstreamTarget | undefined): void {
    this.#inFlight[color]--
    if (target !== undefined) target.inFlight--
    if (this.#idleWaiters.length !== 0 && this.#inFlight.blue + this.#inFlight.green === 0) {
      for (const wake of this.#idleWaiters.splice(0)) wake()
    }
  }

  /** Reports one finished request to the sink, and to the access log when it is on. */
  record(color: Color, method: string | undefined, url: string | undefined, status: number, startedAt: number, kind: ErrorKind | undefined): void {
    const ms = performance.now() - startedAt
    this.#sink.record(color, status, ms, kind)
    if (this.#accessLog) {
      this.#logger.info({ method, url, status, color, ms: Math.round(ms * 100) / 100, errorKind: kind }, 'request')
    }
  }

  /** Requests and tunnels in flight per colour. */
  inFlight(): Record<Color, number> {
    return { blue: this.#inFlight.blue, green: this.#inFlight.green }
  }

  /** Resolves once nothing is in flight. */
  whenIdle(): Promise<void> {
    if (this.#inFlight.blue + this.#inFlight.green === 0) return Promise.resolve()
    return new Promise((resolve) => this.#idleWaiters.push(resolve))
  }
}
