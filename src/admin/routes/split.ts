import type { ServicePorts } from '../service-ports.js'
import { callerOf } from '../auth.js'
import { exactBuckets } from '../../routing/types.js'
import { httpError } from '../http-errors.js'
import { ActionBody, SplitBody } from '../schemas.js'
import type { AdminApp } from '../server.js'

/** Reads `{green}`, `{blue}` or both (summing to 100) into green buckets; throws a 400 otherwise. */
export function greenBucketsFromBody(body: { green?: number; blue?: number }): number {
  const { green, blue } = body
  if (green === undefined && blue === undefined) {
    throw httpError('SY_ERR_HTTP_400', 'body must set "green" or "blue" (a percent from 0 to 100)')
  }
  if (green !== undefined && blue !== undefined && Math.abs(green + blue - 100) > 1e-9) {
    throw httpError('SY_ERR_HTTP_400', `"green" (${green}) and "blue" (${blue}) must sum to 100`)
  }
  return percentBuckets(green !== undefined ? 'green' : 'blue', green ?? 100 - blue!)
}

/** The buckets of a percent a body gives (its range checked by the schema), or a 400 naming the field. */
export function percentBuckets(field: string, value: number): number {
  const buckets = exactBuckets(value)
  if (buckets === undefined) throw httpError('SY_ERR_HTTP_400', `"${field}" must have at most two decimals (0.01 resolution)`)
  return buckets
}

/** GET/PUT /v1/split, POST /v1/promote and /v1/rollback: each answered once every proxy process routes with it. */
export function splitRoutes(app: AdminApp, ports: ServicePorts, base = '/v1'): void {
  type Body = { ifGeneration?: number; reason?: string; force?: boolean } | null | undefined
  type Request = Parameters<ServicePorts['of']>[0] & { readonly ip: string }
  const change = (greenBuckets: number, type: 'split' | 'promote' | 'rollback', body: Body, request: Request) =>
    ports.of(request).setSplit({
      greenBuckets,
      type,
      reason: body?.reason ?? null,
      caller: callerOf(request),
      ...(body?.ifGeneration === undefined ? {} : { ifGeneration: body.ifGeneration }),
      ...(body?.force === undefined ? {} : { force: body.force }),
    })

  app.get(`${base}/split`, async (request) => ports.of(request).split())
  app.put(`${base}/split`, { schema: { body: SplitBody } }, async (request) => change(greenBucketsFromBody(request.body), 'split', request.body, request))
  app.post(`${base}/promote`, { schema: { body: ActionBody } }, async (request) => change(10_000, 'promote', request.body, request))
  app.post(`${base}/rollback`, { schema: { body: ActionBody } }, async (request) => change(0, 'rollback', request.body, request))
}
