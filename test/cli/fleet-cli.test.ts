import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { startCli, writeConfig, type CliProcess } from '../helpers/cli.js'
import { startColorUpstream, type ColorUpstream } from '../helpers/color-upstream.js'
import { freshGet } from '../helpers/http.js'
import { dropPrefix, uniquePrefix } from '../helpers/redis.js'
import { eventually } from '../helpers/wait.js'

let blue: ColorUpstream
let green: ColorUpstream
const running: CliProcess[] = []
const prefix = uniquePrefix()

beforeAll(async () => {
  ;[blue, green] = await Promise.all([startColorUpstream('blue'), startColorUpstream('green')])
})
afterEach(async () => {
  for (const proc of running.splice(0)) {
    proc.kill('SIGKILL')
    await proc.exit()
  }
})
afterAll(async () => {
  await Promise.all([blue.close(), green.close()])
  await dropPrefix(prefix)
})

function replicaConfig(redisUrl: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    proxy: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    upstreams: { blue: { targets: [blue.url] }, green: { targets: [green.url] } },
    sticky: { keys: ['header:x-user-id'], cookie: '' },
    state: { redis: { url: redisUrl, keyPrefix: prefix } },
    ...extra,
  }
}

async function start(config: Record<string, unknown>, env: Record<string, string> = {}): Promise<CliProcess & { proxyUrl: string; adminUrl: string }> {
  const proc = await startCli(await writeConfig(config), env)
  running.push(proc)
  return proc
}

async function json(url: string, init: RequestInit = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url, init)
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}

describe('switchyard replicas as operators run them', () => {
  it('two processes (one with two workers) share a split through Redis; the password stays out of the logs', async () => {
    // The machine's Redis has no password; it accepts (and ignores) one, so the URL can carry it.
    const a = await start(replicaConfig('redis://127.0.0.1:6379'), { SWITCHYARD_REDIS_URL: 'redis://:topsecret@127.0.0.1:6379' })
    const b = await start(replicaConfig('redis://127.0.0.1:6379', { workers: 2 }))

    const put = await json(`${a.adminUrl}/v1/split`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{"green":100}' })
    expect(put).toMatchObject({ status: 200, body: { green: 100 } })
    await eventually(async () => (await json(`${b.adminUrl}/v1/split`)).body.green === 100, 1_000)
    // Every worker of b routes with it.
    const colors = await Promise.all(Array.from({ length: 20 }, async (_, i) => (await freshGet(b.proxyUrl, { 'x-user-id': `u${i}` })).color))
    expect(new Set(colors)).toEqual(new Set(['green']))
    expect((await json(`${b.adminUrl}/healthz`)).body).toMatchObject({ status: 'ok' })
    expect(a.stdout() + a.stderr()).not.toContain('topsecret')
  })

  it('a replica whose Redis does not answer starts from its config, says so, and reports degraded', async () => {
    const c = await start(replicaConfig('redis://127.0.0.1:1', { split: { green: 25 } }))
    await c.waitForLog((l) => /Redis is unreachable at start/.test(String(l.msg)))
    expect(await json(`${c.adminUrl}/v1/split`)).toMatchObject({ status: 200, body: { green: 25, generation: 0 } })
    const health = await json(`${c.adminUrl}/healthz`)
    expect(health).toMatchObject({ status: 200, body: { status: 'degraded', detail: { store: { connected: false } } } })
    const refused = await json(`${c.adminUrl}/v1/split`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{"green":50}' })
    expect(refused).toMatchObject({ status: 503, body: { code: 'SY_ERR_STATE_UNAVAILABLE' } })
    const res = await fetch(c.proxyUrl, { headers: { 'x-user-id': 'someone' } })
    expect(res.status).toBe(200)
    await res.text()
  })
})
