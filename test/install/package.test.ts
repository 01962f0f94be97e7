/**
 * The package as a user gets it: `npm pack`, installed with `npm i -g` into a temporary
 * prefix and into a fresh project, then run with `npx switchyard`. Packing uses the dist/
 * the test run built (test/helpers/build-once.ts); installing reads the npm cache first, so
 * it needs no network once `npm ci` has run.
 */
import { execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { stringify } from 'yaml'
import { startColorUpstream, type ColorUpstream } from '../helpers/color-upstream.js'
import { sleep } from '../helpers/wait.js'

const run = promisify(execFile)
const ROOT = resolve(import.meta.dirname, '../..')
const INSTALL = ['--prefer-offline', '--no-audit', '--no-fund', '--loglevel', 'warn']
const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string }

let dir: string
let tarball: string
let files: string[]
let globalInstall: { stdout: string; stderr: string }
let projectInstall: { stdout: string; stderr: string }
let blue: ColorUpstream

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sy-pack-'))
  blue = await startColorUpstream('blue')
  const packed = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: ROOT })
  const [info] = JSON.parse(packed.stdout) as [{ filename: string; files: { path: string }[] }]
  tarball = join(dir, info.filename)
  files = info.files.map((f) => f.path)
  const project = join(dir, 'project')
  await mkdir(project)
  await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'uses-switchyard', private: true }))
  ;[globalInstall, projectInstall] = await Promise.all([
    run('npm', ['install', '-g', '--prefix', join(dir, 'prefix'), ...INSTALL, tarball], { cwd: dir }),
    run('npm', ['install', ...INSTALL, tarball], { cwd: project }),
  ])
}, 120_000)

afterAll(async () => {
  await blue?.close()
  if (dir !== undefined) await rm(dir, { recursive: true, force: true })
})

/** Polls `value` every 20 ms until it is defined; throws `message()` after `timeout` ms. */
async function waitFor<T>(value: () => T | undefined, { timeout, message }: { timeout: number; message: () => string }): Promise<T> {
  const deadline = Date.now() + timeout
  for (;;) {
    const found = value()
    if (found !== undefined) return found
    if (Date.now() > deadline) throw new Error(message())
    await sleep(20)
  }
}

/** Runs `npx switchyard ARGS` in the project, as a user would, and collects what it says. */
function npx(args: string[]) {
  const child = spawn('npx', ['--no-install', 'switchyard', ...args], { cwd: join(dir, 'project'), stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c))
  child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c))
  const exited = once(child, 'exit').then(([code]) => code as number | null)
  return { child, exited, stdout: () => out, stderr: () => err }
}

describe('the packed package', () => {
  it('holds the compiled CLI, the configs and the dashboard, and none of the sources or tests', () => {
    expect(files).toEqual(expect.arrayContaining(['dist/cli.js', 'dist/worker.js', 'dist/demo/serve.js', 'config/default.yaml', 'config/docker.yaml', 'README.md', 'package.json']))
    expect(files.some((f) => f.startsWith('dashboard/'))).toBe(true)
    expect(files.filter((f) => /^(src|test|bench)\//.test(f) || f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([])
  })

  it('installs globally on Node 20 with no engine warning, and the binary runs', async () => {
    const said = globalInstall.stdout + globalInstall.stderr + projectInstall.stdout + projectInstall.stderr
    expect(said).not.toMatch(/EBADENGINE|Unsupported engine/)
    const { stdout } = await run(join(dir, 'prefix', 'bin', 'switchyard'), ['--version'])
    expect(stdout.trim()).toBe(pkg.version)
  })

  it('`npx switchyard --config my.yaml` proxies, answers its admin API and stops cleanly on SIGTERM', { timeout: 60_000 }, async () => {
    const config = join(dir, 'project', 'my.yaml')
    await writeFile(
      config,
      stringify({
        proxy: { host: '127.0.0.1', port: 0 },
        admin: { host: '127.0.0.1', port: 0 },
        upstreams: { blue: { targets: [blue.url] }, green: { targets: [blue.url] } },
        split: { green: 0 },
        state: { file: join(dir, 'project', 'state.json') },
        log: { level: 'info', format: 'json' },
      }),
    )
    const server = npx(['--config', config])
    try {
      const ready = await waitFor(
        () => server.stdout().split('\n').filter((l) => l.includes('"switchyard ready"')).map((l) => JSON.parse(l) as { proxy: string; admin: string })[0],
        { timeout: 30_000, message: () => `no "switchyard ready" line: ${server.stderr()}${server.stdout()}` },
      )
      const answer = await fetch(ready.proxy)
      expect(answer.status).toBe(200)
      expect(await answer.text()).toContain('blue')
      const split = (await (await fetch(`${ready.admin}/v1/split`)).json()) as { green: number }
      expect(split.green).toBe(0)
      server.child.kill('SIGTERM')
      await server.exited
      // npm exec passes the signal on and then ends itself by it, so its own exit says little:
      // the server's last line and the closed port say it drained and stopped, not orphaned.
      await waitFor(() => (/"msg":"stopped"/.test(server.stdout()) ? true : undefined), { timeout: 15_000, message: () => `no "stopped" line: ${server.stdout()}` })
      await expect(fetch(ready.proxy)).rejects.toThrow()
    } finally {
      server.child.kill('SIGKILL')
    }
  })

  it('run where there is no config, it says how to get one; `switchyard init` writes one that --check accepts', { timeout: 60_000 }, async () => {
    const bare = npx([])
    expect(await bare.exited).toBe(1)
    expect(bare.stderr()).toMatch(/switchyard init/)
    const init = npx(['init', 'starter.yaml'])
    expect(await init.exited).toBe(0)
    const check = npx(['--check', '--config', 'starter.yaml'])
    expect(await check.exited).toBe(0)
    expect(check.stdout()).toMatch(/starter\.yaml: ok/)
  })

  it('runs one demo colour on its own, as compose.yaml does', { timeout: 30_000 }, async () => {
    const child = spawn(process.execPath, [join(dir, 'project', 'node_modules', 'switchyard', 'dist', 'demo', 'serve.js'), 'green', '0', '127.0.0.1'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c))
    const exited = once(child, 'exit')
    try {
      const port = await waitFor(() => /listening on 127\.0\.0\.1:(\d+)/.exec(out)?.[1], { timeout: 15_000, message: () => `demo said: ${out}` })
      expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe('v2\n')
      expect((await fetch(`http://127.0.0.1:${port}/fail-green/503`)).status).toBe(503)
      child.kill('SIGTERM')
      expect((await exited)[0]).toBe(0)
    } finally {
      child.kill('SIGKILL')
    }
  })
})
