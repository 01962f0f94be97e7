import type { Color } from '../routing/types.js'

/**
 * Why a proxied request failed on the upstream side. `client` means the client went away
 * first; it is not the upstream's fault and is not counted as an upstream error.
 */
export type ErrorKind = 'connect' | 'timeout' | 'idle' | 'reset' | 'protocol' | 'client'

/** Upstream failure kinds, in a fixed order for metrics pre-binding. */
export const ERROR_KINDS: readonly ErrorKind[] = Object.freeze(['connect', 'timeout', 'idle', 'reset', 'protocol', 'client'])

/**
 * Receives one call per finished proxied request (HTTP or WebSocket handshake); plugged in
 * by app.ts so the data path never imports metrics or control. Must be synchronous and cheap.
 *
 * - `status`: the status the client got (502/504 for our own error answers; 499 when the
 *   client went away before the response finished, as nginx logs it).
 * - `errorKind`: set when the upstream failed, before or after the response headers.
 */
export interface OutcomeSink {
  record(color: Color, status: number, durationMs: number, errorKind: ErrorKind | undefined): void
}

/** Proxy timeouts in milliseconds; 0 means none (except connect, which is always > 0). */
export interface ProxyTimeouts {
  readonly connect: number
  /** Until the upstream's response headers. */
  readonly request: number
  /** Longest silence inside a streamed response body. */
  readonly idle: number
}

/** The health one target reports in /v1/upstreams and /v1/status. */
export interface TargetHealth {
  readonly url: string
  readonly healthy: boolean
  readonly consecutiveFailures: number
  readonly lastError: string | null
  readonly lastErrorAt: string | null
  readonly inFlight: number
}
