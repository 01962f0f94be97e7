import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { runCli, startCli, writeConfig, type CliProcess } from '../helpers/cli.js'
import { startColorUpstream, type ColorUpstream } from '../helpers/color-upstream.js'

let blue: ColorUpstream
let green: ColorUpstream
let other: ColorUpstream
const running: CliProcess[] = []

beforeAll(async () => {
  ;[blue, green, other] = await Promise.all([startColorUpstream('blue'), startColorUpstream('green'), startColorUpstream('other')])
})
afterEach(async () => {
  for (const proc of running.splice(0)) {
    proc.kill('SIGKILL')
    await proc.exit()
  }
})
afterAll(async () => {
  await Promise.all([blue.close(), green.close(), other.close()])
})

async function baseConfig(extra: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
  const dir = await mkdtemp(join(tmpdir(), 'sy-cli-state-'))
  return {
    proxy: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    upstreams: { blue: { targets: [blue.url] }, green: { targets: [green.url] } },
    state: { file: join(dir, 'state.json') },
    ...extra,
  }
}

describe('switchyard CLI', () => {
  it('stops with one line naming the bad key and exit 1', async () => {
    const file = await writeConfig(await baseConfig({ split: { green: 150 } }))
    const proc = runCli(['--config', file])
    expect(await proc.exit()).toBe(1)
    expect(proc.stderr()).toBe('switchyard: config error: split.green must be between 0 and 100\n')
    expect(proc.stdout()).toBe('')
  })

  it('refuses a non-loopback admin address without a token', async () => {
    const file = await writeConfig(await baseConfig({ admin: { host: '0.0.0.0', port: 0 } }))
    const proc = runCli(['--config', file])
    expect(await proc.exit()).toBe(1)
    expect(proc.stderr()).toMatch(/^switchyard: config error: admin\.token is required when admin\.host \(0\.0\.0\.0\)/)
  })

  it('names a missing config file', async () => {
    const proc = runCli(['--config', '/nonexistent/switchyard.yaml'])
    expect(await proc.exit()).toBe(1)
    expect(proc.stderr()).toMatch(/config file \/nonexistent\/switchyard\.yaml does not exist/)
  })

  it('--check validates without starting', async () => {
    const proc = runCli(['--config', await writeConfig(await baseConfig()), '--check'])
    expect(await proc.exit()).toBe(0)
    expect(proc.stdout()).toMatch(/: ok\n$/)
  })

  it('stops on a corrupt state file with a message naming it', async () => {
    const config = await baseConfig()
    await writeFile((config.state as { file: string }).file, 'not json')
    const proc = runCli(['--config', await writeConfig(config)])
    expect(await proc.exit()).toBe(1)
    expect(proc.stderr()).toContain((config.state as { file: string }).file)
    expect(proc.stderr()).toMatch(/move it aside/)
  })

  it('serves, takes a split change over the admin API, and logs pino JSON', async () => {
    const proc = await startCli(await writeConfig(await baseConfig({ split: { green: 0 } })))
    running.push(proc)
    const res = await fetch(proc.proxyUrl, { headers: { 'x-user-id': 'alice' } })
    expect(await res.text()).toBe('blue')
    expect(res.headers.get('x-switchyard-color')).toBe('blue')
    const put = await fetch(`${proc.adminUrl}/v1/split`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{"green":100}' })
    expect(put.status).toBe(200)
    expect(await (await fetch(proc.proxyUrl, { headers: { 'x-user-id': 'alice' } })).text()).toBe('green')
    const change = await proc.waitForLog((l) => l.event === 'split')
    expect(change).toMatchObject({ level: 30, source: 'api', generation: 2 })
  })

  it('SWITCHYARD_ADMIN_TOKEN overrides admin.token', async () => {
    const proc = await startCli(await writeConfig(await baseConfig({ admin: { host: '127.0.0.1', port: 0, token: 'file-token' } })), {
      SWITCHYARD_ADMIN_TOKEN: 'env-token',
    })
    running.push(proc)
    const get = (token: string) => fetch(`${proc.adminUrl}/v1/split`, { headers: { authorization: `Bearer ${token}` } })
    expect((await get('file-token')).status).toBe(401)
    expect((await get('env-token')).status).toBe(200)
  })

  it('SIGHUP reloads targets and keeps the live split; a bad file is refused with one log line', async () => {
    const config = await baseConfig({ split: { green: 0 } })
    const file = await writeConfig(config)
    const proc = await startCli(file)
    running.push(proc)
    await fetch(`${proc.adminUrl}/v1/split`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{"green":30}' })

    await writeConfig({ ...config, upstreams: { blue: { targets: [other.url] }, green: { targets: [green.url] } }, split: { green: 90 } }, join(file, '..'))
    proc.kill('SIGHUP')
    await proc.waitForLog((l) => l.msg === 'config reloaded')
    const answer = await fetch(proc.proxyUrl, { headers: { 'x-switchyard-color': 'blue' } })
    expect(await answer.text()).toBe('other')
    const split = (await (await fetch(`${proc.adminUrl}/v1/split`)).json()) as { green: number }
    expect(split.green).toBe(30)

    await writeFile(file, 'split: { green: 500 }\n')
    proc.kill('SIGHUP')
    const refused = await proc.waitForLog((l) => l.level === 50 && String(l.msg).includes('config reload refused'))
    expect(String(refused.msg)).toContain('split.green must be between 0 and 100')
    expect(await (await fetch(proc.proxyUrl, { headers: { 'x-switchyard-color': 'blue' } })).text()).toBe('other')
    expect(proc.child.exitCode).toBeNull()
  })

  it('SIGTERM lets an in-flight request finish, then exits 0', async () => {
    const slow = await (async () => {
      const { createServer } = await import('node:http')
      const server = createServer((_req, res) => setTimeout(() => res.end('slow done'), 600))
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
      return server
    })()
    try {
      const port = (slow.address() as { port: number }).port
      const config = await baseConfig({ upstreams: { blue: { targets: [`http://127.0.0.1:${port}`] }, green: { targets: [green.url] } } })
      const proc = await startCli(await writeConfig(config))
      running.push(proc)
      const inFlight = fetch(proc.proxyUrl).then((r) => r.text())
      await new Promise((r) => setTimeout(r, 150))
      proc.kill('SIGTERM')
      expect(await inFlight).toBe('slow done')
      expect(await proc.exit()).toBe(0)
    } finally {
      slow.closeAllConnections()
      slow.close()
    }
  })

  it('starts the built-in demo upstreams: blue answers v1, green v2', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sy-demo-'))
    const file = await writeConfig({
      proxy: { host: '127.0.0.1', port: 0 },
      admin: { host: '127.0.0.1', port: 0 },
      demo: { blue: 0, green: 0 },
      split: { green: 10 },
      sticky: { keys: ['header:x-user-id'], cookie: 'sy_sid' },
      state: { file: join(dir, 'state.json') },
    })
    const proc = await startCli(file)
    running.push(proc)
    expect(await (await fetch(proc.proxyUrl, { headers: { 'x-switchyard-color': 'blue' } })).text()).toBe('v1\n')
    expect(await (await fetch(proc.proxyUrl, { headers: { 'x-switchyard-color': 'green' } })).text()).toBe('v2\n')
    // Keyless clients get a sticky cookie; with 100 % green every new client sees v2.
    await fetch(`${proc.adminUrl}/v1/split`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{"green":100}' })
    const res = await fetch(proc.proxyUrl)
    expect(await res.text()).toBe('v2\n')
    expect(res.headers.get('set-cookie')).toMatch(/^sy_sid=[0-9a-f-]+\.[0-9a-z]+; Path=\/; Max-Age=86400; HttpOnly; SameSite=Lax$/)
    expect(JSON.parse(await readFile(join(dir, 'state.json'), 'utf8'))).toMatchObject({ split: { green: 100 } })
  })
})
