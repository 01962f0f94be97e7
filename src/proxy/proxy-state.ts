import type { Logger } from 'pino'
import type { Router } from '../routing/router.js'
import type { Color, TableSource } from '../routing/types.js'
import type { Mirror } from './mirror.js'
import type { RequestIds } from './request-id.js'
import type { TrustedProxies } from './trusted-proxies.js'
import type { ErrorKind, OutcomeSink, ProxyLimits, ProxyTimeouts } from './types.js'
import type { UpstreamPool, UpstreamTarget } from './upstream-pool.js'

/** What the data path is built from; the part of ProxyOptions the request handlers read. */
export interface ProxyStateOptions {
  readonly tables: TableSource
  readonly router: Router
  readonly sink: OutcomeSink
  readonly logger: Logger
  readonly accessLog: boolean
  /** Gives each request its x-request-id (log.requestId); null when off. */
  readonly requestIds: RequestIds | null
  readonly timeouts: ProxyTimeouts
  readonly limits: ProxyLimits
  readonly pools: Record<Color, UpstreamPool>
  /** `proxy.trustedProxies` compiled; null when none (the request path then skips it). */
  readonly trust: TrustedProxies | null
  /** The listener is HTTPS. */
  readonly tls: boolean
  /** The service this state is the lane of, when the proxy fronts several (named in the access log). */
  readonly service?: string | undefined
}

/** What is open on a colour right now, as `ProxyServer.connections()` reports it. */
export interface ConnectionCounts {
  /** HTTP requests in flight, streamed responses and pending WebSocket handshakes included. */
  readonly requests: number
  /** Of those requests, responses of unknown length being streamed right now (SSE, chunked). */
  readonly streams: number
  /** Open upgrade tunnels (WebSockets, in practice). */
  readonly websockets: number
}

/** What the outcome and the access log read of a request: node's IncomingMessage, or the socket engine's parsed head. */
export interface RequestLine {
  readonly method?: string | undefined
  readonly url?: string | undefined
}

/** A proxied request or WebSocket handshake as its outcome is recorded, and logged when the access log is on. */
export interface Recorded {
  readonly color: Color
  readonly request: RequestLine
  /** performance.now() when it arrived. */
  readonly startedAt: number
  /** The client's address (through trusted proxies). */
  readonly client: string | undefined
  /** The upstream origin it was sent to (after a retry, the second one); undefined when none was picked. */
  readonly origin: string | undefined
  /** Its x-request-id; undefined with log.requestId off. */
  readonly requestId: string | undefined
}

/** Something open on a colour that a drain of the colour ends at its deadline. */
export interface Drainable {
  readonly color: Color
  /** `ProxyState.epoch` when it started: a drain ends only what started before the drain did. */
  readonly epoch: number
  /** Ends it: a streamed response is cut (never a clean end), a WebSocket closes with 1001. */
  drain(): void
}

/** An upgrade request, from its handshake through its tunnel. */
export interface OpenUpgrade extends Drainable {
  /** True once the upstream switched protocols and bytes flow both ways. */
  readonly tunnelled: boolean
  /** At a shutdown deadline: a tunnel closes as in a drain, a pending handshake is cut. */
  shutdown(): void
}

/** setTimeout fires at once past this (2^31 - 1 ms, about 24.8 days). */
const MAX_TIMER_MS = 2_147_483_647

/**
 * The data path's shared state: the current pools and timeouts (swapped whole by the control
 * side), in-flight counts, the open tunnels and streams that colour drains end, and the one
 * place where an outcome is recorded and logged.
 */
export class ProxyState {
  readonly tables: TableSource
  readonly router: Router
  readonly #sink: OutcomeSink
  readonly #logger: Logger
  readonly #accessLog: boolean
  readonly #service: string | undefined
  /** Null when requests get no x-request-id. */
  readonly requestIds: RequestIds | null
  /** Read once per request; `setTargets` replaces an entry, never mutates a pool. */
  readonly pools: Record<Color, UpstreamPool>
  /** Replaced whole by `setTimeouts`; a request reads it once when it starts. */
  timeouts: ProxyTimeouts
  /** Body size and queue limits; fixed for the server's life. */
  readonly limits: ProxyLimits
  /** Peers whose X-Forwarded-* headers are believed; null when none. */
  readonly trust: TrustedProxies | null
  /** The listener is HTTPS: every request on it is secure. */
  readonly tls: boolean
  /** Sends shadows of sampled blue requests to green; null when mirroring is not configured here. */
  mirror: Mirror | null = null
  /** Requests sent to a second target after a connect failure. */
  retries = 0
  /** Set when the server drains: responses ask clients to close their connections. */
  closing = false
  /** Upgrade requests, from their start until the client's socket closes. */
  readonly tunnels = new Set<OpenUpgrade>()
  /** Streamed responses (no content-length) from their head until they settle. */
  readonly streams = new Set<Drainable>()
  /** Rises with every colour drain; what starts afterwards is not part of that drain. */
  epoch = 0
  readonly #drains: Record<Color, NodeJS.Timeout | undefined> = { blue: undefined, green: undefined }
  readonly #inFlight: Record<Color, number> = { blue: 0, green: 0 }
  readonly #idleWaiters: Array<() => void> = []

  constructor(options: ProxyStateOptions) {
    this.tables = options.tables
    this.router = options.router
    this.#sink = options.sink
    this.#logger = options.logger
    this.#accessLog = options.accessLog
    this.#service = options.service
    this.requestIds = options.requestIds
    this.timeouts = options.timeouts
    this.limits = options.limits
    this.pools = options.pools
    this.trust = options.trust
    this.tls = options.tls
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

  /** Moves an in-flight request from one target of a colour to another (a retry). */
  moveTarget(from: UpstreamTarget, to: UpstreamTarget): void {
    from.inFlight--
    to.inFlight++
  }

  /** Counts and logs (debug) one retry of a connect failure on another target. */
  retried(color: Color, from: string, to: string, reason: string): void {
    this.retries++
    this.#logger.debug({ color, from, to, reason }, 'connect failed; retrying once on another target')
  }

  /**
   * Reports one finished request to the sink, and to the access log when it is on: client,
   * request, colour, the target it went to, status, duration and request id.
   * `ttfbMs`: time to the first byte the client got (-1: none), see OutcomeSink.
   */
  record(r: Recorded, status: number, kind: ErrorKind | undefined, ttfbMs: number): void {
    const ms = performance.now() - r.startedAt
    const { method, url } = r.request
    this.#sink.record(r.color, status, ms, kind, ttfbMs, url)
    if (this.#accessLog) {
      const entry = { client: r.client, method, url, service: this.#service, status, color: r.color, target: r.origin, ms: Math.round(ms * 100) / 100, errorKind: kind, requestId: r.requestId }
      this.#logger.info(entry, 'request')
    }
  }

  /** Requests and tunnels in flight per colour. */
  inFlight(): Record<Color, number> {
    return { blue: this.#inFlight.blue, green: this.#inFlight.green }
  }

  /** What is open per colour: requests (streams among them) and tunnels. */
  connections(): Record<Color, ConnectionCounts> {
    const streams = { blue: 0, green: 0 }
    const websockets = { blue: 0, green: 0 }
    for (const stream of this.streams) streams[stream.color]++
    for (const upgrade of this.tunnels) if (upgrade.tunnelled) websockets[upgrade.color]++
    const counts = (color: Color): ConnectionCounts => ({
      requests: this.#inFlight[color] - websockets[color],
      streams: streams[color],
      websockets: websockets[color],
    })
    return { blue: counts('blue'), green: counts('green') }
  }

  /**
   * Starts the drain of `color`, replacing a pending one: the tunnels and streams open now
   * are ended after `deadlineMs` (see Drainable.drain); what starts later is not.
   */
  drainColor(color: Color, deadlineMs: number): void {
    this.cancelDrain(color)
    const epoch = ++this.epoch
    const timer = setTimeout(() => {
      this.#drains[color] = undefined
      this.#endDrained(color, epoch)
    }, Math.min(Math.max(0, deadlineMs), MAX_TIMER_MS))
    timer.unref()
    this.#drains[color] = timer
  }

  /** Cancels a pending drain of `color`; nothing open on it is ended. */
  cancelDrain(color: Color): void {
    clearTimeout(this.#drains[color])
    this.#drains[color] = undefined
  }

  /** At a shutdown deadline: WebSocket tunnels close with 1001, pending handshakes are cut. */
  shutdownTunnels(): void {
    for (const color of ['blue', 'green'] as const) this.cancelDrain(color)
    for (const upgrade of this.tunnels) upgrade.shutdown()
  }

  /** At a shutdown deadline: every stream is cut as a colour drain cuts it, our cut and not a client's. */
  drainStreams(): void {
    // A drained stream leaves the set as it settles; a Set iterator copes with that.
    for (const stream of this.streams) stream.drain()
  }

  #endDrained(color: Color, epoch: number): void {
    for (const upgrade of this.tunnels) {
      if (upgrade.color === color && upgrade.epoch < epoch) upgrade.drain()
    }
    // A drained stream leaves the set as it settles; a Set iterator copes with that.
    for (const stream of this.streams) {
      if (stream.color === color && stream.epoch < epoch) stream.drain()
    }
  }

  /** Resolves once nothing is in flight. */
  whenIdle(): Promise<void> {
    if (this.#inFlight.blue + this.#inFlight.green === 0) return Promise.resolve()
    return new Promise((resolve) => this.#idleWaiters.push(resolve))
  }
}
