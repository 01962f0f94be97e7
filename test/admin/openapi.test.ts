import { Validator } from '@seriousme/openapi-schema-validator'
import { Compile } from 'typebox/schema'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ColorParams, EventsQuery, PreviewBody, RolloutBody, SplitBody, TargetsBody } from '../../src/admin/schemas.js'
import { createAdminServer } from '../../src/admin/server.js'
import type { ControlPort } from '../../src/control/port.js'
import { ERRORS, type ErrorCode } from '../../src/errors.js'
import { admin, startTestApp, testConfig } from '../helpers/app.js'
import { startColorUpstream, type ColorUpstream } from '../helpers/color-upstream.js'
import { memoryLogger } from '../helpers/logs.js'

type Schema = Record<string, unknown>
type Media = { schema: Schema; example?: unknown; examples?: Record<string, { summary?: string; value: unknown }> }
type Operation = {
  summary?: string
  description?: string
  tags?: string[]
  security?: Record<string, string[]>[]
  parameters?: { name: string; in: string; schema: Schema }[]
  requestBody?: { required: boolean; content: Record<string, Media> }
  responses: Record<string, { description: string; content?: Record<string, Media> }>
  'x-error-codes'?: { code: string; status: number; summary: string }[]
}
type Document = { openapi: string; paths: Record<string, Record<string, Operation>>; components: { securitySchemes: Record<string, unknown> } }

const TOKEN = 'openapi-test-token'
const auth = { authorization: `Bearer ${TOKEN}` }

let blue: ColorUpstream
let green: ColorUpstream
let app: Awaited<ReturnType<typeof startTestApp>>
let doc: Document

/** Every operation of the document as [`METHOD /path`, operation], paths in fastify's `:param` form. */
function operations(document: Document): [string, Operation][] {
  return Object.entries(document.paths).flatMap(([path, item]) =>
    Object.entries(item).map(([method, op]): [string, Operation] => [`${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`, op]),
  )
}

function operation(key: string): Operation {
  const found = operations(doc).find(([k]) => k === key)
  if (found === undefined) throw new Error(`${key} is not in the document`)
  return found[1]
}

/** The JSON answer schema and example of one status. */
function answer(key: string, status: number): Media {
  const media = operation(key).responses[status]?.content?.['application/json']
  if (media === undefined) throw new Error(`${key} documents no JSON answer for ${status}`)
  return media
}

function check(schema: unknown, value: unknown): boolean {
  return Compile(schema as Schema).Check(value)
}

/** `METHOD /path` of every route in fastify's printRoutes tree (children print their path relative to the parent). */
function routesOf(tree: string): string[] {
  const routes: string[] = []
  const stack: string[] = []
  for (const line of tree.split('\n')) {
    const match = /^([│ ]*)[├└]── (\S+)(?: \(([A-Z, ]+)\))?$/.exec(line)
    if (match === null) continue
    stack.length = match[1]!.length / 4
    stack.push(match[2]!)
    for (const method of (match[3] ?? '').split(', ').filter((m) => m !== '' && m !== 'HEAD')) routes.push(`${method} ${stack.join('')}`)
  }
  return routes
}

beforeAll(async () => {
  ;[blue, green] = await Promise.all([startColorUpstream('blue'), startColorUpstream('green')])
  app = await startTestApp(await testConfig([blue.url], [green.url], { admin: { host: '127.0.0.1', port: 0, token: TOKEN } }))
  doc = (await (await fetch(`${app.adminUrl}/openapi.json`)).json()) as Document
})
afterAll(async () => {
  await app.close()
  await Promise.all([blue.close(), green.close()])
})

describe('GET /openapi.json', () => {
  it('is a valid OpenAPI 3.1 document, served without the token', async () => {
    const res = await fetch(`${app.adminUrl}/openapi.json`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^application\/json/)
    const validator = new Validator()
    const result = await validator.validate((await res.json()) as Document)
    expect(result.errors).toBeUndefined()
    expect(result.valid).toBe(true)
    expect(validator.version).toBe('3.1')
    expect(doc.openapi).toBe('3.1.0')
  })

  it('gives every route a summary, a description and a tag, and the bearer scheme on /v1 only', () => {
    expect(Object.keys(doc.components.securitySchemes)).toEqual(['bearer'])
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' })
    for (const [key, op] of operations(doc)) {
      expect(op.summary, `${key} has no summary: add it to src/admin/openapi/operations.ts`).toBeTruthy()
      expect(op.description, key).toBeTruthy()
      expect(op.tags?.length, key).toBe(1)
      expect(op.security, key).toEqual(key.split(' ')[1]!.startsWith('/v1/') ? [{ bearer: [] }] : undefined)
    }
  })

  it('documents for each route the catalog codes it can answer, each under its own status', () => {
    const put = operation('PUT /v1/split')['x-error-codes']!.map((e) => e.code)
    expect(put).toEqual(expect.arrayContaining(['SY_ERR_HTTP_401', 'SY_ERR_AUTH_RATE_LIMITED', 'SY_ERR_HTTP_400', 'SY_ERR_GENERATION_CONFLICT', 'SY_ERR_GREEN_UNHEALTHY']))
    expect(operation('GET /v1/rollout')['x-error-codes']!.map((e) => e.code)).toContain('SY_ERR_NO_ROLLOUT')
    expect(operation('GET /healthz')['x-error-codes']).toEqual([])
    for (const [key, op] of operations(doc)) {
      for (const { code, status, summary } of op['x-error-codes'] ?? []) {
        expect(Object.keys(ERRORS), `${key} documents ${code}, which is not in src/errors.ts`).toContain(code)
        const entry = ERRORS[code as ErrorCode]
        expect({ status, summary }, `${key} ${code}`).toEqual({ status: entry.status, summary: entry.summary })
        const media = op.responses[status]?.content?.['application/json']
        expect((media?.schema.properties as Record<string, { enum?: string[] }> | undefined)?.code?.enum, `${key} ${status}`).toContain(code)
        expect(media?.examples?.[code]?.value, `${key} ${code}`).toMatchObject({ statusCode: status, code })
      }
    }
  })

  it('describes each body, path parameter and query with the very schemas the routes validate with', () => {
    const json = (schema: unknown) => JSON.parse(JSON.stringify(schema)) as unknown
    const body = (key: string) => operation(key).requestBody!.content['application/json']!.schema
    expect(body('PUT /v1/split')).toEqual(json(SplitBody))
    expect(body('POST /v1/rollout')).toEqual(json(RolloutBody))
    expect(body('PUT /v1/upstreams/:color')).toEqual(json(TargetsBody))
    expect(body('POST /v1/preview')).toEqual(json(PreviewBody))
    // A parameter's description moves from its schema to the parameter.
    const undescribed = (schema: unknown) => Object.fromEntries(Object.entries(json(schema) as Schema).filter(([k]) => k !== 'description'))
    const color = undescribed(ColorParams.properties.color)
    expect(operation('PUT /v1/upstreams/:color').parameters).toEqual([expect.objectContaining({ in: 'path', name: 'color', required: true, schema: color })])
    const query = (name: 'limit' | 'type' | 'since'): unknown => expect.objectContaining({ in: 'query', name, required: false, schema: undescribed(EventsQuery.properties[name]) })
    expect(operation('GET /v1/events').parameters).toEqual([query('limit'), query('type'), query('since')])
    // A body that may be left out is not required.
    expect(operation('POST /v1/promote').requestBody!.required).toBe(false)
    expect(operation('PUT /v1/split').requestBody!.required).toBe(true)
  })

  it('gives an example of each body, and each passes its own schema', () => {
    let checked = 0
    for (const [key, op] of operations(doc)) {
      const media = op.requestBody?.content['application/json']
      if (media === undefined) continue
      expect(Object.keys(media.examples ?? {}).length, `${key} has no request example`).toBeGreaterThan(0)
      for (const [name, example] of Object.entries(media.examples ?? {})) {
        expect(check(media.schema, example.value), `${key} example "${name}"`).toBe(true)
        checked++
      }
    }
    expect(checked).toBeGreaterThanOrEqual(10)
  })

  it('gives an example of each answer, and each passes its own schema', () => {
    for (const [key, op] of operations(doc)) {
      expect(Object.keys(op.responses).some((status) => Number(status) < 300), `${key} documents no success`).toBe(true)
      for (const [status, response] of Object.entries(op.responses)) {
        for (const media of Object.values(response.content ?? {})) {
          const examples = [...(media.example === undefined ? [] : [media.example]), ...Object.values(media.examples ?? {}).map((e) => e.value)]
          expect(examples.length, `${key} ${status} has no example`).toBeGreaterThan(0)
          for (const example of examples) expect(check(media.schema, example), `${key} ${status} example`).toBe(true)
        }
      }
    }
  })

  it("matches the running server's answers and refusals", async () => {
    const fits = async (key: string, path: string, status: number, body?: unknown) => {
      const [method] = key.split(' ')
      const res = await admin(app, method!, path, body, auth)
      expect(res.status, `${key}: ${JSON.stringify(res.body)}`).toBe(status)
      expect(check(answer(key, status).schema, res.body), `${key} ${status}: ${JSON.stringify(res.body)}`).toBe(true)
      return res.body as Record<string, unknown>
    }
    await fits('GET /v1/rollout', '/v1/rollout', 404)
    await fits('GET /v1/split', '/v1/split', 200)
    await fits('PUT /v1/split', '/v1/split', 200, { green: 25, reason: 'openapi test' })
    await fits('PUT /v1/split', '/v1/split', 400, { green: '25' })
    await fits('PUT /v1/split', '/v1/split', 409, { green: 30, ifGeneration: 0 })
    await fits('GET /v1/upstreams', '/v1/upstreams', 200)
    await fits('PUT /v1/upstreams/:color', '/v1/upstreams/green', 200, { targets: [green.url] })
    await fits('POST /v1/rollout', '/v1/rollout', 201, { steps: [{ green: 30, hold: '1m' }, { green: 100, hold: 0 }] })
    await fits('GET /v1/rollout', '/v1/rollout', 200)
    await fits('POST /v1/rollout/pause', '/v1/rollout/pause', 200, { reason: 'look' })
    await fits('POST /v1/rollout/resume', '/v1/rollout/resume', 200)
    await fits('POST /v1/rollout/abort', '/v1/rollout/abort', 200)
    await fits('POST /v1/rollout/abort', '/v1/rollout/abort', 409)
    await fits('POST /v1/rollback', '/v1/rollback', 200)
    await fits('GET /v1/events', '/v1/events?limit=5', 200)
    await fits('GET /v1/status', '/v1/status', 200)
    await fits('POST /v1/preview', '/v1/preview', 201, { color: 'green' })
    await fits('GET /healthz', '/healthz', 200)
    await fits('GET /readyz', '/readyz', 200)
    const refused = await fetch(`${app.adminUrl}/v1/split`)
    expect(check(answer('GET /v1/split', 401).schema, await refused.json())).toBe(true)
  })
})

describe('the document and the routes', () => {
  it('lists every route fastify registered, with its methods, and no other', async () => {
    const logs = memoryLogger('warn')
    const server = createAdminServer({ control: {} as ControlPort, token: TOKEN, logger: logs.logger })
    await server.listen({ port: 0, host: '127.0.0.1' })
    try {
      const { port } = server.server.address() as { port: number }
      const served = (await (await fetch(`http://127.0.0.1:${port}/openapi.json`)).json()) as Document
      // Left out on purpose: the documentation itself, and the dashboard (a page for people, not API; see routes/dashboard.ts).
      const pages = ['GET /openapi.json', 'GET /docs', 'GET /', 'GET /ui/:file']
      const registered = routesOf(server.printRoutes({ commonPrefix: false })).filter((r) => !pages.includes(r))
      expect(registered.filter((r) => r.includes(' /v1/')).length).toBeGreaterThanOrEqual(15)
      expect(operations(served).map(([key]) => key).sort()).toEqual(registered.sort())
    } finally {
      await server.close()
    }
  })
})

describe('GET /docs', () => {
  it('is one HTML page, served without the token, that loads nothing from another host', async () => {
    const res = await fetch(`${app.adminUrl}/docs`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/html/)
    const html = await res.text()
    expect(html).toContain('openapi.json')
    expect(html).not.toMatch(/(src|href)\s*=\s*["']?(https?:)?\/\//i)
    expect(html).not.toMatch(/https?:\/\//i)
    expect(html).not.toMatch(/<script[^>]+src=/i)
  })
})
