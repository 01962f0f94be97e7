import type { FastifyDynamicSwaggerOptions, SwaggerTransform, SwaggerTransformObject } from '@fastify/swagger'
import type { FastifySchema } from 'fastify'
import { STATUS_CODES } from 'node:http'
import { ERRORS, type ErrorCode } from '../../errors.js'
import { packageVersion } from '../../package-root.js'
import { OPERATIONS, TAGS, type OperationDoc } from './operations.js'
import { ErrorAnswer } from './responses.js'
import { SCOPED_ERRORS, SERVICE_PREFIX, UNSCOPED_ERRORS } from './service-operations.js'

/** The groups of routes that address one service (the `default` one when unscoped). */
const PER_SERVICE_TAGS: ReadonlySet<string> = new Set(['split', 'upstreams', 'rollout', 'mirror'])

/** Codes every `/v1` route can answer (the bearer check runs before any of them). */
const AUTH_CODES: readonly ErrorCode[] = ['SY_ERR_HTTP_401', 'SY_ERR_AUTH_RATE_LIMITED']

/** The catalog codes one route can answer: the bearer check's, a schema's 400, and its own. */
export function routeErrorCodes(url: string, schema: FastifySchema, doc: OperationDoc | undefined): ErrorCode[] {
  const validates = schema.body !== undefined || schema.params !== undefined || schema.querystring !== undefined
  const codes: ErrorCode[] = [...(url.startsWith('/v1/') ? AUTH_CODES : []), ...(validates ? ['SY_ERR_HTTP_400' as const] : []), ...(doc?.errors ?? [])]
  return [...new Set(codes)]
}

/** One response per status, listing each code answered with it and an example of each. */
function errorResponses(codes: readonly ErrorCode[]): Record<string, unknown> {
  const byStatus = new Map<number, ErrorCode[]>()
  for (const code of codes) {
    const status = ERRORS[code].status ?? 500
    byStatus.set(status, [...(byStatus.get(status) ?? []), code])
  }
  return Object.fromEntries(
    [...byStatus].map(([status, group]) => [
      status,
      {
        ...ErrorAnswer,
        properties: {
          ...ErrorAnswer.properties,
          statusCode: { type: 'integer', const: status },
          error: { type: 'string', const: STATUS_CODES[status] },
          code: { type: 'string', enum: group },
        },
        'x-response-description': group.map((code) => `${code}: ${ERRORS[code].summary}`).join('\n\n'),
        'x-examples': Object.fromEntries(
          group.map((code) => [code, { summary: ERRORS[code].summary, value: { statusCode: status, error: STATUS_CODES[status] ?? 'Error', message: ERRORS[code].summary, code } }]),
        ),
      },
    ]),
  )
}

/** `PUT /v1/upstreams/:color` -> `putUpstreamsColor`. */
function operationId(method: string, url: string): string {
  const words = url
    .replace(/^\/v1\//, '/')
    .split(/[/:.-]+/)
    .filter((word) => word !== '')
  return method.toLowerCase() + words.map((word) => word[0]!.toUpperCase() + word.slice(1)).join('')
}

/**
 * Adds the reference of OPERATIONS to a route's own schemas, for the document only: fastify
 * keeps validating and serializing with the route's schemas as they are.
 */
const transform: SwaggerTransform = ({ schema: routeSchema, url, route }) => {
  const schema: FastifySchema = routeSchema ?? {}
  if (schema.hide === true) return { schema, url }
  const method = Array.isArray(route.method) ? route.method.join(',') : route.method
  // `/v1/services/:service/split` is `/v1/split` for one service: the same reference, its own refusals.
  const scoped = url.startsWith(SERVICE_PREFIX) && OPERATIONS[`${method} ${url}`] === undefined
  const doc = OPERATIONS[`${method} ${scoped ? `/v1/${url.slice(SERVICE_PREFIX.length)}` : url}`]
  const serviceCodes = scoped ? SCOPED_ERRORS : doc !== undefined && doc.tag !== 'services' && PER_SERVICE_TAGS.has(doc.tag) ? UNSCOPED_ERRORS : []
  const codes = [...new Set([...routeErrorCodes(url, schema, doc), ...serviceCodes])]
  const own = (schema.response ?? {}) as Record<string, object>
  const answers = Object.entries(doc?.answers ?? {}).map(([status, answer]) => [
    status,
    { ...(own[status] ?? answer.schema ?? {}), 'x-response-description': answer.description, examples: [answer.example] },
  ])
  const documented: FastifySchema & Record<`x-${string}`, unknown> = {
    ...schema,
    operationId: operationId(method, url),
    response: { ...own, ...Object.fromEntries(answers), ...errorResponses(codes) },
    'x-error-codes': codes.map((code) => ({ code, status: ERRORS[code].status, summary: ERRORS[code].summary })),
    ...(url.startsWith('/v1/') ? { security: [{ bearer: [] }] } : {}),
    ...(doc === undefined ? {} : scoped ? { summary: `${doc.summary} (one service)`, description: doc.description, tags: ['services'] } : { summary: doc.summary, description: doc.description, tags: [doc.tag] }),
    ...(doc?.produces === undefined ? {} : { produces: [doc.produces] }),
    ...(schema.body !== undefined && doc?.requests !== undefined ? { body: { ...(schema.body as object), 'x-examples': doc.requests } } : {}),
  }
  return { schema: documented, url }
}

type Operation = {
  requestBody?: { required?: boolean; content?: Record<string, { schema?: { anyOf?: { type?: unknown }[] } }> }
  responses?: Record<string, { content?: Record<string, unknown> }>
}

/**
 * @fastify/swagger marks every body required; one whose schema takes null may be left out. It
 * also puts a route's refusals under the route's own media type (text/event-stream): they are
 * JSON like every refusal.
 */
const transformObject: SwaggerTransformObject = (document) => {
  if (!('openapiObject' in document)) return document.swaggerObject
  for (const item of Object.values(document.openapiObject.paths ?? {})) {
    for (const operation of Object.values(item ?? {}) as Operation[]) {
      const body = operation.requestBody
      const schema = body?.content?.['application/json']?.schema
      if (body !== undefined && schema?.anyOf?.some((branch) => branch.type === 'null') === true) body.required = false
      for (const [status, response] of Object.entries(operation.responses ?? {})) {
        const content = response.content
        if (Number(status) < 400 || content === undefined || 'application/json' in content) continue
        const [only] = Object.values(content)
        if (only !== undefined) response.content = { 'application/json': only }
      }
    }
  }
  return document.openapiObject
}

const DESCRIPTION = `The admin API of switchyard, a blue/green and canary reverse proxy, on its own port.

The \`/v1\` routes need \`Authorization: Bearer <admin.token>\` when a token is configured; too many failed attempts from one address within a minute are refused with 429 for a while. Probes (\`/healthz\`, \`/readyz\`, \`/metrics\`), this document (\`/openapi.json\`) and its page (\`/docs\`) need no token.

Bodies are JSON (\`content-type: application/json\`), never coerced (\`"25"\` is not \`25\`); unknown fields are refused. A refusal answers \`{statusCode, error, message, code}\` with a \`SY_ERR_*\` code of the error catalog and changes nothing. Each change answers once every proxy process routes with it.`

/** @fastify/swagger's options: an OpenAPI 3.1 document from the routes' own TypeBox schemas. */
export function openApiOptions(): FastifyDynamicSwaggerOptions {
  return {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'switchyard admin API', version: packageVersion(), description: DESCRIPTION, license: { name: 'MIT', identifier: 'MIT' } },
      tags: Object.entries(TAGS).map(([name, description]) => ({ name, description })),
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'The `admin.token` of the config (without one, `/v1` needs no token)' },
        },
      },
    },
    // OpenAPI 3.1 schemas are JSON Schema: `const` stays as the routes validate it.
    convertConstToEnum: false,
    transform,
    transformObject,
  }
}
