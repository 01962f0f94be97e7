import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse, stringify } from 'yaml'
import { startColorUpstream, type ColorUpstream } from '../helpers/color-upstream.js'
import { runBin, spawnBin, startBinServer, type BinProcess, type BinServer } from '../helpers/switchyard-bin.js'

// The client commands of the built binary (`node dist/cli.js ...`) against one real switchyard,
// shared by the tests of this file, which run in order.

const TOKEN = 'cli-test-token'
let blue: ColorUpstream
let green: ColorUpstream
let other: ColorUpstream
let server: BinServer
let env: Record<string, string>
const spawned: BinProcess[] = []

beforeAll(async () => {
  ;[blue, green, other] = await Promise.all([startColorUpstream('blue'), startColorUpstream('green'), startColorUpstream('other')])
  const dir = await mkdtemp(join(tmpdir(), 'sy-client-commands-'))
  server = await startBinServer(
    {
      proxy: { host: '127.0.0.1', port: 0 },
      admin: { host: '127.0.0.1', port: 0, token: TOKEN },
      upstreams: { blue: { targets: [blue.url] }, green: { targets: [green.url] } },
      split: { green: 0 },
      state: { file: join(dir, 'state.json') },
      drain: { deadline: '1s' },
    },
    dir,
  )
  env = { SWITCHYARD_ADMIN_URL: server.adminUrl, SWITCHYARD_ADMIN_TOKEN: TOKEN }
}, 45_000)

afterAll(async () => {
  for (const proc of [...spawned, server]) {
    proc?.kill('SIGKILL')
    await proc?.exit()
  }
  await Promise.all([blue?.close(), green?.close(), other?.close()])
})

/** `switchyard ...args` against the test's switchyard. */
const sy = (...args: string[]) => runBin(args, { env })
const json = async <T>(...args: string[]): Promise<T> => {
  const run = await sy(...args, '--json')
  expect(run.stderr).toBe('')
  expect(run.code).toBe(0)
  return JSON.parse(run.stdout) as T
}

interface Split {
  blue: number
  green: number
  generation: number
}

// Generous: each test runs several processes, and a loaded 2-core machine can take seconds to start one.
describe('switchyard client commands', { timeout: 45_000 }, () => {
  it('status: the split and targets for people, the server\'s document with --json', async () => {
    const [human, doc] = await Promise.all([sy('status'), json<{ status: string; split: Split; upstreams: Record<string, { url: string }[]> }>('status')])
    expect(human.code).toBe(0)
    expect(doc.status).toBe('ok')
    expect(doc.upstreams.green![0]!.url).toBe(green.url)
    expect(human.stdout).toContain(`split: blue 100 % · green 0 % (generation ${doc.split.generation})`)
    expect(human.stdout).toContain(`green  ${green.url}  healthy`)
    expect(human.stdout).toMatch(/^switchyard at http:\/\/127\.0\.0\.1:\d+: ok/)
    // No colours on a pipe.
    expect(human.stdout).not.toContain('\x1b[')
  })

  it('split 25 sets green with its reason; --json answers the new split', async () => {
    const run = await sy('split', '25', '--reason', 'first canary')
    expect(run.code).toBe(0)
    const [, generation] = /^split: blue 75 % · green 25 % \(generation (\d+)\)\n$/.exec(run.stdout) ?? []
    expect(generation).toBeDefined()
    expect(await json<Split>('split', '30')).toEqual({ blue: 70, green: 30, generation: Number(generation) + 1, reverted: null })
  })

  it('exit 1 for a refusal, with the server\'s code and message: a stale --if-generation, a wrong token', async () => {
    const stale = await sy('split', '40', '--if-generation', '1', '--json')
    expect(stale.code).toBe(1)
    expect(stale.stderr).toMatch(/^switchyard: refused: SY_ERR_GENERATION_CONFLICT \(409\): .*generation/)
    // --json: the server's error body on stdout, for scripts.
    expect(JSON.parse(stale.stdout)).toMatchObject({ statusCode: 409, code: 'SY_ERR_GENERATION_CONFLICT' })

    const denied = await runBin(['status'], { env: { SWITCHYARD_ADMIN_URL: server.adminUrl, SWITCHYARD_ADMIN_TOKEN: 'wrong' } })
    expect(denied.code).toBe(1)
    expect(denied.stderr).toContain('SY_ERR_HTTP_401 (401)')
    expect(denied.stderr).toContain('--token or SWITCHYARD_ADMIN_TOKEN')
    // --token wins over the variable.
    expect((await runBin(['status', '--token', TOKEN], { env: { SWITCHYARD_ADMIN_URL: server.adminUrl, SWITCHYARD_ADMIN_TOKEN: 'wrong' } })).code).toBe(0)
  })

  it('exit 2 for a usage error, with commander\'s message and a hint, and nothing sent', async () => {
    // Each ends before any request: nothing is sent.
    const runs = await Promise.all([
      sy('split', '150'), // a percent is 0..100 by definition: a usage error, not a server refusal
      sy('split'),
      sy('split', '25', '--bogus'),
      sy('upstreams', 'set', 'purple', 'http://127.0.0.1:1'),
      sy('upstreams', 'set', 'green', 'not-a-url'),
      sy('rollout', 'start', '--steps', '5,25'), // no --hold
      sy('release', '--steps', '5', '--hold', '1m'), // no --green
      sy('nonsense'),
    ])
    for (const run of runs) {
      expect(run.code, run.stderr).toBe(2)
      expect(run.stderr).toMatch(/^switchyard: error: /)
      expect(run.stderr).toMatch(/\(run "switchyard [a-z -]*--help" for usage\)\n$/)
      expect(run.stdout).toBe('')
    }
    expect(runs[0].stderr).toContain('"150" is not a percent from 0 to 100')
    expect(runs[5].stderr).toContain('give --hold')
    expect(runs[5].stderr).toContain('(run "switchyard rollout start --help" for usage)')
  })

  it('exit 3 when nothing listens, naming the URL and how to set it', async () => {
    const closed = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const { port } = s.address() as { port: number }
        s.close(() => resolve(port))
      })
    })
    const run = await runBin(['status'], { env: { SWITCHYARD_ADMIN_URL: `http://127.0.0.1:${closed}` } })
    expect(run.code).toBe(3)
    expect(run.stderr).toContain(`cannot reach the admin API at http://127.0.0.1:${closed} (ECONNREFUSED)`)
    expect(run.stderr).toContain('--url or SWITCHYARD_ADMIN_URL')
  })

  it('promote and rollback', async () => {
    expect(await json<Split>('promote', '--reason', 'verified')).toMatchObject({ blue: 0, green: 100 })
    const back = await sy('rollback', '--reason', 'p99 doubled')
    expect(back.code).toBe(0)
    expect(back.stdout).toMatch(/^split: blue 100 % · green 0 % \(generation \d+\)\n$/)
    const [rollback, promote] = await json<{ type: string; reason: string }[]>('events', '--limit', '2')
    expect([rollback!.type, rollback!.reason, promote!.type, promote!.reason]).toEqual(['rollback', 'p99 doubled', 'promote', 'verified'])
  })

  it('upstreams lists each colour with health; upstreams set points a colour at new targets', async () => {
    const list = await sy('upstreams')
    expect(list.stdout.split('\n')[0]).toMatch(/^COLOR\s+TARGET\s+HEALTH$/)
    expect(list.stdout).toMatch(new RegExp(`blue\\s+${blue.url}\\s+healthy`))

    const set = await json<{ green: { targets: { url: string }[] } }>('upstreams', 'set', 'green', `${other.url},${green.url}`, '--reason', 'build 2')
    expect(set.green.targets.map((t) => t.url)).toEqual([other.url, green.url])
    // Space-separated works too; back to the one green.
    const back = await sy('upstreams', 'set', 'green', green.url)
    expect(back.code).toBe(0)
    expect(back.stdout).toMatch(new RegExp(`green\\s+${green.url}`))
  })

  it('rollout start, get, pause, resume, promote-step, abort', async () => {
    const start = await sy('rollout', 'start', '--steps', '10,50', '--hold', '10m', '--reason', 'release 1.8.0', '--min-requests', '1000')
    expect(start.code, start.stderr).toBe(0)
    expect(start.stdout).toMatch(/^rollout [0-9a-f]{8} started: 10 %, 50 % \(hold 10m each\) · step 1\/2 · green 10 % · progressing · hold (10m|9m5\ds) left\n$/)

    const get = await sy('rollout', 'get')
    expect(get.stdout).toMatch(/· progressing · step 1\/2 · green 10 %/)
    expect(get.stdout).toContain('[10 %] > 50 %')
    expect(get.stdout).toMatch(/hold: (10m|9m5\ds) left of 10m/)
    expect(get.stdout).toContain('reason: release 1.8.0')
    const doc = await json<{ phase: string; step: number; steps: unknown[]; analysis: { settings: { overrides: { minRequests: number } } } }>('rollout', 'get')
    expect(doc).toMatchObject({ phase: 'progressing', step: 1 })
    expect(doc.analysis.settings.overrides.minRequests).toBe(1000)

    expect((await sy('rollout', 'pause', '--reason', 'lunch')).stdout).toMatch(/^rollout [0-9a-f]{8} paused: step 1\/2 · green 10 % · paused · hold (10m|9m5\ds) left/)
    expect(await json<{ phase: string }>('rollout', 'resume')).toMatchObject({ phase: 'progressing' })
    expect(await json<{ step: number; green: number }>('rollout', 'promote-step')).toMatchObject({ step: 2, green: 50 })
    const again = await sy('rollout', 'start', '--steps', '10', '--hold', '1m')
    expect(again.code).toBe(1)
    expect(again.stderr).toContain('SY_ERR_ROLLOUT_STATE (409)')
    const abort = await sy('rollout', 'abort', '--reason', 'p99 looks off')
    expect(abort.stdout).toMatch(/^rollout [0-9a-f]{8} aborted: step 2\/2 · green 0 % · aborted/)
    const types = (await json<{ type: string }[]>('events', '--limit', '5')).map((e) => e.type)
    expect(types.slice(0, 4)).toEqual(['abort', 'step', 'resume', 'pause'])
  })

  it('events: a table oldest first, filtered by --type, --limit and --since', async () => {
    const table = await sy('events', '--limit', '3')
    const lines = table.stdout.trimEnd().split('\n')
    expect(lines[0]).toMatch(/^ID\s+AT\s+TYPE\s+SOURCE\s+CHANGE\s+REASON$/)
    expect(lines).toHaveLength(4)
    const ids = lines.slice(1).map((l) => Number(l.split(/\s+/)[0]))
    expect(ids).toEqual([...ids].sort((a, b) => a - b))
    const splits = await json<{ id: number; type: string }[]>('events', '--type', 'split,promote')
    expect(splits.length).toBeGreaterThan(0)
    expect(new Set(splits.map((e) => e.type))).toEqual(new Set(['split', 'promote']))
    const newest = splits[0]!.id
    const after = await json<{ id: number }[]>('events', '--since', String(newest - 1))
    expect(after.every((e) => e.id >= newest)).toBe(true)
  })

  it('events --follow --json streams a split made meanwhile, one JSON object per line', async () => {
    const [newest] = await json<{ id: number }[]>('events', '--limit', '1')
    // --since the newest id: whether the split lands before or after the stream opens, it is printed once.
    const follow = spawnBin(['events', '--follow', '--json', '--since', String(newest!.id)], { env })
    spawned.push(follow)
    expect((await sy('split', '5', '--reason', 'followed')).code).toBe(0)
    await follow.waitFor((out) => out.includes('"followed"'))
    const lines = follow.stdout().trimEnd().split('\n')
    expect(lines).toHaveLength(1)
    expect(JSON.parse(lines[0]!)).toMatchObject({ id: newest!.id + 1, type: 'split', reason: 'followed', to: { green: 5 } })
    // And the next one, live.
    expect((await sy('rollback')).code).toBe(0)
    await follow.waitFor((out) => out.trimEnd().split('\n').length === 2)
    expect(JSON.parse(follow.stdout().trimEnd().split('\n')[1]!)).toMatchObject({ id: newest!.id + 2, type: 'rollback' })
    follow.kill('SIGINT')
    expect(await follow.exit()).toBe(0)
  })

  it('reload says what changed, and exit 1 naming the key for a bad file', async () => {
    expect((await sy('reload')).stdout).toBe('reloaded: nothing changed\n')
    const text = await readFile(server.configFile, 'utf8')
    const config = parse(text) as Record<string, unknown>
    await writeFile(server.configFile, stringify({ ...config, timeouts: { request: '45s' } }))
    const changed = await sy('reload')
    expect(changed.stdout).toBe('reloaded: changed timeouts.request\n')
    await writeFile(server.configFile, stringify({ ...config, split: { green: 500 } }))
    const refused = await sy('reload')
    expect(refused.code).toBe(1)
    expect(refused.stderr).toContain('SY_ERR_RELOAD_REFUSED (400)')
    expect(refused.stderr).toContain('split.green must be between 0 and 100')
    await writeFile(server.configFile, text)
  })

  it('preview green prints a signed link on the proxy', async () => {
    const link = await sy('preview', 'green', '--ttl', '30m')
    expect(link.code).toBe(0)
    expect(link.stdout.split('\n')[0]).toMatch(new RegExp(`^${server.proxyUrl}/\\.well-known/switchyard/preview\\?token=green\\.`))
    expect(link.stdout).toContain('shows green to the browser that opens it, until ')
    expect((await sy('preview', 'purple')).code).toBe(2)
  })

  it('--help on the top level and on every command', async () => {
    const top = await runBin(['--help'])
    expect(top.code).toBe(0)
    expect(top.stdout).toContain('usage: switchyard [--config FILE] [--check] [--pid-file PATH]')
    const help = await runBin(['help'])
    expect(help.code).toBe(0)
    const names = [...help.stdout.matchAll(/^ {2}([a-z-]+) /gm)].map((m) => m[1]!).filter((n) => n !== 'help')
    expect(names).toEqual(['status', 'services', 'split', 'promote', 'rollback', 'upstreams', 'rollout', 'release', 'mirror', 'events', 'reload', 'preview', 'init'])
    // The server's usage lists the same commands.
    for (const name of names) expect(top.stdout).toMatch(new RegExp(`^  ${name} `, 'm'))
    const leaves = [['split'], ['upstreams', 'set'], ['rollout', 'start'], ['release']]
    const runs = await Promise.all(leaves.map((words) => runBin([...words, '--help'])))
    runs.forEach((run, i) => {
      expect(run.code).toBe(0)
      expect(run.stdout).toContain(`Usage: switchyard ${leaves[i]!.join(' ')}`)
      expect(run.stdout).toContain('--url <url>')
    })
  })

  it('init writes a starter config that --check accepts, and never overwrites without --force', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sy-init-'))
    const first = await runBin(['init'], { cwd: dir })
    expect(first.code).toBe(0)
    expect(first.stdout).toContain('wrote switchyard.yaml')
    const text = await readFile(join(dir, 'switchyard.yaml'), 'utf8')
    expect(text).toMatch(/^# switchyard/)
    const check = await runBin(['--check', '--config', 'switchyard.yaml'], { cwd: dir })
    expect(check.stderr).toBe('')
    expect(check).toMatchObject({ code: 0, stdout: 'switchyard.yaml: ok\n' })

    await writeFile(join(dir, 'switchyard.yaml'), 'mine')
    const again = await runBin(['init'], { cwd: dir })
    expect(again.code).toBe(1)
    expect(again.stderr).toBe('switchyard: switchyard.yaml already exists; pass --force to overwrite it\n')
    expect(await readFile(join(dir, 'switchyard.yaml'), 'utf8')).toBe('mine')
    expect((await runBin(['init', 'switchyard.yaml', '--force'], { cwd: dir })).code).toBe(0)
    expect(await readFile(join(dir, 'switchyard.yaml'), 'utf8')).toBe(text)
  })

  it('started from another directory without a config, the server says how to get one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sy-noconfig-'))
    const run = await runBin([], { cwd: dir })
    expect(run.code).toBe(1)
    expect(run.stderr).toBe(
      'switchyard: no config at config/default.yaml (run "switchyard init" to write a starter config, then "switchyard --config switchyard.yaml"; or pass --config FILE)\n',
    )
    const named = await runBin(['--config', 'prod.yaml'], { cwd: dir })
    expect(named.code).toBe(1)
    expect(named.stderr).toContain('config file prod.yaml does not exist (run "switchyard init prod.yaml"')
  })
})
