/*
 * Over 300 lines because it owns the listening sockets' whole life: HTTP and HTTPS servers,
 * the redirect port, connection tracking, per-colour drains and the orderly close all act on
 * the same connection sets. The request path itself lives in request-handler.ts and
 * http-handler.ts.
 */
import http, { type IncomingMessage } from 'node:http'
import https from 'node:https'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import type { Logger } from 'pino'
import type { Router } from '../routing/router.js'
import type { Color, TableSource } from '../routing/types.js'
import { bodyTooLarge, handleClientError, handleConnect } from './client-errors.js'
import { ProxyResponse } from './http-handler.js'
import { Mirror, type MirrorSettings, type MirrorSink } from './mirror.js'
import { handleRequest } from './request-handler.js'
import { RequestIds } from './request-id.js'
import { ProxyState, type ConnectionCounts } from './proxy-state.js'
import { DEFAULT_OUTLIER, HEALTH_CHECK_OFF, logHealthEvents } from './health-checker.js'
import { DEFAULT_LIMITS, type HealthCheckSettings, type OutcomeSink, type OutlierSettings, type ProxyLimits, type ProxyTimeouts, type TargetHealth } from './types.js'
import { CertificateStore, redirectToHttps, type Certificate } from './tls.js'
import { TrustedProxies } from './trusted-proxies.js'
import { UpstreamPool, VERIFY_UPSTREAM_TLS, type PoolHealth, type UpstreamTls } from './upstream-pool.js'
import { handleUpgrade } from './websocket.js'

/** How long an idle client keep-alive connection stays open; above common LB idle timeouts. */
export const CLIENT_KEEP_ALIVE_MS = 65_000

/** What the data path is built from; app.ts plugs in the table source and the sink. */
export interface ProxyOptions {
  /** Read once per request. */
  tables: TableSource
  router: Router
  /** Gets exactly one record per finished request or WebSocket handshake. */
  sink: OutcomeSink
  /** Origins such as http://127.0.0.1:3001. */
  upstreams: { blue: readonly string[]; green: readonly string[] }
  timeouts: ProxyTimeouts
  logger: Logger
  /** One info line per request when true; nothing is logged on the request path otherwise. */
  accessLog: boolean
  /**
   * Every request carries an x-request-id upstream: the client's when valid, else a new one
   * (see request-id.ts); it is the access log's `requestId`. On when absent, as log.requestId.
   */
  requestId?: boolean | undefined
  /** Active health checks of each target; off when absent. */
  healthCheck?: HealthCheckSettings | undefined
  /** Passive ejection after consecutive errors; Envoy's defaults (5, 30 s) when absent. */
  outlier?: OutlierSettings | undefined
  /** Body, header and queue limits; DEFAULT_LIMITS when absent. Fixed for the server's life. */
  limits?: ProxyLimits | undefined
  /** HTTPS with these certificates (the first the default, SNI picks the others); plain HTTP when absent. */
  tls?: readonly Certificate[] | null | undefined
  /** With `tls`: a plain HTTP port on the same host that answers 308 to HTTPS (0 or absent: none). */
  redirectHttp?: number | undefined
  /** Peers (addresses, CIDRs) whose X-Forwarded-* headers are kept; validated by the config. */
  trustedProxies?: readonly string[] | undefined
  /** How https:// targets are verified; node's CAs and the target's name when absent. */
  upstreamTls?: UpstreamTls | undefined
  /** Shadow traffic: how shadows are sent and where their pairs go; none when absent. */
  mirror?: { readonly settings: MirrorSettings; readonly sink: MirrorSink } | undefined
}

/** node's default headersTimeout, used when `timeouts.header` is absent. */
const DEFAULT_HEADER_TIMEOUT_MS = 60_000

/** The running data path. */
export interface ProxyServer {
  readonly server: http.Server | https.Server
  /** Resolves with the proxy's address once it (and the redirect listener, if any) listens. */
  listen(port: number, host: string): Promise<AddressInfo>
  /**
   * Serves new certificates to new TLS handshakes; open connections keep theirs. Throws when
   * OpenSSL refuses one (the old ones stay) or when the proxy is not HTTPS.
   */
  setCertificates(certificates: readonly Certificate[]): void
  /** New requests use new pools at once; requests in flight on the old ones finish, then they close. */
  setTargets(color: Color, targets: readonly string[]): void
  /** Applies to requests that start afterwards (a new connect timeout rebuilds the pools). */
  setTimeouts(timeouts: ProxyTimeouts): void
  /** Restarts active checks with new settings and applies new ejection limits (config reload). */
  setHealth(healthCheck: HealthCheckSettings, outlier: OutlierSettings): void
  health(): Record<Color, TargetHealth[]>
  inFlight(): Record<Color, number>
  /** What is open per colour right now, so a deploy script knows when a colour can be stopped. */
  connections(): Record<Color, ConnectionCounts>
  /**
   * Starts (or restarts, with a new snapshot) the drain of a colour whose share went to 0: the
   * WebSockets and streamed responses open on it now run until `deadlineMs` has passed, then
   * close with 1001 or are cut (never a clean end). What is routed to it afterwards is left alone.
   */
  drainColor(color: Color, deadlineMs: number): void
  /** Cancels a pending drain of `color` (its share rose again before the deadline). */
  cancelDrain(color: Color): void
  /**
   * Stops accepting, closes idle keep-alive connections, lets requests, streams and tunnels
   * in flight finish until `deadlineMs` has passed, then closes WebSockets with 1001 and
   * destroys what is left.
   */
  close(deadlineMs: number): Promise<void>
}

/** How often a drain closes connections that went idle. */
const IDLE_SWEEP_MS = 50

/** How long a forced shutdown waits for destroyed exchanges to record their outcome. */
const SETTLE_GRACE_MS = 1_000

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref())
}

class NodeProxyServer implements ProxyServer {
  readonly server: http.Server | https.Server
  readonly #state: ProxyState
  readonly #certificates: CertificateStore | undefined
  readonly #redirect: http.Server | undefined
  readonly #redirectPort: number
  readonly #upstreamTls: UpstreamTls
  /** Pools replaced by setTargets that still finish their requests. */
  readonly #retiring = new Set<UpstreamPool>()
  #closed: Promise<void> | undefined
  #health: PoolHealth

  constructor(options: ProxyOptions) {
    const connect = options.timeouts.connect
    const limits = options.limits ?? DEFAULT_LIMITS
    const connections = limits.maxConnectionsPerTarget
    const upstreamTls = options.upstreamTls ?? VERIFY_UPSTREAM_TLS
    this.#upstreamTls = upstreamTls
    // Before any pool exists: a refused certificate must not leave connections behind.
    this.#certificates = options.tls === undefined || options.tls === null ? undefined : new CertificateStore(options.tls)
    const trust = TrustedProxies.compile(options.trustedProxies ?? [])
    const blue = new UpstreamPool(options.upstreams.blue, connect, undefined, connections, upstreamTls)
    let green: UpstreamPool
    try {
      green = new UpstreamPool(options.upstreams.green, connect, undefined, connections, upstreamTls)
    } catch (err) {
      void blue.destroy()
      throw err
    }
    const listener = logHealthEvents(options.logger)
    this.#health = { healthCheck: options.healthCheck ?? HEALTH_CHECK_OFF, outlier: options.outlier ?? DEFAULT_OUTLIER, listener }
    blue.setHealth(this.#health)
    green.setHealth(this.#health)
    const certificates = this.#certificates
    const requestIds = options.requestId === false ? null : new RequestIds()
    const state = new ProxyState({ ...options, limits, pools: { blue, green }, trust, tls: certificates !== undefined, requestIds })
    this.#state = state
    if (options.mirror !== undefined) state.mirror = new Mirror(options.mirror.settings, state.pools, options.mirror.sink)
    const headersTimeout = options.timeouts.header ?? DEFAULT_HEADER_TIMEOUT_MS
    const httpOptions: http.ServerOptions<typeof IncomingMessage, typeof ProxyResponse> = {
      ServerResponse: ProxyResponse,
      keepAliveTimeout: CLIENT_KEEP_ALIVE_MS,
      // Long uploads and streamed answers must not be cut; headersTimeout still stops slow-loris.
      requestTimeout: 0,
      headersTimeout,
      // node checks headersTimeout on this period (30 s by default): check often enough that
      // a short timeout is kept to within about half of itself.
      connectionsCheckingInterval: Math.min(30_000, Math.max(50, Math.floor(headersTimeout / 2))),
      maxHeaderSize: limits.maxHeaderSize,
      // handleRequest refuses a missing Host itself, with a JSON body like every other refusal.
      requireHostHeader: false,
    }
    const onRequest = (req: IncomingMessage, res: ProxyResponse) => handleRequest(state, req, res)
    if (certificates === undefined) {
      this.server = http.createServer<typeof IncomingMessage, typeof ProxyResponse>(httpOptions, onRequest)
    } else {
      // The same node:http machinery over TLS: requests, clientError, upgrades and CONNECT below
      // are handled exactly as on the plain listener.
      const server = https.createServer<typeof IncomingMessage, typeof ProxyResponse>(
        {
          ...httpOptions,
          ...certificates.serverOptions(),
          // A client that never finishes its handshake is held no longer than one that never
          // finishes its headers.
          handshakeTimeout: headersTimeout,
        },
        onRequest,
      )
      certificates.attach(server)
      // A failed handshake (plain HTTP on this port, a client refusing the certificate, a
      // handshake timeout) has no HTTP to answer in: close it. node would pass it on to
      // 'clientError', which answers HTTP parse errors only once TLS is up.
      server.removeAllListeners('tlsClientError')
      server.on('tlsClientError', (_err: Error, socket: Duplex) => socket.destroy())
      this.server = server
    }
    const redirectPort = certificates === undefined ? 0 : (options.redirectHttp ?? 0)
    this.#redirectPort = redirectPort
    if (redirectPort !== 0) {
      const redirect = http.createServer(
        { keepAliveTimeout: CLIENT_KEEP_ALIVE_MS, headersTimeout, maxHeaderSize: limits.maxHeaderSize, requireHostHeader: false },
        redirectToHttps(() => (this.server.address() as AddressInfo | null)?.port ?? 443),
      )
      redirect.on('clientError', handleClientError)
      this.#redirect = redirect
    }
    this.server.on('upgrade', (req: IncomingMessage, socket, head: Buffer) => handleUpgrade(state, req, socket, head))
    // Without these, node answers parse errors with a bare 400 and drops CONNECT silently.
    this.server.on('clientError', handleClientError)
    this.server.on('connect', handleConnect)
    // `Expect: 100-continue` with a body over the limit gets 413 instead of 100 Continue.
    this.server.on('checkContinue', (req: IncomingMessage, res: ProxyResponse) => {
      if (!bodyTooLarge(req.headers, limits.maxBodySize)) res.writeContinue()
      handleRequest(state, req, res)
    })
  }

  async listen(port: number, host: string): Promise<AddressInfo> {
    const address = await listenOn(this.server, port, host)
    if (this.#redirect !== undefined) {
      try {
        await listenOn(this.#redirect, this.#redirectPort, host)
      } catch (err) {
        this.server.close()
        throw err
      }
    }
    return address
  }

  setCertificates(certificates: readonly Certificate[]): void {
    if (this.#certificates === undefined) throw new Error('the proxy listens without TLS; proxy.tls takes effect on restart')
    this.#certificates.update(certificates)
  }

  setTargets(color: Color, targets: readonly string[]): void {
    const pools = this.#state.pools
    const previous = pools[color]
    const pool = new UpstreamPool(targets, this.#state.timeouts.connect, previous, this.#state.limits.maxConnectionsPerTarget, this.#upstreamTls)
    pool.setHealth(this.#health)
    pools[color] = pool
    this.#retire(previous)
  }

  setHealth(healthCheck: HealthCheckSettings, outlier: OutlierSettings): void {
    this.#health = { ...this.#health, healthCheck, outlier }
    if (this.#closed !== undefined) return
    this.#state.pools.blue.setHealth(this.#health)
    this.#state.pools.green.setHealth(this.#health)
  }

  setTimeouts(timeouts: ProxyTimeouts): void {
    const before = this.#state.timeouts
    this.#state.timeouts = timeouts
    if (timeouts.header !== undefined) this.server.headersTimeout = timeouts.header
    // The connect timeout belongs to a pool's connector, so only new pools can take it.
    if (timeouts.connect !== before.connect) {
      for (const color of ['blue', 'green'] as const) {
        this.setTargets(color, this.#state.pools[color].targets.map((target) => target.url))
      }
    }
  }

  health(): Record<Color, TargetHealth[]> {
    return { blue: this.#state.pools.blue.health(), green: this.#state.pools.green.health() }
  }

  inFlight(): Record<Color, number> {
    return this.#state.inFlight()
  }

  connections(): Record<Color, ConnectionCounts> {
    return this.#state.connections()
  }

  drainColor(color: Color, deadlineMs: number): void {
    this.#state.drainColor(color, deadlineMs)
  }

  cancelDrain(color: Color): void {
    this.#state.cancelDrain(color)
  }

  close(deadlineMs: number): Promise<void> {
    this.#closed ??= this.#drain(deadlineMs)
    return this.#closed
  }

  #retire(pool: UpstreamPool): void {
    this.#retiring.add(pool)
    // undici's close() waits for the requests in flight on this pool.
    pool
      .close()
      .catch(() => undefined)
      .finally(() => this.#retiring.delete(pool))
  }

  async #drain(deadlineMs: number): Promise<void> {
    const state = this.#state
    const server = this.server
    state.closing = true
    // Redirects are answered at once: nothing there to drain.
    const redirect = this.#redirect
    if (redirect !== undefined) {
      redirect.close()
      redirect.closeAllConnections()
    }
    // Node 19+ closes idle keep-alive connections here as well.
    const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()))
    let timer: NodeJS.Timeout | undefined
    const deadline = new Promise<false>((resolve) => {
      timer = setTimeout(resolve, Math.max(0, deadlineMs), false)
    })

    let sweeper: NodeJS.Timeout | undefined
    try {
      const drained = await Promise.race([state.whenIdle().then(() => true as const), deadline])
      if (drained) {
        // Connections that finished their last answer while we waited are idle now; sweep
        // again for any whose answer was still being flushed.
        server.closeIdleConnections()
        sweeper = setInterval(() => server.closeIdleConnections(), IDLE_SWEEP_MS)
      }
      const closed = await Promise.race([serverClosed.then(() => true as const), deadline])
      if (!closed) {
        // Streams first, cut as a colour drain cuts them: recorded as our cut, not a client's close.
        state.drainStreams()
        server.closeAllConnections()
        // WebSockets close with 1001 and are destroyed only if they outlast the close grace.
        state.shutdownTunnels()
        // Destroyed exchanges settle on their sockets' 'close' events, a tick or so later.
        await Promise.race([state.whenIdle(), delay(SETTLE_GRACE_MS)])
      }
      // Shadows never hold a shutdown: what is still out is cancelled, uncompared.
      state.mirror?.close()
      const pools = [state.pools.blue, state.pools.green, ...this.#retiring]
      await Promise.all(pools.map((pool) => (drained ? pool.close() : pool.destroy()).catch(() => undefined)))
      await serverClosed
    } finally {
      clearTimeout(timer)
      clearInterval(sweeper)
    }
  }
}

function listenOn(server: http.Server | https.Server, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve(server.address() as AddressInfo)
    })
  })
}

/** Builds the proxy server (not yet listening). Throws on an invalid upstream URL. */
export function createProxyServer(options: ProxyOptions): ProxyServer {
  return new NodeProxyServer(options)
}
