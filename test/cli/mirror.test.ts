/**
 * `switchyard mirror` (show, set, report, reset) against one real switchyard started in this
 * process, whose blue and green answer the same JSON but for one field (and a request id that
 * differs on every answer, which the noise learner must mark), run from source through tsx:
 * these tests need no build of dist/. The report's text is also checked as a pure function.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { App } from '../../src/app.js'
import type { MirrorReportView, MirrorView, RolloutView } from '../../src/cli/api-types.js'
import { mirrorLines, reportLines } from '../../src/cli/commands/mirror.js'
import { startedLine } from '../../src/cli/commands/rollout.js'
import { stepList } from '../../src/cli/options.js'
import { makeStyle } from '../../src/cli/style.js'
import { renderRollout, rolloutSummary } from '../../src/cli/watch.js'
import { admin, startTestApp, testConfig } from '../helpers/app.js'
import { runCli } from '../helpers/cli.js'
import { eventually } from '../helpers/wait.js'

const TOKEN = 'mirror-cli-token'
const AUTH = { authorization: `Bearer ${TOKEN}` }
const plain = makeStyle(false)

/** An upstream answering `{"id":7,"price":PRICE,"requestId":<random>}` to every request. */
async function startJsonUpstream(price: number): Promise<{ url: string; hits: number; close(): Promise<void> }> {
  const state = { hits: 0 }
  const server: Server = createServer((req, res) => {
    state.hits++
    req.resume()
    req.on('end', () => {
      {
      // With a length: an answer without one counts as a stream, whose body is never compared.
      const body = JSON.stringify({ id: 7, price, requestId: Math.random().toString(36).slice(2) })
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body)
    }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return Object.assign(state, {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  })
}

let app: App
let upstreams: Awaited<ReturnType<typeof startJsonUpstream>>[] = []
let env: Record<string, string>

beforeAll(async () => {
  // Two blue targets: the noise learner compares two blue answers to one request.
  upstreams = await Promise.all([startJsonUpstream(10), startJsonUpstream(10), startJsonUpstream(12)])
  const [blueA, blueB, green] = upstreams
  app = await startTestApp(
    await testConfig([blueA!.url, blueB!.url], [green!.url], {
      admin: { host: '127.0.0.1', port: 0, token: TOKEN },
      split: { green: 0 },
      mirror: { noise: { percent: 100, minDiffs: 2 } },
    }),
  )
  env = { SWITCHYARD_ADMIN_URL: app.adminUrl, SWITCHYARD_ADMIN_TOKEN: TOKEN }
}, 30_000)

afterAll(async () => {
  await app?.close()
  await Promise.all(upstreams.map((u) => u.close()))
})

/** `switchyard ...args` from source against the test's switchyard. */
async function sy(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const proc = runCli(args, env)
  const code = await proc.exit()
  return { code, stdout: proc.stdout(), stderr: proc.stderr() }
}

async function json<T>(...args: string[]): Promise<T> {
  const run = await sy(...args, '--json')
  expect(run.stderr).toBe('')
  expect(run.code).toBe(0)
  return JSON.parse(run.stdout) as T
}

const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

async function report(): Promise<MirrorReportView> {
  return (await admin(app, 'GET', '/v1/mirror/report', undefined, AUTH)).body as MirrorReportView
}

// Each test starts a process or several; a loaded 2-core machine can take seconds for each.
describe('switchyard mirror', { timeout: 45_000 }, () => {
  it('shows mirroring off, with its settings', async () => {
    const run = await sy('mirror')
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)
    const [state, compared, settings] = run.stdout.trimEnd().split('\n')
    expect(state).toMatch(/^mirror: off: green gets no copies \(generation \d+\)$/)
    expect(compared).toBe('compared: no pairs compared yet')
    expect(settings).toBe('settings: GET, HEAD, OPTIONS · bodies up to 1 MiB · 64 at a time · timeout 30s · compare json · copies marked x-switchyard-shadow: 1')
    expect(await json<MirrorView>('mirror')).toMatchObject({ percent: 0, pairs: 0, settings: { mode: 'json', header: 'x-switchyard-shadow' } })
  })

  it('set: mirrors a share, seen by GET /v1/mirror and in the audit log with its reason', async () => {
    const run = await sy('mirror', 'set', '12.5', '--reason', 'compare build 1.8.0')
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)
    expect(run.stdout).toMatch(/^mirror: 12\.5 % of blue's requests copied to green \(generation \d+\)\n/)
    expect(((await admin(app, 'GET', '/v1/mirror', undefined, AUTH)).body as MirrorView).percent).toBe(12.5)
    const [event] = await json<{ type: string; from: unknown; to: unknown; reason: string }[]>('events', '--limit', '1')
    expect(event).toMatchObject({ type: 'mirror', from: { percent: 0 }, to: { percent: 12.5 }, reason: 'compare build 1.8.0' })
    expect(await json<MirrorView>('mirror', 'set', '100')).toMatchObject({ percent: 100 })
  })

  it('exit 2 for a percent that is not one, with nothing sent', async () => {
    const before = (await admin(app, 'GET', '/v1/mirror', undefined, AUTH)).body as MirrorView
    const runs = await Promise.all([sy('mirror', 'set', 'lots'), sy('mirror', 'set', '150'), sy('mirror', 'set', '1.234'), sy('mirror', 'set'), sy('mirror', 'report', '--limit', '0')])
    for (const run of runs) {
      expect(run.code, run.stderr).toBe(2)
      expect(run.stderr).toMatch(/^switchyard: error: /)
      expect(run.stderr).toMatch(/\(run "switchyard mirror [a-z]+ --help" for usage\)\n$/)
      expect(run.stdout).toBe('')
    }
    expect(runs[0].stderr).toContain('"lots" is not a percent from 0 to 100 (at most two decimals)')
    expect(runs[1].stderr).toContain('"150" is not a percent from 0 to 100')
    expect(((await admin(app, 'GET', '/v1/mirror', undefined, AUTH)).body as MirrorView).generation).toBe(before.generation)
  })

  it('report: per route pairs and differing share, the differing field, the noisy one marked, examples', async () => {
    for (let i = 0; i < 30; i++) expect((await fetch(`${app.proxyUrl}/api/items?page=${i}`)).status).toBe(200)
    // Shadows finish after the answers: wait for every pair, and for the request id to be learned as noise.
    await eventually(async () => {
      const r = await report()
      return r.pairs >= 30 && r.routes[0]?.paths.some((p) => p.path === '$.requestId' && p.noisy) === true
    }, 15_000, 100)

    const doc = await json<MirrorReportView>('mirror', 'report')
    expect(doc.pairs).toBeGreaterThanOrEqual(30)
    expect(doc.differing).toBe(doc.pairs)
    const route = doc.routes[0]!
    const name = escape(route.route === '' ? '(all routes)' : route.route)
    expect(route.paths[0]).toMatchObject({ path: '$.price', count: route.pairs, share: 1, noisy: false })

    const run = await sy('mirror', 'report')
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)
    const lines = run.stdout.trimEnd().split('\n')
    expect(lines[0]).toMatch(new RegExp(`^mirror 100 % · since \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d · ${doc.differing} differing of ${doc.pairs} pairs \\(100 %\\)$`))
    expect(run.stdout).toMatch(/^differing in: field \d+ \(100 %\)/m)
    expect(run.stdout).toMatch(/^ROUTE\s+PAIRS\s+DIFFERING\s+SHARE\s+GREEN TIME p50\/p90$/m)
    // Green's time over blue's for the same requests, p50 and p90.
    expect(run.stdout).toMatch(/^\/api\s+\d+\s+\d+\s+100 %\s+[\d.]+× \/ [\d.]+×$/m)
    expect(run.stdout).toMatch(new RegExp(`^${name}\\s+${route.pairs}\\s+${route.differing}\\s+100 %\\s`, 'm'))
    expect(run.stdout).toMatch(new RegExp(`^ {2}\\$\\.price\\s+${route.pairs}\\s+100 %$`, 'm'))
    expect(run.stdout).toMatch(/^ {2}\$\.requestId\s+\d+\s+(\S+ %|-)\s+noisy: differs between blue's own answers too/m)
    expect(run.stdout).toContain("learned noise (what differs between two of blue's own answers is not held against green):")
    expect(run.stdout).toMatch(/^examples:$/m)
    expect(run.stdout).toMatch(/^ {2}GET \/api\/items\?page=\S+ · blue 200 in \d+ms · green 200 in \d+ms · field \$\.price/m)

    // --limit 1: one route, one field path per route, one example.
    const short = await sy('mirror', 'report', '--limit', '1')
    expect(short.stdout).not.toContain('$.requestId  ')
    expect(short.stdout.match(/^ {2}GET /gm)).toHaveLength(1)
  })

  it('reset forgets the report and the learned noise; mirroring goes on', async () => {
    const run = await sy('mirror', 'reset')
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)
    expect(run.stdout).toBe('mirror report reset: pairs, differences and learned noise forgotten; mirroring stays at 100 %\n')
    const after = await report()
    expect(after.pairs).toBe(0)
    expect(after.noise.routes.every((r) => r.paths.every((p) => !p.noisy))).toBe(true)
    expect((await sy('mirror', 'report')).stdout).toMatch(/^mirror 100 % · since .* · no pairs compared yet\n$/)
    expect(await json<MirrorView>('mirror', 'set', '0')).toMatchObject({ percent: 0 })
  })

  it('rollout start --steps mirror:100:5m,50: the mirror step reads "mirror 100 %"', async () => {
    const start = await sy('rollout', 'start', '--steps', 'mirror:100:5m,50', '--hold', '10m', '--reason', 'shadows first')
    expect(start.stderr).toBe('')
    expect(start.code).toBe(0)
    expect(start.stdout).toMatch(/^rollout [0-9a-f]{8} started: mirror 100 %, 50 % \(holds 5m, 10m\) · step 1\/2 · green 0 % · mirror 100 % · progressing · hold (5m|4m5\ds) left\n$/)
    expect((await json<RolloutView>('rollout', 'get')).steps[0]).toEqual({ green: 0, mirror: 100, holdMs: 300_000 })
    expect((await sy('rollout', 'get')).stdout).toContain('steps: [mirror 100 %] > 50 %')
    expect(((await admin(app, 'GET', '/v1/mirror', undefined, AUTH)).body as MirrorView).percent).toBe(100)
    expect((await sy('rollout', 'abort')).code).toBe(0)
  })

  it('a refusal of the server is exit 1 with its code and message', async () => {
    // Past the CLI's own checks: the admin API itself refuses a body it cannot take.
    const refused = await admin(app, 'PUT', '/v1/mirror', { percent: 101 }, AUTH)
    expect(refused.status).toBe(400)
    expect(refused.body).toMatchObject({ statusCode: 400, code: expect.any(String) as string, message: expect.stringMatching(/percent/) as string })
    const denied = runCli(['mirror'], { ...env, SWITCHYARD_ADMIN_TOKEN: 'wrong' })
    expect(await denied.exit()).toBe(1)
    expect(denied.stderr()).toContain('(401)')
  })
})

describe('mirror steps in a rollout plan', () => {
  const rollout: RolloutView = {
    id: '7d9cd647-08cf-4890-90cb-f017a314e724',
    phase: 'progressing',
    step: 1,
    steps: [{ green: 0, mirror: 100, holdMs: 300_000 }, { green: 5, holdMs: 120_000 }, { green: 100, holdMs: 0 }],
    green: 0,
    holdLeftMs: 240_000,
    startedAt: '2025-06-01T10:00:00.000Z',
    stepStartedAt: '2025-06-01T10:00:00.000Z',
    endedAt: null,
    reason: null,
  }

  it('prints a mirror step as "mirror 100 %", not "green 0 %"', () => {
    expect(startedLine(rollout)).toBe('rollout 7d9cd647 started: mirror 100 %, 5 %, 100 % (holds 5m, 2m, 0ms)')
    const t0 = Date.parse(rollout.stepStartedAt)
    const view = renderRollout(rollout, { now: t0, readAt: t0, style: plain, unicode: false })
    expect(view[0]).toBe('rollout 7d9cd647 · progressing · step 1/3 · green 0 % · mirror 100 %')
    expect(view[2]).toBe('steps: [mirror 100 %] > 5 % > 100 %')
    expect(rolloutSummary(rollout, t0, t0, plain)).toBe('step 1/3 · green 0 % · mirror 100 % · progressing · hold 4m left')
    // Past the mirror step, only green's share is news.
    const next = { ...rollout, step: 2, green: 5 }
    expect(renderRollout(next, { now: t0, readAt: t0, style: plain, unicode: false })[2]).toBe('steps: mirror 100 %+ > [5 %] > 100 %')
    expect(rolloutSummary(next, t0, t0, plain)).toBe('step 2/3 · green 5 % · progressing · hold 4m left')
  })

  it('--steps takes mirror:PERCENT[:HOLD] entries, before the green ones only', () => {
    expect(stepList('mirror:100:5m,5:2m,100')).toEqual([{ mirror: 100, hold: '5m' }, { green: 5, hold: '2m' }, { green: 100 }])
    expect(() => stepList('5,mirror:100')).toThrow('mirror steps come first')
    expect(() => stepList('mirror')).toThrow('must be GREEN, GREEN:HOLD, mirror:PERCENT or mirror:PERCENT:HOLD')
    expect(() => stepList('mirror:150')).toThrow('"150" is not a percent')
  })
})

describe('mirror output for people (pure)', () => {
  const view: MirrorView = {
    percent: 25,
    generation: 4,
    settings: { methods: ['GET', 'HEAD'], maxBodySize: 65536, concurrency: 16, timeout: 5000, header: 'x-switchyard-shadow', mode: 'json' },
    pairs: 800,
    differing: 12,
    share: 0.015,
  }
  const fixture: MirrorReportView = {
    percent: 25,
    since: '2025-06-01T10:00:00.000Z',
    pairs: 800,
    differing: 12,
    share: 0.015,
    kinds: [{ kind: 'field', count: 10, share: 0.0125 }, { kind: 'status', count: 2, share: 0.0025 }],
    routes: [
      {
        route: '/api/users',
        pairs: 600,
        differing: 10,
        share: 10 / 600,
        latencyRatio: { p50: 1.09, p90: 1.3 },
        kinds: [{ kind: 'field', count: 10, share: 10 / 600 }],
        paths: [
          { path: '$.items[*].price', count: 9, share: 0.015, noise: 0, noisy: false },
          { path: '$.total', count: 3, share: 0.005, noise: 0, noisy: false },
          { path: '$.requestId', count: 0, share: 0, noise: 590, noisy: true },
        ],
        otherPaths: 2,
      },
      { route: '/api/orders', pairs: 200, differing: 2, share: 0.01, kinds: [{ kind: 'status', count: 2, share: 0.01 }], paths: [], otherPaths: 0 },
    ],
    examples: [
      {
        route: '/api/users',
        method: 'GET',
        path: '/api/users?id=[redacted]',
        kinds: ['field'],
        blue: { status: 200, durationMs: 12 },
        green: { status: 200, durationMs: 30 },
        paths: [{ path: '$.items[0].price' }, { path: '$.items[1].price' }, { path: '$.items[2].price' }, { path: '$.total' }],
        headers: ['etag'],
      },
      { route: '/api/orders', method: 'GET', path: '/api/orders/:id', kinds: ['status'], blue: { status: 200, durationMs: 5 }, green: { status: 500, durationMs: 7 }, paths: [], headers: [] },
    ],
    noise: { routes: [{ route: '/api/users', samples: 60, jsonSamples: 60, paths: [{ path: '$.requestId', diffs: 59, noisy: true }], headers: [{ name: 'x-request-id', diffs: 60, noisy: true }] }] },
  }

  it('mirror: the share, what was compared, the settings', () => {
    expect(mirrorLines(view, plain)).toEqual([
      "mirror: 25 % of blue's requests copied to green (generation 4)",
      'compared: 12 differing of 800 pairs (1.5 %)',
      'settings: GET, HEAD · bodies up to 64 KiB · 16 at a time · timeout 5s · compare json · copies marked x-switchyard-shadow: 1',
    ])
  })

  it('report: routes as a table, top fields with their share, noisy ones marked, learned noise, examples', () => {
    const lines = reportLines(fixture, { limit: 5, style: plain })
    expect(lines[0]).toMatch(/^mirror 25 % · since 2025-06-01 \d\d:00:00 · 12 differing of 800 pairs \(1\.5 %\)$/)
    expect(lines.slice(1)).toEqual([
      'differing in: field 10 (1.25 %) · status 2 (0.25 %)',
      '',
      'ROUTE        PAIRS  DIFFERING  SHARE   GREEN TIME p50/p90',
      '/api/users   600    10         1.67 %  1.09× / 1.3×',
      '/api/orders  200    2          1 %     -',
      '',
      '/api/users: 10 differing of 600 pairs (1.67 %); field 10 (1.67 %)',
      '  FIELD             DIFFERING  SHARE',
      '  $.items[*].price  9          1.5 %',
      '  $.total           3          0.5 %',
      "  $.requestId       0          -      noisy: differs between blue's own answers too, 590 ignored as noise",
      '  ... 2 more field paths',
      '',
      "learned noise (what differs between two of blue's own answers is not held against green):",
      '  /api/users: $.requestId, header x-request-id',
      '',
      'examples:',
      '  GET /api/users?id=[redacted] · blue 200 in 12ms · green 200 in 30ms · field $.items[0].price, $.items[1].price, $.items[2].price (+1) · headers etag',
      '  GET /api/orders/:id · blue 200 in 5ms · green 500 in 7ms · status',
    ])
  })

  it('report --limit 1: one route, one field path, one example; the rest counted', () => {
    const lines = reportLines(fixture, { limit: 1, style: plain })
    expect(lines).toContain('... 1 more route (--limit shows more)')
    expect(lines).toContain('  ... 4 more field paths')
    expect(lines.filter((l) => l.startsWith('  GET '))).toHaveLength(1)
    expect(lines.join('\n')).not.toContain('/api/orders  200')
  })

  it("says when a fleet's report sums several replicas", () => {
    expect(reportLines({ ...fixture, scope: 'fleet', replicas: 3 }, { limit: 5, style: plain })[0]).toMatch(/ · summed over 3 replicas$/)
    expect(reportLines({ ...fixture, scope: 'fleet', replicas: 1 }, { limit: 5, style: plain })[0]).not.toMatch(/replicas/)
  })

  it('an empty report says so, and how to start mirroring when it is off', () => {
    const empty = { ...fixture, percent: 0, pairs: 0, differing: 0, share: 0, kinds: [], routes: [], examples: [], noise: { routes: [] } }
    expect(reportLines(empty, { limit: 5, style: plain }).slice(1)).toEqual(['mirroring is off: "switchyard mirror set 10" copies 10 % of blue\'s requests to green'])
  })
})
