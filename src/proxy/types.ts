import type { HealthCheckSettings } from '../config/schema.js'
import type { Color } from '../routing/types.js'

export type { HealthCheckSettings }

/**
 * Why a proxied request failed on the upstream side. `client` means the client went away
 * first; it is not the upstream's fault and is not counted as an upstream error. `busy` means
 * the target's queue of requests waiting for a connection was full (503, never sent).
 */
export type ErrorKind = 'connect' | 'timeout' | 'idle' | 'reset' | 'protocol' | 'client' | 'busy'

/** Upstream failure kinds, in a fixed order for metrics pre-binding. */
export const ERROR_KINDS: readonly ErrorKind[] = Object.freeze(['connect', 'timeout', 'idle', 'reset', 'protocol', 'client', 'busy'])

/**
 * Receives one call per finished proxied request (HTTP or WebSocket handshake); plugged in
 * by app.ts so the data path never imports metrics or control. Must be synchronous and cheap.
 *
 * - `status`: the status the client got (502/504 for our own error answers; 499 when the
 *   client went away before the response finished, as nginx logs it).
 * - `errorKind`: set when the upstream failed, before or after the response headers.
 * - `ttfbMs`: from the request's start to the first body chunk sent to the client (for a
 *   streamed answer, its first token), or to the head of an answer without a body; -1 when
 *   no first byte reached the client (our own error answers, WebSocket handshakes).
 * - `url`: the request's target as the client sent it (`req.url`), query included.
 */
export interface OutcomeSink {
  record(color: Color, status: number, durationMs: number, errorKind: ErrorKind | undefined, ttfbMs: number, url: string | undefined): void
}

/**
 * How long an idle upstream connection is kept for the next request when the config does not
 * say (`timeouts.upstreamKeepAlive`): undici's default, under the 5 s of Node's and uvicorn's servers.
 */
export const UPSTREAM_KEEP_ALIVE_MS = 4_000

/** Proxy timeouts in milliseconds; 0 means none (except connect, which is always > 0, and upstreamKeepAlive). */
export interface ProxyTimeouts {
  readonly connect: number
  /**
   * How long an idle upstream connection is kept for the next request (UPSTREAM_KEEP_ALIVE_MS
   * when absent); 0 = none is kept: a connection per request.
   */
  readonly upstreamKeepAlive?: number | undefined
  /** Until the upstream's response headers. */
  readonly request: number
  /** Longest silence inside a streamed response body. */
  readonly idle: number
  /** Longest wait for a client's complete request headers (slow-loris); node's default when absent. */
  readonly header?: number | undefined
  /** Longest silence between two reads of a request body (slow bodies); 0 or absent = none. */
  readonly body?: number | undefined
  /** Longest a client may leave an answer unread, its buffer full (slow readers); 0 or absent = none. */
  readonly send?: number | undefined
}

/** Size and concurrency limits of the data path; 0 means none. */
export interface ProxyLimits {
  /** Largest request body in bytes: a larger Content-Length gets 413 up front, a chunked body is cut. */
  readonly maxBodySize: number
  /** Largest request head (request line and headers) in bytes; larger gets 431. */
  readonly maxHeaderSize: number
  /** Connections per target (undici Pool `connections`); 0 = unlimited. */
  readonly maxConnectionsPerTarget: number
  /** With a connection limit: requests waiting for a connection per target before 503 busy. */
  readonly maxPending: number
}

/** The limits when none are given; the config's `limits:` defaults are these. */
export const DEFAULT_LIMITS: ProxyLimits = Object.freeze({ maxBodySize: 0, maxHeaderSize: 16_384, maxConnectionsPerTarget: 0, maxPending: 1000 })

/**
 * Passive ejection, as Envoy's consecutive-5xx outlier detection: a target whose answers are
 * 5xx or transport failures `consecutiveErrors` times in a row (0 = never) takes no requests
 * for `ejectionTime` ms.
 */
export interface OutlierSettings {
  readonly consecutiveErrors: number
  readonly ejectionTime: number
}

/**
 * A target's active health-check verdict: `off` when checks are off, `unknown` until the first
 * verdict (routed as healthy).
 */
export type ActiveHealth = 'off' | 'unknown' | 'healthy' | 'unhealthy'

/** The health one target reports in /v1/upstreams and /v1/status. */
export interface TargetHealth {
  readonly url: string
  /** Routable: not ejected and not actively unhealthy. */
  readonly healthy: boolean
  /** Active health-check verdict. */
  readonly active: ActiveHealth
  /** ISO time the passive ejection ends; null when not ejected. */
  readonly ejectedUntil: string | null
  /** 5xx answers and transport failures in a row. */
  readonly consecutiveFailures: number
  readonly lastError: string | null
  readonly lastErrorAt: string | null
  readonly inFlight: number
}
