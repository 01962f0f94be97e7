import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { runCli, writeConfig, type CliProcess } from '../helpers/cli.js'
import { startColorUpstream, type ColorUpstream } from '../helpers/color-upstream.js'
import { admin, startTestApp, testConfig } from '../helpers/app.js'
import { eventually } from '../helpers/wait.js'

const TOKEN = 'reload-test-token'
const auth = { authorization: `Bearer ${TOKEN}` }

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

async function baseConfig(): Promise<Record<string, unknown>> {
  const dir = await mkdtemp(join(tmpdir(), 'sy-reload-state-'))
  return {
    proxy: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0, token: TOKEN },
    upstreams: { blue: { targets: [blue.url] }, green: { targets: [green.url] } },
    split: { green: 0 },
    state: { file: join(dir, 'state.json') },
  }
}

/** `switchyard --config FILE ...extra`, once its "switchyard ready" line is out. */
async function start(file: string, extra: string[] = []) {
  const proc = runCli(['--config', file, ...extra])
  running.push(proc)
  const ready = await proc.waitForLog((l) => l.msg === 'switchyard ready', 40_000)
  return { proc, ready, proxyUrl: String(ready.proxy), adminUrl: String(ready.admin) }
}

const reload = (adminUrl: string, headers: Record<string, string> = auth) => admin({ adminUrl }, 'POST', '/v1/reload', undefined, headers)
const colour = async (proxyUrl: string, color: string) => (await fetch(proxyUrl, { headers: { 'x-switchyard-color': color } })).text()

describe('POST /v1/reload', () => {
  // One switchyard process walks every case in turn: a process start is the expensive part.
  it('re-reads the file and answers what changed; refuses a bad file naming the key; runs one reload at a time; SIGHUP takes the same path; the PID file comes and goes', async () => {
    const config = await baseConfig()
    const file = await writeConfig(config)
    const pidDir = await mkdtemp(join(tmpdir(), 'sy-pid-'))
    const pidFile = join(pidDir, 'switchyard.pid')
    const { proc, ready, proxyUrl, adminUrl } = await start(file, ['--pid-file', pidFile])
    const rewrite = (next: Record<string, unknown>) => writeConfig(next, join(file, '..'))
    const greenTo = (url: string) => ({ ...config, upstreams: { blue: { targets: [blue.url] }, green: { targets: [url] } } })

    // The PID file holds the PID of the ready line, with no temp file beside it.
    expect(ready.pid).toBe(proc.pid)
    expect(await readFile(pidFile, 'utf8')).toBe(`${proc.pid}\n`)
    expect(await readdir(pidDir)).toEqual(['switchyard.pid'])

    // What changed, and what only a restart applies; the new green target serves.
    expect(await colour(proxyUrl, 'green')).toBe('green')
    expect((await reload(adminUrl, {})).status).toBe(401)
    expect(await reload(adminUrl)).toMatchObject({ status: 200, body: { reloaded: true, changed: [], restartRequired: [] } })
    await rewrite({ ...greenTo(other.url), timeouts: { request: '7s' }, workers: 2 })
    const answer = await reload(adminUrl)
    expect(answer.status).toBe(200)
    const body = answer.body as { reloaded: boolean; changed: string[]; restartRequired: string[] }
    expect(body.reloaded).toBe(true)
    expect([...body.changed].sort()).toEqual(['timeouts.request', 'upstreams.green.targets', 'workers'])
    expect(body.restartRequired).toEqual(['workers'])
    expect(await colour(proxyUrl, 'green')).toBe('other')
    expect(await colour(proxyUrl, 'blue')).toBe('blue')
    // Its log line names who asked: the token's holder, from its address.
    const applied = await proc.waitForLog((l) => l.action === 'reload' && Array.isArray(l.changed) && (l.changed as string[]).includes('workers'))
    expect(applied).toMatchObject({ who: 'token@127.0.0.1', restartRequired: ['workers'] })

    // An invalid file: 400 naming the key, logged, and the running config keeps serving.
    await rewrite({ ...config, upstreams: { blue: { targets: [other.url] }, green: { targets: [other.url] } }, timeouts: { request: 'soon' } })
    const refused = await reload(adminUrl)
    expect(refused.status).toBe(400)
    expect(refused.body).toMatchObject({ code: 'SY_ERR_RELOAD_REFUSED' })
    expect((refused.body as { message: string }).message).toMatch(/running config stays: timeouts\.request must be a duration/)
    expect(await colour(proxyUrl, 'blue')).toBe('blue')
    expect(await colour(proxyUrl, 'green')).toBe('other')
    const logged = await proc.waitForLog((l) => l.level === 50 && String(l.msg).includes('config reload refused'))
    expect(String(logged.msg)).toContain('timeouts.request')
    expect(logged).toMatchObject({ action: 'reload', who: 'token@127.0.0.1' })
    await writeFile(file, 'upstreams: [not, a, map\n')
    const broken = await reload(adminUrl)
    expect(broken).toMatchObject({ status: 400, body: { code: 'SY_ERR_RELOAD_REFUSED' } })
    expect((broken.body as { message: string }).message).toContain('is not valid YAML')

    // Two at once run one after the other: the second finds nothing left to change.
    await rewrite({ ...greenTo(green.url), workers: 2, timeouts: { request: '7s' } })
    const answers = await Promise.all([reload(adminUrl), reload(adminUrl)])
    expect(answers.map((a) => a.status)).toEqual([200, 200])
    const changed = answers.map((a) => (a.body as { changed: string[] }).changed)
    expect(changed.sort((a, b) => a.length - b.length)).toEqual([[], ['upstreams.green.targets']])
    expect(await colour(proxyUrl, 'green')).toBe('green')

    // SIGHUP: the same path; what it applied is the running config for the next POST.
    await rewrite({ ...greenTo(other.url), workers: 2, timeouts: { request: '7s' } })
    proc.kill('SIGHUP')
    await eventually(async () => (await colour(proxyUrl, 'green')) === 'other', 10_000)
    expect((await reload(adminUrl)).body).toMatchObject({ changed: [] })
    await rewrite({ ...config, split: { green: 500 } })
    proc.kill('SIGHUP')
    const refusedBySignal = await proc.waitForLog((l) => l.level === 50 && String(l.msg).includes('split.green must be between 0 and 100'))
    expect(String(refusedBySignal.msg)).toContain('config reload refused')
    expect(refusedBySignal).toMatchObject({ action: 'reload', who: 'sighup' })
    expect(await colour(proxyUrl, 'green')).toBe('other')
    expect(proc.child.exitCode).toBeNull()

    // SIGTERM: exit 0, and the PID file is gone.
    proc.kill('SIGTERM')
    expect(await proc.exit()).toBe(0)
    expect(await readdir(pidDir)).toEqual([])
  })

  it('answers 409 on an app started without a config file', async () => {
    const app = await startTestApp(await testConfig([blue.url], [green.url]))
    try {
      const answer = await admin(app, 'POST', '/v1/reload')
      expect(answer.status).toBe(409)
      expect(answer.body).toMatchObject({ code: 'SY_ERR_RELOAD_OFF' })
      expect((answer.body as { message: string }).message).toContain('--config')
    } finally {
      await app.close()
    }
  })
})

describe('--pid-file', () => {
  it('stops start-up with one line when the PID file cannot be written', async () => {
    const proc = runCli(['--config', await writeConfig(await baseConfig()), '--pid-file', '/nonexistent/dir/switchyard.pid'])
    running.push(proc)
    expect(await proc.exit()).toBe(1)
    expect(proc.stderr()).toBe('switchyard: cannot write --pid-file /nonexistent/dir/switchyard.pid (ENOENT)\n')
  })
})
