/**
 * Several services from the CLI (issue #15): --service addresses one service's routes
 * (/v1/services/{name}/...) in the client alone, `switchyard services` lists them. The path
 * rewriting and the listing's text are pure functions; the client is checked against a server
 * that records paths; the whole thing against a real switchyard with two services.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { App } from '../../src/app.js'
import type { ServicesView, SplitView } from '../../src/cli/api-types.js'
import { AdminClient, scopedPath } from '../../src/cli/client.js'
import { servicesLines } from '../../src/cli/commands/services.js'
import { admin, startTestApp, testConfig } from '../helpers/app.js'
import { runCli } from '../helpers/cli.js'
import { startColorUpstream, type ColorUpstream } from '../helpers/color-upstream.js'

/** `switchyard ...args` from source (tsx), with `env` added. */
async function sy(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const proc = runCli(args, env)
  const code = await proc.exit()
  return { code, stdout: proc.stdout(), stderr: proc.stderr() }
}

describe('scopedPath', () => {
  it('puts every service-scoped route under /v1/services/{name}, keeping the rest and the query', () => {
    const cases: [string, string][] = [
      ['/v1/split', '/v1/services/api/split'],
      ['/v1/promote', '/v1/services/api/promote'],
      ['/v1/rollback', '/v1/services/api/rollback'],
      ['/v1/upstreams', '/v1/services/api/upstreams'],
      ['/v1/upstreams/green', '/v1/services/api/upstreams/green'],
      ['/v1/rollout', '/v1/services/api/rollout'],
      ['/v1/rollout/promote-step', '/v1/services/api/rollout/promote-step'],
      ['/v1/events?limit=1', '/v1/services/api/events?limit=1'],
      ['/v1/events/stream?types=split', '/v1/services/api/events/stream?types=split'],
      ['/v1/mirror', '/v1/services/api/mirror'],
      ['/v1/mirror/report', '/v1/services/api/mirror/report'],
      ['/v1/status', '/v1/services/api/status'],
    ]
    for (const [path, scoped] of cases) expect(scopedPath(path, 'api'), path).toBe(scoped)
  })

  it('never rewrites the global routes, nor a word that only starts like a scoped one', () => {
    for (const path of ['/v1/reload', '/v1/preview', '/v1/services', '/metrics', '/healthz', '/v1/splitter', '/v1/services/web/split']) {
      expect(scopedPath(path, 'api'), path).toBe(path)
    }
  })

  it('without a service every path stays exactly as it was', () => {
    for (const path of ['/v1/split', '/v1/events/stream?types=split', '/v1/reload']) expect(scopedPath(path, undefined)).toBe(path)
  })
})

describe('AdminClient with a service', () => {
  let server: Server
  let url: string
  const seen: string[] = []

  beforeAll(async () => {
    server = createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`)
      const stream = req.url?.includes('/stream') === true
      res.writeHead(200, { 'content-type': stream ? 'text/event-stream' : 'application/json' })
      // The stream stays open: the test only needs its headers.
      if (stream) res.write(': hello\n\n')
      else res.end('{}')
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })

  afterAll(async () => {
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })

  it('addresses the service in requests and the event stream; global routes and a client without one are unchanged', async () => {
    const api = new AdminClient({ url, token: undefined, service: 'api' })
    await api.request('PUT', '/v1/split', { green: 30 })
    await api.get('/v1/events?limit=1')
    await api.request('POST', '/v1/reload')
    const stop = new AbortController()
    await api.openStream('?types=split', undefined, stop.signal)
    stop.abort()
    await new AdminClient({ url, token: undefined }).get('/v1/split')
    expect(seen).toEqual([
      'PUT /v1/services/api/split',
      'GET /v1/services/api/events?limit=1',
      'POST /v1/reload',
      'GET /v1/services/api/events/stream?types=split',
      'GET /v1/split',
    ])
  })
})

describe('servicesLines', () => {
  const split = (green: number, generation: number): SplitView => ({ blue: 100 - green, green, generation, reverted: null })
  const view: ServicesView = {
    defaultService: 'web',
    services: [
      {
        name: 'api',
        configured: true,
        match: { hosts: ['api.example.com'], pathPrefixes: ['/'] },
        split: split(10, 3),
        phase: 'running',
        mirror: 0,
        health: { blue: { healthy: 1, total: 1 }, green: { healthy: 1, total: 1 } },
      },
      {
        name: 'web',
        configured: true,
        match: { hosts: [], pathPrefixes: ['/', '/static'] },
        split: split(0, 12),
        phase: 'idle',
        mirror: 12.5,
        health: { blue: { healthy: 2, total: 2 }, green: { healthy: 0, total: 1 } },
      },
      { name: 'old', configured: false, split: split(0, 1), phase: 'idle', mirror: 0 },
    ],
  }

  it('one aligned line per service: split, generation, rollout, mirror, health, match; the default marked, a removed one said so', () => {
    expect(servicesLines(view)).toEqual([
      'SERVICE        SPLIT                   GEN  ROLLOUT  MIRROR  HEALTH              MATCH',
      'api            blue 90 % · green 10 %  3    running  0 %     blue 1/1 green 1/1  hosts api.example.com · paths /',
      'web (default)  blue 100 % · green 0 %  12   idle     12.5 %  blue 2/2 green 0/1  any host · paths /,/static',
      'old            blue 100 % · green 0 %  1    idle     0 %     -                   removed from config',
    ])
  })

  it('marks no service when requests no service matches get 404 (defaultService null)', () => {
    const lines = servicesLines({ ...view, defaultService: null })
    expect(lines.some((l) => l.includes('(default)'))).toBe(false)
  })
})

// Each test starts a CLI process through tsx; a loaded machine can take seconds for each.
describe('--service on the command line', { timeout: 45_000 }, () => {
  // Nothing listens here: a usage error must stop the command before anything is sent.
  const env = { SWITCHYARD_ADMIN_URL: 'http://127.0.0.1:9' }

  it('exit 2 naming the option for a name the config could not have, from the flag or the variable', async () => {
    const [flag, variable] = await Promise.all([sy(['split', '30', '--service', 'BAD'], env), sy(['status'], { ...env, SWITCHYARD_SERVICE: '-api' })])
    for (const run of [flag, variable]) {
      expect(run.code, run.stderr).toBe(2)
      expect(run.stderr).toContain('--service')
      expect(run.stderr).toContain('must be a service name')
      expect(run.stdout).toBe('')
    }
    expect(variable.stderr).toContain('SWITCHYARD_SERVICE')
  })

  it('is no option of the global commands: reload --service is refused, not silently ignored', async () => {
    const run = await sy(['reload', '--service', 'api'], env)
    expect(run.code).toBe(2)
    expect(run.stderr).toContain("unknown option '--service'")
  })
})

// Needs the server side of issue #15 (the `services` config key and /v1/services routes).
describe('two services on one switchyard', { timeout: 45_000 }, () => {
  const TOKEN = 'services-cli-test-token'
  let app: App
  let upstreams: ColorUpstream[] = []
  let env: Record<string, string>

  beforeAll(async () => {
    upstreams = await Promise.all(['api-blue', 'api-green', 'web-blue', 'web-green'].map((name) => startColorUpstream(name)))
    const [apiBlue, apiGreen, webBlue, webGreen] = upstreams.map((u) => u.url)
    const colours = (blue: string | undefined, green: string | undefined) => ({ blue: { targets: [blue] }, green: { targets: [green] } })
    app = await startTestApp(
      await testConfig([webBlue!], [webGreen!], {
        proxy: { host: '127.0.0.1', port: 0, defaultService: 'web' },
        admin: { host: '127.0.0.1', port: 0, token: TOKEN },
        services: {
          api: { match: { pathPrefixes: ['/api'] }, upstreams: colours(apiBlue, apiGreen), split: { green: 10 } },
          web: { match: { hosts: [] }, upstreams: colours(webBlue, webGreen), split: { green: 0 } },
        },
      }),
    )
    env = { SWITCHYARD_ADMIN_URL: app.adminUrl, SWITCHYARD_ADMIN_TOKEN: TOKEN }
  }, 30_000)

  afterAll(async () => {
    await app?.close()
    await Promise.all(upstreams.map((u) => u.close()))
  })

  const splitOf = async (service: string) =>
    (await admin(app, 'GET', `/v1/services/${service}/split`, undefined, { authorization: `Bearer ${TOKEN}` })).body as SplitView

  it('split 30 --service api moves api alone', async () => {
    const webBefore = await splitOf('web')
    const run = await sy(['split', '30', '--service', 'api', '--json'], env)
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)
    expect(JSON.parse(run.stdout)).toMatchObject({ blue: 70, green: 30 })
    expect(await splitOf('api')).toMatchObject({ blue: 70, green: 30 })
    expect(await splitOf('web')).toEqual(webBefore)
  })

  it('without --service, with no service named default: refused with the way out named', async () => {
    const run = await sy(['split', '50'], env)
    expect(run.code).toBe(1)
    expect(run.stderr).toContain('SY_ERR_SERVICE_REQUIRED')
    expect(run.stderr).toContain('--service NAME')
    expect(await splitOf('web')).toMatchObject({ green: 0 })
  })

  it('status: one line per service when none is named default; --service shows one in full', async () => {
    const [all, one] = await Promise.all([sy(['status'], env), sy(['status', '--service', 'api'], env)])
    expect(all.stderr).toBe('')
    expect(all.code).toBe(0)
    expect(all.stdout).toMatch(/2 services \(switchyard status --service NAME for one\)/)
    expect(all.stdout).toMatch(/^ {2}api: ok · blue \d+ % · green \d+ %/m)
    expect(all.stdout).toMatch(/^ {2}web: ok · blue 100 % · green 0 % \(generation \d+\) · no rollout$/m)
    expect(one.code).toBe(0)
    expect(one.stdout).toMatch(/^split: blue \d+ % · green \d+ %/m)
    expect(one.stdout).not.toContain('web')
  })

  it('services lists both, the default marked; --json is the server\'s document', async () => {
    const [text, json] = await Promise.all([sy(['services'], env), sy(['services', '--json'], env)])
    expect(text.stderr).toBe('')
    expect(text.code).toBe(0)
    const lines = text.stdout.trimEnd().split('\n')
    expect(lines[0]).toMatch(/^SERVICE\s+SPLIT\s+GEN\s+ROLLOUT\s+MIRROR\s+HEALTH\s+MATCH$/)
    expect(lines.find((l) => l.startsWith('api '))).toMatch(/^api\s+blue 70 % · green 30 %\s+\d+\s+\S+\s+0 %\s+.*paths \/api$/)
    expect(lines.find((l) => l.startsWith('web (default) '))).toMatch(/^web \(default\)\s+blue 100 % · green 0 %\s+\d+\s+idle\s+0 %\s+blue 1\/1 green 1\/1\s+any host · any path$/)
    expect(json.code).toBe(0)
    const doc = JSON.parse(json.stdout) as ServicesView
    expect(doc.defaultService).toBe('web')
    expect(doc.services.map((s) => s.name).sort()).toEqual(['api', 'web'])
  })
})
