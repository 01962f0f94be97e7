import type { ServerResponse } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { WebSocket, WebSocketServer } from 'ws'
import { startApp, type App } from '../../src/app.js'
import type { Config } from '../../src/config/schema.js'
import { callerName } from '../../src/control/port.js'
import { admin, testConfig } from '../helpers/app.js'
import { memoryLogger } from '../helpers/logs.js'
import { echo, startUpstream, type Upstream } from '../helpers/upstream-server.js'
import { eventually, until } from '../helpers/wait.js'

// One switchyard with an admin token and the access log on, for the operator's view of it:
// one log line per control action, the access log, request ids and the connections gauge.
const TOKEN = 'logging-actions-token'
const auth = { authorization: `Bearer ${TOKEN}` }
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/

/** SSE answers held open until the test ends them; everything else is echoed. */
const streams = new Set<ServerResponse>()
/** The x-request-id of each WebSocket handshake the upstreams accepted. */
const handshakeIds: (string | undefined)[] = []
async function upstream(name: string): Promise<Upstream> {
  const server = await startUpstream(name, (req, res, up) => {
    if (req.url !== '/stream') return echo(req, res, up)
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    res.write('data: first\n\n')
    streams.add(res)
  })
  new WebSocketServer({ server: server.server }).on('connection', (socket, req) => {
    handshakeIds.push(req.headers['x-request-id'] as string | undefined)
    socket.on('message', (data) => socket.send(data))
  })
  return server
}

let blue: Upstream
let green: Upstream
let config: Config
let app: App
const logs = memoryLogger()

beforeAll(async () => {
  ;[blue, green] = await Promise.all([upstream('blue'), upstream('green')])
  config = await testConfig([blue.url], [green.url], {
    admin: { host: '127.0.0.1', port: 0, token: TOKEN },
    split: { green: 0 },
    log: { level: 'info', access: true },
  })
  // POST /v1/reload goes through this reloader, as through the CLI's.
  const reloadable: { app?: App } = {}
  app = await startApp(config, { logger: logs.logger, reload: (caller) => reloadable.app!.reload(config, caller === undefined ? 'sighup' : callerName(caller)) })
  reloadable.app = app
})

afterAll(async () => {
  for (const res of streams) res.end()
  await app.close()
  await Promise.all([blue.close(), green.close()])
})

/** The value of `switchyard_connections{color}` in /metrics. */
async function connections(color: string): Promise<number> {
  const text = String((await admin(app, 'GET', '/metrics')).body)
  const line = text.split('\n').find((l) => l.startsWith(`switchyard_connections{color="${color}"}`))
  return Number(line?.split(' ')[1])
}

describe('the connections gauge', () => {
  it('counts an open stream and an open WebSocket on their colour, and falls back to 0', async () => {
    expect(await connections('green')).toBe(0)
    const controller = new AbortController()
    const stream = await fetch(`${app.proxyUrl}/stream`, { headers: { 'x-switchyard-color': 'green' }, signal: controller.signal })
    expect(stream.status).toBe(200)
    await eventually(async () => (await connections('green')) === 1)

    const ws = new WebSocket(`${app.proxyUrl.replace('http', 'ws')}/ws`, { headers: { 'x-switchyard-color': 'green' } })
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject))
    await eventually(async () => (await connections('green')) === 2)
    expect(await connections('blue')).toBe(0)
    // The handshake went upstream with a request id too.
    expect(handshakeIds).toHaveLength(1)
    expect(handshakeIds[0]).toMatch(/^[\w-]{12}-[0-9a-z]+$/)

    controller.abort()
    ws.close()
    await eventually(async () => (await connections('green')) === 0)
  })
})

describe('the access log', () => {
  it('names the client, colour, target, status, duration and request id of every request', async () => {
    const answer = await fetch(`${app.proxyUrl}/page?q=1`, { headers: { 'x-user-id': 'alice' } })
    const { headers } = (await answer.json()) as { headers: Record<string, string> }
    await until(() => logs.lines().some((l) => l.msg === 'request' && l.url === '/page?q=1'))
    const line = logs.lines().find((l) => l.msg === 'request' && l.url === '/page?q=1')!
    expect(line).toMatchObject({ client: '127.0.0.1', method: 'GET', color: 'blue', target: blue.url, status: 200, requestId: headers['x-request-id'] })
    expect(line.ms).toBeTypeOf('number')
    expect(line.requestId).toMatch(/^[\w-]{12}-[0-9a-z]+$/)

    await (await fetch(`${app.proxyUrl}/traced`, { headers: { 'x-request-id': 'trace-7' } })).text()
    expect(blue.requests.find((r) => r.url === '/traced')?.headers['x-request-id']).toBe('trace-7')
    await until(() => logs.lines().some((l) => l.msg === 'request' && l.url === '/traced' && l.requestId === 'trace-7'))
  })
})

describe('control actions', () => {
  /** Runs `act` and returns the action lines it logged (there must be at least one). */
  async function actionLines(act: () => Promise<unknown>): Promise<Record<string, unknown>[]> {
    const before = logs.lines().length
    await act()
    await until(() => logs.lines().slice(before).some((l) => l.action !== undefined))
    return logs.lines().slice(before).filter((l) => l.action !== undefined)
  }
  const call = (method: string, path: string, body?: unknown) => async () => {
    const answer = await admin(app, method, path, body, auth)
    expect(answer.status, `${method} ${path}: ${JSON.stringify(answer.body)}`).toBeLessThan(300)
  }
  const who = 'token@127.0.0.1'

  it('logs each action through the admin API once, with who and why', async () => {
    const steps = [10, 50, 100].map((g) => ({ green: g, hold: '1h' }))
    const cases: [string, () => Promise<unknown>, Record<string, unknown>][] = [
      ['split', call('PUT', '/v1/split', { green: 10, reason: 'canary ok' }), { why: 'canary ok', from: { blue: 100, green: 0 }, to: { blue: 90, green: 10 }, event: 'split', source: 'api' }],
      ['promote', call('POST', '/v1/promote', { reason: 'looks good' }), { why: 'looks good', to: { blue: 0, green: 100 } }],
      ['rollback', call('POST', '/v1/rollback', { reason: 'second thoughts' }), { why: 'second thoughts', to: { blue: 100, green: 0 } }],
      ['targets', call('PUT', '/v1/upstreams/green', { targets: [green.url, blue.url], reason: 'two servers' }), { why: 'two servers', to: { color: 'green', targets: [green.url, blue.url] } }],
      ['rollout.start', call('POST', '/v1/rollout', { steps, reason: 'release 2' }), { event: 'step', to: { blue: 90, green: 10 } }],
      ['rollout.pause', call('POST', '/v1/rollout/pause', { reason: 'lunch' }), { why: 'lunch' }],
      ['rollout.resume', call('POST', '/v1/rollout/resume', { reason: 'back' }), { why: 'back' }],
      ['rollout.promote-step', call('POST', '/v1/rollout/promote-step', { reason: 'fast track' }), { to: { blue: 50, green: 50 } }],
      ['rollout.abort', call('POST', '/v1/rollout/abort', { reason: 'enough' }), { why: 'rollout aborted: enough', to: { blue: 100, green: 0 }, level: 40 }],
      ['reload', call('POST', '/v1/reload'), { why: null, changed: [], restartRequired: [] }],
    ]
    for (const [action, act, expected] of cases) {
      const lines = await actionLines(act)
      expect(lines.map((l) => l.action), action).toEqual([action])
      expect(lines[0], action).toMatchObject({ who, ...(action === 'reload' ? {} : { generation: expect.any(Number) as number }), ...expected })
      expect(String(lines[0]!.msg), action).not.toBe('')
    }
    expect(logs.lines().find((l) => l.action === 'rollout.start')!.why).toMatch(/rollout started: step 1 of 3 \(release 2\)/)
  })

  it('names automatic actors: auto-revert with its verdict, and a reload by signal', async () => {
    await call('PUT', '/v1/split', { green: 20 })()
    const [revert] = await actionLines(() => app.controller.revert({ reason: 'green fails more than blue', errorRate: 0.5, requests: 40 }))
    expect(revert).toMatchObject({ action: 'revert', who: 'auto-revert', why: 'green fails more than blue', level: 40, errorRate: 0.5, to: { green: 0 } })
    expect(String(revert!.msg)).toBe('auto-revert: green 20% -> 0%')
    const [reload] = await actionLines(() => app.reload(config))
    expect(reload).toMatchObject({ action: 'reload', who: 'sighup', msg: 'config reloaded' })
  })

  it('writes ISO-8601 times on every line', () => {
    const lines = logs.lines()
    expect(lines.length).toBeGreaterThan(10)
    for (const line of lines) expect(line.time).toMatch(ISO)
  })
})
