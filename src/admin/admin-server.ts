import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { Server } from 'node:http'
import https from 'node:https'
import type { Logger } from 'pino'
import { checkTarget } from '../config/load.js'
import { GenerationConflictError, RolloutError } from '../control/errors.js'
import type { RolloutController } from '../control/rollout/rollout.js'
import type { RolloutPlan } from '../control/rollout/plan.js'
import { toPercent, type SplitController } from '../control/release/split-controller.js'
import type { AutoRevertSettings } from '../control/auto-revert.js'
import type { WindowStats } from '../control/analysis/error-window.js'
import type { AuditEvent, SplitState, StoreStatus } from '../state/types.js'
import type { Metrics } from '../metrics/metrics.js'
import type { TargetHealth } from '../proxy/types.js'
import type { ConnectionCounts } from '../proxy/proxy-state.js'
import type { Color } from '../routing/types.js'
import type { WorkerInfo } from '../dataplane/plane.js'
import type { CertificateStore } from '../proxy/tls.js'
import { AUTH_FAILURE_LIMIT, AUTH_FAILURE_WINDOW_MS, AuthFailureLimiter, bearerChecker } from './auth.js'
import { ActionBody, ColorParams, EventsQuery, PreviewBody, ReasonBody, RolloutBody, SplitBody, TargetsBody } from './schemas.js'
import { parseDuration } from '../config/duration.js'
import { PREVIEW_PATH, type PreviewSigner } from '../routing/preview.js'

/** What the admin API reads and drives; app.ts provides it. */
export interface AdminDeps {
  /** admin.tls: HTTPS with these certificates (reloaded through the store); plain HTTP when absent. */
  readonly tls?: CertificateStore | null | undefined
  readonly controller: SplitController
  readonly rollouts: RolloutController
  readonly metrics: Metrics
  readonly token: string | undefined
  readonly logger: Logger
  windowStats(): Record<Color, WindowStats>
  /** The release's evidence: when it began, and every test's standing with its words. */
  evidence(): Record<string, unknown>
  autoRevert(): AutoRevertSettings
  health(): Promise<Record<Color, readonly TargetHealth[]>>
  inFlight(): Promise<Record<Color, number>>
  /** Requests, streams and WebSockets open per colour: when this reads 0, a drained colour can go. */
  connections(): Promise<Record<Color, ConnectionCounts>>
  workers(): Promise<readonly WorkerInfo[]>
  /** Prometheus text of every process. */
  metricsText(): Promise<string>
  /** Resolves once the last split change routes in every proxy process. */
  propagated(): Promise<void>
  /** True once the process is stopping (SIGTERM): /readyz says not ready. */
  closing(): boolean
  /** Where the state file is (one node). */
  readonly stateFile: string
  /** The shared store's connection and this replica's part in the fleet, or null with the state file. */
  stateStatus(): (StoreStatus & { readonly replica: string; readonly leader: boolean }) | null
  /** Points a colour at new targets and records a `targets` event. */
  setTargets(color: Color, targets: readonly string[], reason: string | null): Promise<AuditEvent>
  /** Signs preview links; `baseUrl` is where testers reach the proxy. */
  readonly preview?: { readonly signer: PreviewSigner; readonly baseUrl: () => string }
}

/** An error that fastify's default handler renders as `{statusCode, error, message}`. */
function httpError(statusCode: number, message: string, code?: string): FastifyError {
  return Object.assign(new Error(message), { statusCode, code: code ?? `SY_ERR_HTTP_${statusCode}`, name: 'AdminError' })
}

/** The GET /v1/split shape. */
export function splitView(state: SplitState): { blue: number; green: number; generation: number; reverted: SplitState['reverted'] } {
  return { ...toPercent(state.greenBuckets), generation: state.generation, reverted: state.reverted }
}

/** Reads `{green}`, `{blue}` or both (summing to 100) into green buckets; throws a 400 otherwise. */
export function greenBucketsFromBody(body: { green?: number; blue?: number }): number {
  const { green, blue } = body
  if (green === undefined && blue === undefined) {
    throw httpError(400, 'body must set "green" or "blue" (a percent from 0 to 100)')
  }
  if (green !== undefined && blue !== undefined && Math.abs(green + blue - 100) > 1e-9) {
    throw httpError(400, `"green" (${green}) and "blue" (${blue}) must sum to 100`)
  }
  const value = green ?? 100 - blue!
  const field = green !== undefined ? 'green' : 'blue'
  const buckets = Math.round(value * 100)
  if (Math.abs(buckets - value * 100) > 1e-6) {
    throw httpError(400, `"${field}" must have at most two decimals (0.01 resolution)`)
  }
  return buckets
}

function formatSchemaErrors(
  errors: readonly { instancePath: string; keyword: string; message?: string | undefined; params: Record<string, unknown> }[],
  dataVar: string,
): Error {
  // An unknown field first; else the deepest error (a union reports its branches above it).
  const first =
    errors.find((e) => e.keyword === 'additionalProperties') ??
    errors.reduce<(typeof errors)[number] | undefined>((best, e) => (best === undefined || e.instancePath.length > best.instancePath.length ? e : best), undefined)
  if (first === undefined) return httpError(400, `${dataVar} is invalid`)
  const where = dataVar + first.instancePath.replaceAll('/', '.')
  if (first.keyword === 'additionalProperties') {
    return httpError(400, `${where} has an unknown field "${String(first.params.additionalProperty)}"`)
  }
  if (dataVar === 'params' && first.instancePath === '/color') return httpError(400, 'color must be "blue" or "green"')
  if (first.keyword === 'anyOf' && dataVar === 'body') return httpError(400, 'body must be a JSON object or empty')
  return httpError(400, `${where} ${first.message ?? 'is invalid'}`)
}

/**
 * For admin.tls: an https server whose certificates the store can replace while it runs
 * (fastify's own `https` option could not be reloaded). Typed as fastify's default node:http
 * server, whose interface https.Server carries.
 */
function adminServerFactory(tls: CertificateStore | null | undefined): { serverFactory?: (handler: Parameters<typeof https.createServer>[1]) => Server } {
  if (tls === undefined || tls === null) return {}
  return {
    serverFactory: (handler) => {
      const server = https.createServer(tls.serverOptions(), handler)
      tls.attach(server)
      return server
    },
  }
}

/** Builds the admin API on its own fastify instance (never the proxy's server). */
export function createAdminServer(deps: AdminDeps): FastifyInstance {
  const app = Fastify({
    // The cast keeps fastify's instance type on its own logger interface (pino's is wider).
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion
    loggerInstance: deps.logger.child({ component: 'admin' }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 64 * 1024,
    // Admin bodies are never coerced: "25" is not 25, and unknown fields are refused, not dropped.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
    schemaErrorFormatter: formatSchemaErrors,
    ...adminServerFactory(deps.tls),
  }).withTypeProvider<TypeBoxTypeProvider>()

  const authorized = deps.token === undefined ? undefined : bearerChecker(deps.token)
  const failures = new AuthFailureLimiter()
  app.addHook('onRequest', async (request, reply) => {
    if (authorized === undefined || !request.url.startsWith('/v1/')) return
    // Logs name the address and route, never the Authorization header or anything from it.
    const address = request.ip
    const wait = failures.blockedFor(address)
    if (wait > 0) {
      void reply.header('retry-after', String(wait))
      throw httpError(429, `too many failed bearer attempts from this address; retry in ${wait}s`, 'SY_ERR_AUTH_RATE_LIMITED')
    }
    if (!authorized(request.headers.authorization)) {
      if (failures.failed(address)) {
        request.log.warn(
          { ip: address, failures: AUTH_FAILURE_LIMIT, windowSeconds: AUTH_FAILURE_WINDOW_MS / 1000 },
          'admin auth failures from this address reached the limit; refusing it with 429 until the window ends',
        )
      } else {
        request.log.warn({ ip: address, method: request.method, url: request.url }, 'admin request refused: bad or missing bearer token')
      }
      void reply.header('www-authenticate', 'Bearer')
      throw httpError(401, 'missing or invalid bearer token: send "Authorization: Bearer <admin.token>"')
    }
  })
  // An empty body with a JSON content type is "no body" for the action routes, not an error.
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    const text = (body as string).trim()
    if (text === '') return done(null, undefined)
    try {
      done(null, JSON.parse(text))
    } catch {
      done(httpError(400, 'body is not valid JSON'), undefined)
    }
  })

  /** Green may not take more traffic while none of its targets is healthy, unless forced. */
  const healthGate = async (greenBuckets: number, force: boolean | undefined) => {
    if (force === true || greenBuckets === 0 || greenBuckets <= deps.controller.state().greenBuckets) return
    const green = (await deps.health()).green
    if (!green.some((target) => target.healthy)) {
      throw httpError(
        409,
        `green has no healthy target (${green.map((t) => `${t.url}: ${t.lastError ?? 'unhealthy'}`).join(', ')}); fix it or send "force": true`,
        'SY_ERR_GREEN_UNHEALTHY',
      )
    }
  }

  const rolloutCall = async <T>(run: () => Promise<T>): Promise<T> => {
    try {
      return await run()
    } catch (err) {
      if (err instanceof RolloutError) throw httpError(err.statusCode, err.message, err.code)
      throw err
    }
  }

  const change = async (
    greenBuckets: number,
    type: 'split' | 'promote' | 'rollback',
    body: { ifGeneration?: number; reason?: string; force?: boolean } | null | undefined,
  ) => {
    await healthGate(greenBuckets, body?.force)
    try {
      const state = await deps.controller.change({
        greenBuckets,
        type,
        source: 'api',
        reason: body?.reason ?? null,
        ...(body?.ifGeneration !== undefined ? { ifGeneration: body.ifGeneration } : {}),
      })
      // Answer once every proxy process routes with the new split.
      await deps.propagated()
      return splitView(state)
    } catch (err) {
      if (err instanceof GenerationConflictError) throw httpError(409, err.message, err.code)
      throw err
    }
  }

  // 200 while this process serves traffic, also when degraded: the proxy keeps routing with
  // its last split while Redis is away, so a load balancer must not take it out for that.
  app.get('/healthz', async () => {
    const state = deps.stateStatus()
    if (state === null) return { status: 'ok' }
    return {
      status: state.state,
      detail: {
        state: !state.connected
          ? `shared store unreachable since ${state.since}: ${state.lastError ?? 'connecting'}; routing with the last known split, changes refused`
          : state.state === 'ok'
            ? 'connected to the shared store'
            : `${state.lastError ?? 'the shared state cannot be read'}; routing with the last known split, changes refused`,
        store: state,
      },
    }
  })
  // Readiness, for a load balancer or Kubernetes that should send new traffic elsewhere: not
  // ready while stopping, nor while a fleet replica has never read the fleet's split (it would
  // route users with its config's split, unlike the others). /healthz stays 200 meanwhile.
  app.get('/readyz', async (_request, reply) => {
    const reason = deps.closing()
      ? 'stopping: draining the requests in flight'
      : deps.controller.startedOffline()
        ? "started without the fleet's split (the shared store has not answered yet); routing with the config's split"
        : null
    if (reason === null) return { status: 'ready' }
    void reply.code(503)
    return { status: 'not ready', reason }
  })
  app.get('/metrics', async (_request, reply) => {
    void reply.type(deps.metrics.registry.contentType)
    return deps.metricsText()
  })

  app.get('/v1/split', async () => splitView(deps.controller.state()))
  app.put('/v1/split', { schema: { body: SplitBody } }, async (request) => {
    return change(greenBucketsFromBody(request.body), 'split', request.body)
  })
  app.post('/v1/promote', { schema: { body: ActionBody } }, async (request) => change(10_000, 'promote', request.body))
  app.post('/v1/rollback', { schema: { body: ActionBody } }, async (request) => change(0, 'rollback', request.body))

  app.get('/v1/upstreams', async () => {
    const health = await deps.health()
    return { blue: { targets: health.blue }, green: { targets: health.green } }
  })
  app.put('/v1/upstreams/:color', { schema: { params: ColorParams, body: TargetsBody } }, async (request) => {
    const { color } = request.params
    const { targets } = request.body
    targets.forEach((target, i) => {
      try {
        checkTarget(`targets[${i}]`, target)
      } catch (err) {
        throw httpError(400, (err as Error).message)
      }
    })
    if (new Set(targets).size !== targets.length) throw httpError(400, 'targets must not list the same URL twice')
    await deps.setTargets(color, targets, request.body.reason ?? null)
    return { [color]: { targets: (await deps.health())[color] } }
  })

  app.get('/v1/status', async () => {
    const windows = deps.windowStats()
    const settings = deps.autoRevert()
    const [inFlight, connections, upstreams, workers] = await Promise.all([
      deps.inFlight(),
      deps.connections(),
      deps.health(),
      deps.workers(),
    ])
    const state = deps.stateStatus()
    return {
      status: state?.state ?? 'ok',
      split: splitView(deps.controller.state()),
      state: state ?? { store: 'file', file: deps.stateFile },
      window: { seconds: settings.window / 1000, blue: windows.blue, green: windows.green },
      autoRevert: settings,
      evidence: deps.evidence(),
      inFlight,
      connections,
      upstreams,
      workers,
      rollout: deps.rollouts.view(),
    }
  })

  app.get('/v1/rollout', async () => {
    const view = deps.rollouts.view()
    if (view === null) throw httpError(404, 'no rollout has been started; POST /v1/rollout starts one', 'SY_ERR_NO_ROLLOUT')
    return view
  })
  app.post('/v1/rollout', { schema: { body: RolloutBody } }, async (request, reply) => {
    const body = request.body ?? {}
    const { reason, force, ...plan } = body
    const first = plan.steps?.[0]?.green ?? plan.stepWeight ?? deps.rollouts.firstStepPercent()
    await healthGate(Math.round(first * 100), force)
    await rolloutCall(() => deps.rollouts.begin(plan as RolloutPlan, 'api', reason ?? null))
    await deps.propagated()
    void reply.code(201)
    return deps.rollouts.view()
  })
  for (const action of ['pause', 'resume', 'abort', 'promote-step', 'skip-analysis'] as const) {
    app.post(`/v1/rollout/${action}`, { schema: { body: ReasonBody } }, async (request) => {
      const reason = request.body?.reason ?? null
      await rolloutCall(() =>
        action === 'abort'
          ? deps.rollouts.abort('api', reason ?? 'aborted by an operator')
          : action === 'promote-step'
            ? deps.rollouts.promoteStep('api', reason)
            : action === 'skip-analysis'
              ? deps.rollouts.skipAnalysis('api', reason)
              : deps.rollouts[action]('api', reason),
      )
      await deps.propagated()
      return deps.rollouts.view()
    })
  }

  // A signed, expiring link that shows a tester one colour in any browser (the proxy sets a cookie).
  app.post('/v1/preview', { schema: { body: PreviewBody } }, async (request, reply) => {
    const preview = deps.preview
    if (preview === undefined) throw httpError(404, 'preview links are off', 'SY_ERR_PREVIEW_OFF')
    const ttl = parseDuration(request.body.ttl ?? '1h')
    if (ttl === undefined || ttl < 1000 || ttl > 7 * 86_400_000) {
      throw httpError(400, 'ttl must be a duration from 1s to 7d, such as 30m or 1h', 'SY_ERR_BAD_REQUEST')
    }
    const expiresAt = Date.now() + ttl
    const token = preview.signer.sign(request.body.color, expiresAt)
    const path = `${PREVIEW_PATH}?token=${encodeURIComponent(token)}`
    void reply.code(201)
    return { color: request.body.color, expiresAt: new Date(Math.floor(expiresAt / 1000) * 1000).toISOString(), path, url: `${preview.baseUrl()}${path}` }
  })

  app.get('/v1/events', { schema: { querystring: EventsQuery } }, async (request) => {
    const limit = request.query.limit === undefined ? undefined : Number(request.query.limit)
    const events = deps.controller.events()
    return limit === undefined ? events : events.slice(0, limit)
  })

  return app
}
