import type { Logger } from 'pino'
import type { Config } from '../config/schema.js'
import { createProxyServer, type ProxyServer } from '../proxy/proxy-server.js'
import { readCaFile, type Certificate } from '../proxy/tls.js'
import type { OutcomeSink } from '../proxy/types.js'
import { PreviewSigner } from '../routing/preview.js'
import { Router } from '../routing/router.js'
import type { Color, TableSource } from '../routing/types.js'
import type { MirrorSink } from '../proxy/mirror.js'
import { mirrorSettings } from './mirror-sink.js'

/** Builds one process's proxy from the config: the sticky policy, the targets and the timeouts. */
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
  return createProxyServer({
    tables,
    router,
    sink,
    upstreams: targets,
    timeouts: config.timeouts,
    logger,
    accessLog: config.log.access,
    requestId: config.log.requestId,
    healthCheck: config.healthCheck,
    outlier: config.outlierDetection,
    limits: config.limits,
    tls: certificates,
    redirectHttp: config.proxy.redirectHttp,
    trustedProxies: config.proxy.trustedProxies,
    mirror: mirror === undefined ? undefined : { settings: mirrorSettings(config), sink: mirror },
    upstreamTls: {
      rejectUnauthorized: !config.upstreams.tls.insecureSkipVerify,
      ca: config.upstreams.tls.ca === null ? undefined : readCaFile('upstreams.tls.ca', config.upstreams.tls.ca),
      servername: config.upstreams.tls.servername ?? undefined,
    },
  })
}
