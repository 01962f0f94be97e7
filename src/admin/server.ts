import fastifySwagger from '@fastify/swagger'
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { Server } from 'node:http'
import https from 'node:https'
import type { Logger } from 'pino'
import type { ControlPort, ServicesPort } from '../control/port.js'
import { AUTH_FAILURE_LIMIT, AUTH_FAILURE_WINDOW_MS, AuthFailureLimiter, tokenAccepted, tokenChecker } from './auth.js'
import { formatSchemaErrors, httpError } from './http-errors.js'
import { openApiOptions } from './openapi/document.js'
import { docsRoutes } from './openapi/docs-routes.js'
import { dashboardRoutes } from './routes/dashboard.js'
import { previewRoutes, type PreviewLinks } from './routes/preview.js'
import { reloadRoutes, type Reload } from './routes/reload.js'
import { rolloutRoutes } from './routes/rollout.js'
import { mirrorRoutes } from './routes/mirror.js'
import { splitRoutes } from './routes/split.js'
import { servicesRoutes } from './routes/services.js'
import { ServicePorts, singleService } from './service-ports.js'
import { statusRoutes } from './routes/status.js'
import { eventRoutes } from './routes/events.js'
import { upstreamRoutes } from './routes/upstreams.js'

/** The admin API's fastify instance, typed for TypeBox schemas. */
export type AdminApp = ReturnType<typeof adminFastify>

/** Certificates the admin's HTTPS server serves and can replace while it runs (admin.tls). */
export interface AdminTls {
  serverOptions(): https.ServerOptions
  attach(server: https.Server): void
}

export interface AdminOptions {
  /** The control side, through its one port. */
  readonly control: ControlPort
  readonly token: string | undefined
  /** admin.tokens: tokens that may change only some services. */
  readonly scopedTokens?: readonly { readonly token: string; readonly services: readonly string[] }[]
  /** The services behind this switchyard, each with its control port; absent: `control` is the one, `default`. */
  readonly services?: ServicesPort | undefined
  /** admin.failedAuthLimit: failed bearer attempts per address and minute before 429; 0 = no limit. */
  readonly failedAuthLimit?: number
  readonly logger: Logger
  /** admin.tls: HTTPS with these certificates; plain HTTP when absent. */
  readonly tls?: AdminTls | null | undefined
  readonly preview?: PreviewLinks
  /** POST /v1/reload re-reads the config file through this; absent (no config file), the route answers 409. */
  readonly reload?: Reload | undefined
}

/**
 * For admin.tls: an https server whose certificates can be replaced while it runs (fastify's
 * own `https` option could not be reloaded). Typed as fastify's default node:http server,
 * whose interface https.Server carries.
 */
function adminServerFactory(tls: AdminTls | null | undefined): { serverFactory?: (handler: Parameters<typeof https.createServer>[1]) => Server } {
  if (tls === undefined || tls === null) return {}
  return {
    serverFactory: (handler) => {
      const server = https.createServer(tls.serverOptions(), handler)
      tls.attach(server)
      return server
    },
  }
}

function adminFastify(logger: Logger, tls: AdminTls | null | undefined) {
  return Fastify({
    // The cast keeps fastify's instance type on its own logger interface (pino's is wider).
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion
    loggerInstance: logger.child({ component: 'admin' }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 64 * 1024,
    // Admin bodies are never coerced: "25" is not 25, and unknown fields are refused, not dropped.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
    schemaErrorFormatter: formatSchemaErrors,
    ...adminServerFactory(tls),
  }).withTypeProvider<TypeBoxTypeProvider>()
}

/** Builds the admin API on its own fastify instance (never the proxy's server): HTTP in front of the control port. */
export function createAdminServer(options: AdminOptions): FastifyInstance {
  const app = adminFastify(options.logger, options.tls)

  const authorized = tokenChecker(options.token, options.scopedTokens ?? [])
  const limit = options.failedAuthLimit ?? AUTH_FAILURE_LIMIT
  const failures = limit === 0 ? undefined : new AuthFailureLimiter(limit)
  app.addHook('onRequest', async (request, reply) => {
    if (authorized === undefined || !request.url.startsWith('/v1/')) return
    // Logs name the address and route, never the Authorization header or anything from it.
    const address = request.ip
    const wait = failures?.blockedFor(address) ?? 0
    if (wait > 0) {
      void reply.header('retry-after', String(wait))
      throw httpError('SY_ERR_AUTH_RATE_LIMITED', `too many failed bearer attempts from this address; retry in ${wait}s`)
    }
    const accepted = authorized(request.headers.authorization)
    if (accepted === undefined) {
      if (failures?.failed(address) === true) {
        request.log.warn(
          { ip: address, failures: limit, windowSeconds: AUTH_FAILURE_WINDOW_MS / 1000 },
          'admin auth failures from this address reached the limit (admin.failedAuthLimit); refusing it with 429 until the window ends',
        )
      } else {
        request.log.warn({ ip: address, method: request.method, url: request.url }, 'admin request refused: bad or missing bearer token')
      }
      void reply.header('www-authenticate', 'Bearer')
      throw httpError('SY_ERR_HTTP_401', 'missing or invalid bearer token: send "Authorization: Bearer <admin.token>"')
    }
    tokenAccepted(request.raw, accepted.services)
  })
  // An empty body with a JSON content type is "no body" for the action routes, not an error.
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    const text = (body as string).trim()
    if (text === '') return done(null, undefined)
    try {
      done(null, JSON.parse(text))
    } catch {
      done(httpError('SY_ERR_HTTP_400', 'body is not valid JSON'), undefined)
    }
  })

  // @fastify/swagger documents the routes registered after it loads (its onRoute hook sees
  // them), so the routes are registered in a plugin of their own that loads after it.
  void app.register(fastifySwagger, openApiOptions())
  void app.register(docsRoutes)
  const ports = new ServicePorts(options.services ?? singleService(options.control))
  void app.register(async (api: AdminApp) => {
    statusRoutes(api, options.control)
    // Today's routes address the `default` service; the same under /v1/services/{name} address that one.
    for (const base of ['/v1', '/v1/services/:service']) {
      eventRoutes(api, ports, base)
      splitRoutes(api, ports, base)
      upstreamRoutes(api, ports, base)
      rolloutRoutes(api, ports, base)
      mirrorRoutes(api, ports, base)
    }
    servicesRoutes(api, ports)
    // What changes every service at once is for admin.token alone, never a token scoped to some.
    api.addHook('preHandler', async (request) => {
      if (request.method === 'POST' && (request.url.startsWith('/v1/reload') || request.url.startsWith('/v1/preview'))) {
        ports.mayChangeAll(request.raw, request.url.startsWith('/v1/reload') ? 'reloading the config' : 'making preview links')
      }
    })
    previewRoutes(api, options.preview)
    reloadRoutes(api, options.reload)
    dashboardRoutes(api)
  })
  return app
}
