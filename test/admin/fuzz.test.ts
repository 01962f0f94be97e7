import http from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { admin, startTestApp, testConfig } from '../helpers/app.js'
import { startUpstream, type Upstream } from '../helpers/upstream-server.js'
import { rng } from '../../bench/judge/simulate.js'

/** Seed of the run; set SY_FUZZ_SEED to replay one. Each request has its own stream (seed, index). */
const SEED = Number(process.env.SY_FUZZ_SEED ?? 0x5eed)
const REQUESTS = 1_000
const CONCURRENCY = 8

type Rand = () => number
const pick = <T>(rand: Rand, items: readonly T[]): T => items[Math.floor(rand() * items.length)]!
const int = (rand: Rand, max: number): number => Math.floor(rand() * max)

const WEIRD_NUMBERS = [
  -1, -0.0001, 100.0001, 101, 1e308, -1e308, 2 ** 53 + 1, Number.MAX_SAFE_INTEGER, 12.345, 1e-300, 25.001, 3.14159,
]
const WEIRD_STRINGS = ['NaN', 'Infinity', '-Infinity', '25', '', ' ', '0x19', '1e2', 'null', 'true', '\u0000', '\ud800', '😀', 'a'.repeat(600)]
const KEYS = [
  'green',
  'blue',
  'ifGeneration',
  'reason',
  'force',
  'targets',
  'steps',
  'stepWeight',
  'maxWeight',
  'interval',
  'hold',
  'analysis',
  'progressDeadline',
  'minRequests',
  'confidence',
  'maxLatencyIncrease',
  '__proto__',
  'constructor',
]

/** A random JSON value, at most `depth` levels deep. */
function jsonValue(rand: Rand, depth: number): unknown {
  const roll = int(rand, depth > 0 ? 9 : 6)
  switch (roll) {
    case 0:
      return pick(rand, WEIRD_NUMBERS)
    case 1:
      return pick(rand, WEIRD_STRINGS)
    case 2:
      return rand() < 0.5
    case 3:
      return null
    case 4:
      return int(rand, 201) - 50
    case 5:
      return `http://${pick(rand, ['127.0.0.1', 'x', '[::1]', 'does-not-exist.invalid'])}:${int(rand, 70_000)}${pick(rand, ['', '/', '/path', '?q'])}`
    case 6:
      return Array.from({ length: int(rand, 4) }, () => jsonValue(rand, depth - 1))
    default:
      return jsonObject(rand, depth - 1)
  }
}

/** A random object that always carries an unknown key, so no admin schema can accept it. */
function jsonObject(rand: Rand, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (let i = int(rand, 4); i > 0; i--) out[pick(rand, KEYS)] = jsonValue(rand, depth)
  out[`fuzz_${int(rand, 1e6)}`] = jsonValue(rand, 0)
  return out
}

/** A request body no admin route can accept (never empty, never `null`: those are valid for actions). */
function hostileBody(rand: Rand): { body: Buffer; type: string } {
  const json = (value: unknown) => ({ body: Buffer.from(JSON.stringify(value)), type: 'application/json' })
  switch (int(rand, 12)) {
    case 0:
      return json(jsonObject(rand, 3))
    case 1: {
      const value = jsonValue(rand, 3)
      return json(value === null ? [] : typeof value === 'object' && !Array.isArray(value) ? { ...value, fuzz: 1 } : value)
    }
    case 2: // 10,000 levels of arrays
      return { body: Buffer.from(`${'['.repeat(10_000)}${']'.repeat(10_000)}`), type: 'application/json' }
    case 3: // 10,000 levels of objects
      return { body: Buffer.from(`${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`), type: 'application/json' }
    case 4: // unbalanced nesting
      return { body: Buffer.from('['.repeat(50_000)), type: 'application/json' }
    case 5: // 1 MB
      return { body: Buffer.alloc(1024 * 1024, pick(rand, ['a', '[', '{', '1'])), type: 'application/json' }
    case 6: // numbers JSON cannot hold
      return { body: Buffer.from(`{"green": ${pick(rand, ['1e400', '-1e400', 'NaN', 'Infinity', '0x10', '01', '.5', '+5'])}}`), type: 'application/json' }
    case 7:
      return json({ green: pick(rand, WEIRD_STRINGS) })
    case 8:
      return json({ green: pick(rand, WEIRD_NUMBERS.filter((n) => n < 0 || n > 100)) })
    case 9: // not UTF-8
      return { body: Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]), type: 'application/json' }
    case 10:
      return { body: Buffer.from('green=25'), type: pick(rand, ['application/x-www-form-urlencoded', 'text/plain', 'application/xml']) }
    default:
      return { body: Buffer.from(JSON.stringify(jsonObject(rand, 2)).slice(0, -1)), type: 'application/json' }
  }
}

const MUTATING: ReadonlyArray<readonly [string, string]> = [
  ['PUT', '/v1/split'],
  ['POST', '/v1/promote'],
  ['POST', '/v1/rollback'],
  ['PUT', '/v1/upstreams/blue'],
  ['PUT', '/v1/upstreams/green'],
  ['POST', '/v1/rollout'],
  ['POST', '/v1/rollout/pause'],
  ['POST', '/v1/rollout/resume'],
  ['POST', '/v1/rollout/abort'],
  ['POST', '/v1/rollout/promote-step'],
  ['POST', '/v1/rollout/skip-analysis'],
]
const KNOWN_PATHS = ['/', '/v1/split', '/v1/promote', '/v1/rollback', '/v1/upstreams', '/v1/upstreams/blue', '/v1/status', '/v1/events', '/v1/rollout', '/metrics', '/healthz']
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'FOO', 'PROPFIND']
const PATH_CHARS = 'abcdefghijklmnopqrstuvwxyz0123456789-._~%'

interface FuzzRequest {
  readonly method: string
  readonly path: string
  readonly body: Buffer | undefined
  readonly type: string | undefined
}

function randomPath(rand: Rand): string {
  const segments = Array.from({ length: 1 + int(rand, 4) }, () =>
    Array.from({ length: 1 + int(rand, 12) }, () => pick(rand, [...PATH_CHARS])).join(''),
  )
  return `${rand() < 0.5 ? '/v1/' : '/'}${segments.join('/')}${rand() < 0.2 ? '?x=%zz&limit=NaN' : ''}`
}

/** Request number `index` of the run: the same for the same seed, whatever the concurrency. */
function fuzzRequest(index: number): FuzzRequest {
  const rand = rng(SEED ^ Math.imul(index + 1, 0x9e3779b1))
  switch (int(rand, 5)) {
    case 0:
    case 1: {
      const [method, path] = pick(rand, MUTATING)
      const { body, type } = hostileBody(rand)
      return { method, path, body, type }
    }
    case 2: {
      // A known path with a method it does not take (a GET of a readable route would be a 200).
      const path = pick(rand, KNOWN_PATHS)
      const method = pick(rand, ['DELETE', 'PATCH', 'OPTIONS', 'FOO', ...(path.startsWith('/v1/up') ? [] : ['PUT'])])
      const withBody = rand() < 0.5
      const hostile = withBody ? hostileBody(rand) : undefined
      return { method, path, body: hostile?.body, type: hostile?.type }
    }
    case 3: {
      const limit = pick(rand, ['NaN', 'Infinity', '-1', '0', '1e3', '99999', 'abc', '', '1.5', '%00', '10000'])
      return { method: 'GET', path: `/v1/events?limit=${limit}${rand() < 0.3 ? '&extra=1' : ''}`, body: undefined, type: undefined }
    }
    default: {
      let path = randomPath(rand)
      // As the client sends it: the URL parser turns `/.` into `/` (the dashboard, a readable route).
      while (KNOWN_PATHS.includes(new URL(path, 'http://x').pathname)) path = randomPath(rand)
      const method = pick(rand, METHODS)
      const hostile = method !== 'GET' && method !== 'HEAD' && rand() < 0.5 ? hostileBody(rand) : undefined
      return { method, path, body: hostile?.body, type: hostile?.type }
    }
  }
}

function sendRaw(base: string, request: FuzzRequest): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = {}
    if (request.body !== undefined) {
      headers['content-type'] = request.type ?? 'application/json'
      headers['content-length'] = request.body.length
    }
    // A fresh connection each: the server closes some (413, parse errors), and a keep-alive
    // client reusing one of those would report its own race, not the server's answer.
    const req = http.request(`${base}${request.path}`, { method: request.method, headers, agent: false })
    req.setTimeout(10_000, () => req.destroy(new Error('no answer within 10 s')))
    req.on('error', reject)
    req.on('response', (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('error', reject)
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8').slice(0, 300) }))
    })
    // A server may answer (413) and close before the whole body is written.
    req.on('socket', (socket) => socket.on('error', () => undefined))
    req.end(request.body)
  })
}

describe('admin API fuzz', () => {
  let blue: Upstream
  let green: Upstream
  let app: Awaited<ReturnType<typeof startTestApp>>

  beforeAll(async () => {
    blue = await startUpstream('blue')
    green = await startUpstream('green')
    app = await startTestApp(await testConfig([blue.url], [green.url], { split: { green: 10 } }))
  })
  afterAll(async () => {
    await app.close()
    await blue.close()
    await green.close()
  })

  it(`answers ${REQUESTS} hostile requests with 4xx only, never 5xx or a hang, and changes nothing (seed ${SEED})`, async () => {
    const splitBefore = await admin(app, 'GET', '/v1/split')
    const eventsBefore = await admin(app, 'GET', '/v1/events')
    const upstreamsBefore = await admin(app, 'GET', '/v1/upstreams')
    expect(splitBefore.status).toBe(200)

    const failures: string[] = []
    const statuses = new Set<number>()
    let next = 0
    const worker = async () => {
      while (next < REQUESTS) {
        const index = next++
        const request = fuzzRequest(index)
        let outcome: string
        try {
          const reply = await sendRaw(app.adminUrl, request)
          statuses.add(reply.status)
          if (reply.status >= 400 && reply.status < 500) continue
          outcome = `status ${reply.status}: ${reply.body}`
        } catch (err) {
          // A 413 may close the connection while a 1 MB body is still being written.
          if (request.body !== undefined && request.body.length > 64 * 1024) continue
          outcome = `error ${(err as Error).message}`
        }
        const body = request.body === undefined ? '' : ` body ${request.body.length} bytes: ${request.body.subarray(0, 80).toString('utf8')}`
        failures.push(`#${index} (SY_FUZZ_SEED=${SEED}) ${request.method} ${request.path}${body} -> ${outcome}`)
      }
    }
    await Promise.all(Array.from({ length: CONCURRENCY }, worker))
    expect(failures).toEqual([])
    // The corpus reaches the schemas, the router and the body limit, not just one of them.
    for (const status of [400, 404, 413, 415]) expect(statuses).toContain(status)

    expect(await admin(app, 'GET', '/v1/split')).toMatchObject({ status: 200, body: splitBefore.body })
    expect(await admin(app, 'GET', '/v1/events')).toMatchObject({ status: 200, body: eventsBefore.body })
    const upstreamsAfter = await admin(app, 'GET', '/v1/upstreams')
    const urls = (view: unknown) => JSON.stringify(view, (key, value: unknown) => (key === 'url' || typeof value === 'object' ? value : undefined))
    expect(urls(upstreamsAfter.body)).toBe(urls(upstreamsBefore.body))
    expect((await admin(app, 'GET', '/healthz')).status).toBe(200)
  })

  it('survives deep nesting (10,000 levels, and as deep as the 64 KiB body limit allows) on every body-taking route', async () => {
    for (const depth of [10_000, 32_000]) {
      const deep = `${'['.repeat(depth)}${']'.repeat(depth)}`
      for (const [method, path] of MUTATING) {
        const reply = await admin(app, method, path, deep)
        expect(reply.status).toBe(400)
      }
    }
    expect((await admin(app, 'GET', '/healthz')).status).toBe(200)
  })
})
