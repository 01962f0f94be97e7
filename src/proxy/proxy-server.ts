/*
 * Over 300 lines because it owns the listening sockets' whole life: the engine's listener (the
 * socket engine's, raw/engine.ts, or node's, node-engine.ts), the redirect port, the services'
 * lanes, and the orderly close all act on the same connection sets (each lane, proxy-lane.ts,
 * owns its pools, drains and counts). The request paths live in raw/ and in request-handler.ts.
 */
import http from 'node:http'
import https from 'node:https'
import type { AddressInfo, Server as NetServer } from 'node:net'
import type { Server as TlsServer } from 'node:tls'
import type { Duplex } from 'node:stream'
import type { Logger } from 'pino'
import type { ServiceMatch } from '../routing/services.js'
import type { Color } from '../routing/types.js'
import { handleClientError } from './client-errors.js'
import { nodeEngine } from './node-engine.js'
import { ProxyLane, type LaneOptions, type LaneShared } from './proxy-lane.js'
import { RequestIds } from './request-id.js'
import type { ConnectionCounts, ProxyState } from './proxy-state.js'
import { DEFAULT_LIMITS, type HealthCheckSettings, type OutlierSettings, type ProxyLimits, type ProxyTimeouts, type TargetHealth } from './types.js'
import { CertificateStore, redirectToHttps, type Certificate } from './tls.js'
import { TrustedProxies } from './trusted-proxies.js'
import { VERIFY_UPSTREAM_TLS, type UpstreamTls } from './upstream-connections.js'
import { EXTRA_ACCEPTORS, ExtraAcceptors, LISTEN_BACKLOG } from './raw/acceptors.js'
import { SocketEngine } from './raw/engine.js'
import { routesOf, type Routes } from './service-routes.js'

export type { LaneOptions } from './proxy-lane.js'

/** The lane of a single-service proxy, and the service of today's single-service config. */
export const DEFAULT_LANE = 'default'

/** How long an idle client keep-alive connection stays open; above common LB idle timeouts. */
export const CLIENT_KEEP_ALIVE_MS = 65_000

/** What the whole server is built from, whatever services it fronts. */
export interface ServerOptions {
  /** The server's own: `header` bounds how long a client may take to send its headers (the lanes' other timeouts are theirs). */
  timeouts: ProxyTimeouts
  logger: Logger
  /** One info line per request when true; nothing is logged on the request path otherwise. */
  accessLog: boolean
  /**
   * Every request carries an x-request-id upstream: the client's when valid, else a new one
   * (see request-id.ts); it is the access log's `requestId`. On when absent, as log.requestId.
   */
  requestId?: boolean | undefined
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
  /** `sockets`: switchyard's own HTTP/1.1 engine on raw sockets (raw/); `node` (the default here): node:http and undici. */
  engine?: 'sockets' | 'node' | undefined
}

/** One service of several: its lane and how its requests are told apart. */
export interface ServiceLaneOptions extends LaneOptions {
  readonly name: string
  readonly match: ServiceMatch
}

/** Several services: each request goes to the lane its Host and path match (services.ts). */
export interface ServicesOptions {
  readonly lanes: readonly ServiceLaneOptions[]
  /** Where requests that match no service go; null: 404 from switchyard. */
  readonly defaultService: string | null
}

/**
 * What the data path is built from: one service's lane (app.ts plugs in the table source and
 * the sink), or `services`, several of them.
 */
export type ProxyOptions = ServerOptions & (LaneOptions | { readonly services: ServicesOptions })

/** node's default headersTimeout, used when `timeouts.header` is absent. */
const DEFAULT_HEADER_TIMEOUT_MS = 60_000

/** The running data path. */
export interface ProxyServer {
  /** The listening server: node's HTTP(S) server, or the socket engine's `net`/`tls` one. */
  readonly server: NetServer
  /** Resolves with the proxy's address once it (and the redirect listener, if any) listens. */
  listen(port: number, host: string): Promise<AddressInfo>
  /**
   * Serves new certificates to new TLS handshakes; open connections keep theirs. Throws when
   * OpenSSL refuses one (the old ones stay) or when the proxy is not HTTPS.
   */
  setCertificates(certificates: readonly Certificate[]): void
  /**
   * The lane of one service: its targets, timeouts, health, drains and counts (see ProxyLane).
   * A single-service proxy's one lane is `default`.
   */
  lane(service: string): ProxyLane | undefined
  /**
   * A config reload's new set of services: lanes of new services start, a removed service's
   * lane takes no new requests and closes once what is in flight on it has finished; the
   * others keep their pools and connections (their settings come through lane()).
   */
  setServices(services: ServicesOptions): void
  /** The server's own timeout: how long a client may take over its headers (the lanes have the rest). */
  setHeaderTimeout(timeouts: ProxyTimeouts): void
  /** The only lane's (a single-service proxy, as tests build it): see ProxyLane. */
  setTargets(color: Color, targets: readonly string[]): void
  setTimeouts(timeouts: ProxyTimeouts): void
  setHealth(healthCheck: HealthCheckSettings, outlier: OutlierSettings): void
  health(): Record<Color, TargetHealth[]>
  inFlight(): Record<Color, number>
  connections(): Record<Color, ConnectionCounts>
  drainColor(color: Color, deadlineMs: number): void
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
  readonly server: NetServer
  /** node's engine: the listener itself, or behind the socket engine for what that does not carry. */
  readonly #http: http.Server | https.Server
  readonly #sockets: SocketEngine | undefined
  /** More fds accepting on the listener's socket once it listens (raw/acceptors.ts), either engine. */
  readonly #acceptors: ExtraAcceptors
  #routes: Routes
  readonly #shared: LaneShared
  /** Lanes of services removed by a reload, finishing what was in flight on them. */
  readonly #leaving = new Set<ProxyLane>()
  readonly #certificates: CertificateStore | undefined
  readonly #redirect: http.Server | undefined
  readonly #redirectPort: number
  #closed: Promise<void> | undefined

  constructor(options: ProxyOptions) {
    const limits = options.limits ?? DEFAULT_LIMITS
    const upstreamTls = options.upstreamTls ?? VERIFY_UPSTREAM_TLS
    // Before any pool exists: a refused certificate must not leave connections behind.
    this.#certificates = options.tls === undefined || options.tls === null ? undefined : new CertificateStore(options.tls)
    const trust = TrustedProxies.compile(options.trustedProxies ?? [])
    const certificates = this.#certificates
    const requestIds = options.requestId === false ? null : new RequestIds()
    this.#shared = { logger: options.logger, accessLog: options.accessLog, requestIds, limits, trust, tls: certificates !== undefined, upstreamTls }
    const services: readonly ServiceLaneOptions[] =
      'services' in options ? options.services.lanes : [{ ...options, name: DEFAULT_LANE, match: { hosts: [], pathPrefixes: [] } }]
    const lanes = new Map<string, ProxyLane>()
    try {
      for (const service of services) lanes.set(service.name, new ProxyLane(service, this.#shared, 'services' in options ? service.name : undefined))
    } catch (err) {
      for (const lane of lanes.values()) void lane.close(false)
      throw err
    }
    this.#routes = routesOf(lanes, services, 'services' in options ? options.services.defaultService : null, !('services' in options))
    const headersTimeout = options.timeouts.header ?? DEFAULT_HEADER_TIMEOUT_MS
    const sockets = (options.engine ?? 'sockets') === 'sockets'
    // Behind the socket engine node's server reads what that hands it, TLS already undone.
    const httpServer = nodeEngine({ routes: () => this.#routes, limits, headersTimeout, keepAliveMs: CLIENT_KEEP_ALIVE_MS, certificates: sockets ? undefined : certificates })
    this.#http = httpServer
    this.#sockets = sockets
      ? new SocketEngine({
          routes: () => this.#routes,
          maxHeaderSize: limits.maxHeaderSize,
          headerTimeoutMs: headersTimeout,
          keepAliveMs: CLIENT_KEEP_ALIVE_MS,
          tls: certificates === undefined ? undefined : { ...certificates.serverOptions(), handshakeTimeout: headersTimeout },
          node: httpServer,
        })
      : undefined
    this.server = this.#sockets?.server ?? httpServer
    this.#acceptors = new ExtraAcceptors(this.server)
    if (certificates !== undefined) {
      const server = this.server as TlsServer
      certificates.attach(server)
      // A failed handshake (plain HTTP on this port, a client refusing the certificate, a
      // handshake timeout) has no HTTP to answer in: close it. node would pass it on to
      // 'clientError', which answers HTTP parse errors only once TLS is up.
      server.removeAllListeners('tlsClientError')
      server.on('tlsClientError', (_err: Error, socket: Duplex) => socket.destroy())
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
    this.#acceptors.start(EXTRA_ACCEPTORS, (reason) =>
      this.#shared.logger.warn(`${reason}; the proxy accepts on its one fd (slower to take a burst of new connections under load)`),
    )
    return address
  }

  setCertificates(certificates: readonly Certificate[]): void {
    if (this.#certificates === undefined) throw new Error('the proxy listens without TLS; proxy.tls takes effect on restart')
    this.#certificates.update(certificates)
  }

  lane(service: string): ProxyLane | undefined {
    return this.#routes.lanes.get(service)
  }

  setServices(services: ServicesOptions): void {
    if (this.#closed !== undefined) return
    const before = this.#routes.lanes
    const lanes = new Map<string, ProxyLane>()
    for (const service of services.lanes) lanes.set(service.name, before.get(service.name) ?? new ProxyLane(service, this.#shared, service.name))
    // One reference swap: a request finds its lane in the old set of services or the new one.
    this.#routes = routesOf(lanes, services.lanes, services.defaultService, false)
    for (const [name, lane] of before) {
      if (lanes.has(name)) continue
      this.#leaving.add(lane)
      void lane.retire().finally(() => this.#leaving.delete(lane))
    }
  }

  /** The lane of a single-service proxy (the first one otherwise). */
  get #only(): ProxyLane {
    return this.#routes.lanes.values().next().value!
  }

  setTargets(color: Color, targets: readonly string[]): void {
    this.#only.setTargets(color, targets)
  }

  setHealth(healthCheck: HealthCheckSettings, outlier: OutlierSettings): void {
    if (this.#closed === undefined) this.#only.setHealth(healthCheck, outlier)
  }

  setTimeouts(timeouts: ProxyTimeouts): void {
    this.setHeaderTimeout(timeouts)
    this.#only.setTimeouts(timeouts)
  }

  setHeaderTimeout(timeouts: ProxyTimeouts): void {
    if (timeouts.header === undefined) return
    this.#http.headersTimeout = timeouts.header
    if (this.#sockets !== undefined) this.#sockets.headerTimeoutMs = timeouts.header
  }

  health(): Record<Color, TargetHealth[]> {
    return this.#only.health()
  }

  inFlight(): Record<Color, number> {
    const total = { blue: 0, green: 0 }
    for (const state of this.#states()) {
      const counts = state.inFlight()
      total.blue += counts.blue
      total.green += counts.green
    }
    return total
  }

  connections(): Record<Color, ConnectionCounts> {
    return this.#only.connections()
  }

  drainColor(color: Color, deadlineMs: number): void {
    this.#only.drainColor(color, deadlineMs)
  }

  cancelDrain(color: Color): void {
    this.#only.cancelDrain(color)
  }

  close(deadlineMs: number): Promise<void> {
    this.#closed ??= this.#drain(deadlineMs)
    return this.#closed
  }

  /** Every lane's request state: the services' and those of services leaving. */
  #states(): ProxyState[] {
    return [...this.#routes.lanes.values(), ...this.#leaving].map((lane) => lane.state)
  }

  async #drain(deadlineMs: number): Promise<void> {
    const server = this.server
    const lanes = [...this.#routes.lanes.values(), ...this.#leaving]
    const states = lanes.map((lane) => lane.state)
    for (const state of states) state.closing = true
    const idle = () => Promise.all(states.map((state) => state.whenIdle())).then(() => true as const)
    // Redirects are answered at once: nothing there to drain.
    const redirect = this.#redirect
    if (redirect !== undefined) {
      redirect.close()
      redirect.closeAllConnections()
    }
    const sockets = this.#sockets
    // Node 19+ closes idle keep-alive connections here as well. Every fd accepting on the
    // socket stops now; closed means each has seen its connections end.
    const serverClosed = Promise.all([new Promise<void>((resolve) => server.close(() => resolve())), this.#acceptors.close()]).then(() => undefined)
    const node = this.#http
    const closeIdle = (): void => (sockets === undefined ? node.closeIdleConnections() : sockets.closeIdle())
    // node's server closes its idle connections as it stops listening; the socket engine's are closed here.
    if (sockets !== undefined) closeIdle()
    let timer: NodeJS.Timeout | undefined
    const deadline = new Promise<false>((resolve) => {
      timer = setTimeout(resolve, Math.max(0, deadlineMs), false)
    })

    let sweeper: NodeJS.Timeout | undefined
    try {
      const drained = await Promise.race([idle(), deadline])
      if (drained) {
        // Connections that finished their last answer while we waited are idle now; sweep
        // again for any whose answer was still being flushed.
        closeIdle()
        sweeper = setInterval(closeIdle, IDLE_SWEEP_MS)
      }
      const closed = await Promise.race([serverClosed.then(() => true as const), deadline])
      if (!closed) {
        // Streams first, cut as a colour drain cuts them: recorded as our cut, not a client's close.
        for (const state of states) state.drainStreams()
        if (sockets === undefined) node.closeAllConnections()
        else sockets.closeAll()
        // WebSockets close with 1001 and are destroyed only if they outlast the close grace.
        for (const state of states) state.shutdownTunnels()
        // Destroyed exchanges settle on their sockets' 'close' events, a tick or so later.
        await Promise.race([idle(), delay(SETTLE_GRACE_MS)])
      }
      // Shadows never hold a shutdown: what is still out is cancelled, uncompared (ProxyLane.close).
      await Promise.all(lanes.map((lane) => lane.close(drained)))
      await serverClosed
      sockets?.stopNode()
    } finally {
      clearTimeout(timer)
      clearInterval(sweeper)
    }
  }
}

function listenOn(server: NetServer, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen({ port, host, backlog: LISTEN_BACKLOG }, () => {
      server.off('error', reject)
      resolve(server.address() as AddressInfo)
    })
  })
}

/** Builds the proxy server (not yet listening). Throws on an invalid upstream URL. */
export function createProxyServer(options: ProxyOptions): ProxyServer {
  return new NodeProxyServer(options)
}
