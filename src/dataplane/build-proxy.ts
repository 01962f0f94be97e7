import type { Logger } from 'pino'
import type { Config } from '../config/schema.js'
import type { ServiceSpec } from '../config/services.js'
import { createProxyServer, type LaneOptions, type ProxyServer, type ServerOptions, type ServiceLaneOptions } from '../proxy/proxy-server.js'
import { readCaFile, type Certificate } from '../proxy/tls.js'
import type { OutcomeSink } from '../proxy/types.js'
import { PreviewSigner } from '../routing/preview.js'
import { Router } from '../routing/router.js'
import type { Color, TableSource } from '../routing/types.js'
import type { MirrorSink } from '../proxy/mirror.js'
import { mirrorSettings } from './mirror-sink.js'

/** What the whole proxy server takes from the config: listener, limits, logs, TLS. */
function serverOptions(config: Config, logger: Logger, certificates: readonly Certificate[] | null): ServerOptions {
  return {
    timeouts: config.timeouts,
    logger,
    accessLog: config.log.access,
    requestId: config.log.requestId,
    limits: config.limits,
    tls: certificates,
    redirectHttp: config.proxy.redirectHttp,
    trustedProxies: config.proxy.trustedProxies,
    engine: config.proxy.engine,
    upstreamTls: {
      rejectUnauthorized: !config.upstreams.tls.insecureSkipVerify,
      ca: config.upstreams.tls.ca === null ? undefined : readCaFile('upstreams.tls.ca', config.upstreams.tls.ca),
      servername: config.upstreams.tls.servername ?? undefined,
    },
  }
}

/** One service's lane from its (effective) config: the sticky policy, the targets and the timeouts. */
export function laneOptions(
  config: Config,
  targets: Record<Color, readonly string[]>,
  tables: TableSource,
  sink: OutcomeSink,
  /** Where shadow pairs and counts go; no mirroring in this lane without it. */
  mirror?: MirrorSink,
): LaneOptions {
  const router = new Router({
    keys: config.sticky.keys,
    cookie: config.sticky.cookie,
    cookieMaxAgeSeconds: Math.round(config.sticky.cookieMaxAge / 1000),
    cookieSameSite: config.sticky.cookieSameSite,
    cookieSecure: config.sticky.cookieSecure,
    overrideHeader: config.override.header,
    preview: new PreviewSigner(config.override.previewSecret),
    previewCookie: config.override.previewCookie,
  })
  return {
    tables,
    router,
    sink,
    upstreams: targets,
    timeouts: config.timeouts,
    healthCheck: config.healthCheck,
    outlier: config.outlierDetection,
    mirror: mirror === undefined ? undefined : { settings: mirrorSettings(config), sink: mirror },
  }
}

/** Builds one process's proxy for a single service from the config. */
export function buildProxy(
  config: Config,
  targets: Record<Color, readonly string[]>,
  tables: TableSource,
  sink: OutcomeSink,
  logger: Logger,
  /** proxy.tls, read and checked (the primary reads them for its workers); null: plain HTTP. */
  certificates: readonly Certificate[] | null = null,
  /** Where shadow pairs and counts go; no mirroring in this process without it. */
  mirror?: MirrorSink,
): ProxyServer {
  return createProxyServer({ ...serverOptions(config, logger, certificates), ...laneOptions(config, targets, tables, sink, mirror) })
}

/** A lane of a proxy fronting several services: its spec and the parts app.ts plugs in. */
export interface ServiceLaneParts {
  readonly spec: ServiceSpec
  readonly targets: Record<Color, readonly string[]>
  readonly tables: TableSource
  readonly sink: OutcomeSink
  readonly mirror: MirrorSink
}

/** The lane options of each service (their match rules included), for createProxyServer or setServices. */
export function serviceLanes(lanes: readonly ServiceLaneParts[]): ServiceLaneOptions[] {
  return lanes.map((l) => ({ ...laneOptions(l.spec.config, l.targets, l.tables, l.sink, l.mirror), name: l.spec.name, match: l.spec.match }))
}

/** Builds the proxy of several services (`services` in the config): one lane each. */
export function buildServicesProxy(config: Config, lanes: readonly ServiceLaneParts[], logger: Logger, certificates: readonly Certificate[] | null): ProxyServer {
  return createProxyServer({ ...serverOptions(config, logger, certificates), services: { lanes: serviceLanes(lanes), defaultService: config.proxy.defaultService } })
}
