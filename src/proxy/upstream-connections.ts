/**
 * How the connections to an upstream target are made: TLS verification (`upstreams.tls`) and
 * the keep-alive they are kept for (`timeouts.upstreamKeepAlive`), for both engines' pools.
 */
import type { ProxyTimeouts } from './types.js'

/**
 * How https:// targets are verified (`upstreams.tls`): node's TLS connect options, set on
 * the undici pool and on the WebSocket path alike. Verification is on unless turned off.
 */
export interface UpstreamTls {
  /** PEM CAs to trust instead of node's bundled ones. */
  readonly ca?: string | undefined
  readonly rejectUnauthorized: boolean
  /** SNI and the name the certificate must carry; else the target's host. */
  readonly servername?: string | undefined
}

/** Verify against node's bundled CAs and the target's host name. */
export const VERIFY_UPSTREAM_TLS: UpstreamTls = Object.freeze({ rejectUnauthorized: true })

/** The options of `tls.connect` for `settings`, without absent keys. */
export function tlsConnectOptions(settings: UpstreamTls): { ca?: string; rejectUnauthorized: boolean; servername?: string } {
  return {
    rejectUnauthorized: settings.rejectUnauthorized,
    ...(settings.ca === undefined ? {} : { ca: settings.ca }),
    ...(settings.servername === undefined ? {} : { servername: settings.servername }),
  }
}

/** The timeouts a target's connections are made with: a change takes new pools (ProxyLane.setTimeouts). */
export type ConnectionTimeouts = Pick<ProxyTimeouts, 'connect' | 'upstreamKeepAlive'>

/**
 * undici's keep-alive options for `keepAliveMs`: at most that long, whatever the upstream
 * announces (undici keeps a connection 2 s less than an announced `timeout=N`); 0: none kept.
 */
export function undiciKeepAlive(keepAliveMs: number): { keepAliveTimeout: number; keepAliveMaxTimeout: number } | { pipelining: 0 } {
  return keepAliveMs === 0 ? { pipelining: 0 } : { keepAliveTimeout: keepAliveMs, keepAliveMaxTimeout: keepAliveMs }
}
