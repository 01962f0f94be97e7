import { spawn } from 'node:child_process'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as pause } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startColorUpstream, type ColorUpstream } from '../helpers/color-upstream.js'
import { BIN, runBin, spawnBin, startBinServer, type BinProcess, type BinServer } from '../helpers/switchyard-bin.js'

// `switchyard release --wait`, `rollout start --wait` and `rollout get --watch` of the built
// binary against one real switchyard with real upstreams and real traffic: a rollout step
// passes only once green has served requests, so a client keeps sending them meanwhile.

let blue: ColorUpstream
let green: ColorUpstream
let failing: ColorUpstream
let server: BinServer
let dir: string
let env: Record<string, string>
const spawned: BinProcess[] = []
let traffic: Promise<void> | undefined
let sending = true

function config(proxyPort: number, adminPort: number): Record<string, unknown> {
  return {
    proxy: { host: '127.0.0.1', port: proxyPort },
    admin: { host: '127.0.0.1', port: adminPort },
    upstreams: { blue: { targets: [blue.url] }, green: { targets: [green.url] } },
    split: { green: 0 },
    state: { file: join(dir, 'state.json') },
    drain: { deadline: '200ms' },
    // Short looks and little evidence a step: the holds below decide how long a rollout takes.
    rollout: { analysis: { minRequests: 5, interval: '100ms' } },
  }
}

/** Users with their own sticky keys, about a hundred a second, until the file ends (a restart only pauses them). */
async function sendTraffic(): Promise<void> {
  for (let i = 0; sending; i++) {
    try {
      await (await fetch(server.proxyUrl, { headers: { 'x-user-id': `user-${i}` } })).arrayBuffer()
    } catch {
      await pause(20) // switchyard restarting
    }
    await pause(8)
  }
}

beforeAll(async () => {
  ;[blue, green, failing] = await Promise.all([startColorUpstream('blue'), startColorUpstream('green'), startColorUpstream('failing')])
  failing.status = 503
  dir = await mkdtemp(join(tmpdir(), 'sy-client-release-'))
  server = await startBinServer(config(0, 0), dir)
  env = { SWITCHYARD_ADMIN_URL: server.adminUrl }
  traffic = sendTraffic()
}, 45_000)

afterAll(async () => {
  sending = false
  await traffic
  for (const proc of [...spawned, server]) {
    proc?.kill('SIGKILL')
    await proc?.exit()
  }
  await Promise.all([blue?.close(), green?.close(), failing?.close()])
})

const sy = (...args: string[]) => runBin(args, { env })
const rolloutNow = async () => JSON.parse((await sy('rollout', 'get', '--json')).stdout) as { phase: string; step: number; green: number }

/** Green back to 0 between releases (release refuses while green serves users). */
async function rollback(): Promise<void> {
  expect((await sy('rollback')).code).toBe(0)
}

// Generous: each test runs several processes, and a loaded 2-core machine can take seconds to start one.
describe('switchyard release and rollout --wait / --watch', { timeout: 45_000 }, () => {
  it('release --green ... --wait points green at the build, rolls it out and exits 0 when it succeeds', async () => {
    const run = await sy('release', '--green', green.url, '--steps', '50,100', '--hold', '200ms', '--wait', '--timeout', '15s')
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)
    const lines = run.stdout.trimEnd().split('\n')
    expect(lines[0]).toBe(`green: ${green.url}`)
    expect(lines[1]).toMatch(/^rollout [0-9a-f]{8} started: 50 %, 100 % \(hold 200ms each\)$/)
    expect(lines.some((l) => /^\d\d:\d\d:\d\d step 1\/2 · green 50 % · progressing/.test(l))).toBe(true)
    expect(lines.at(-1)).toMatch(/^rollout succeeded: green 100 % after \d+/)
    const events = JSON.parse((await sy('events', '--limit', '20', '--json')).stdout) as { type: string; reason: string | null }[]
    expect(events.find((e) => e.type === 'targets')?.reason).toBe(`switchyard release: green to ${green.url}`)

    // Green now serves everyone: another release would move them all at once, so it is refused.
    const refused = await sy('release', '--green', green.url, '--steps', '50', '--hold', '1s', '--wait')
    expect(refused.code).toBe(1)
    expect(refused.stderr).toContain('refused: green serves 100 % of new requests now')
    await rollback()
  })

  it('release --wait exits 1 with the verdict when green fails', async () => {
    const run = await sy('release', '--green', failing.url, '--steps', '50,100', '--hold', '10s', '--wait', '--timeout', '15s')
    expect(run.code).toBe(1)
    expect(run.stdout.split('\n')[0]).toBe(`green: ${failing.url}`)
    // Aborted by the auto-revert or by the step's analysis, by the ceiling or the sequential test,
    // whichever sees it first: either way the reason comes with its numbers.
    expect(run.stdout).toMatch(/^rollout aborted at step 1\/2 after [\dms]+: .*green (error rate 100\.00% \(\d+ of \d+ in the window\)|is worse than blue.* \d+ of \d+)/m)
    const split = JSON.parse((await sy('status', '--json')).stdout) as { split: { green: number; reverted: unknown } }
    expect(split.split.green).toBe(0)
  })

  it('--timeout: exit 1 saying the rollout still runs; --abort-on-timeout aborts it', async () => {
    const run = await sy('release', '--green', green.url, '--steps', '50,100', '--hold', '1m', '--wait', '--timeout', '300ms')
    expect(run.code).toBe(1)
    expect(run.stderr).toMatch(/^switchyard: timed out after 300ms: the rollout is still progressing at step 1\/2 \(green 50 %\) and goes on without this command/)
    expect(await rolloutNow()).toMatchObject({ phase: 'progressing', step: 1 })

    const give = await sy('rollout', 'get', '--wait', '--timeout', '200ms', '--abort-on-timeout', '--json')
    expect(give.code).toBe(1)
    expect(give.stderr).toContain('aborted the rollout (--abort-on-timeout); green is back at 0 %')
    expect(JSON.parse(give.stdout)).toMatchObject({ phase: 'aborted', green: 0 })
    expect(await rolloutNow()).toMatchObject({ phase: 'aborted' })
  })

  it('rollout get --watch, piped: one plain line per change until the rollout ends', async () => {
    expect((await sy('rollout', 'start', '--steps', '50,100', '--hold', '400ms')).code).toBe(0)
    const watch = await sy('rollout', 'get', '--watch')
    expect(watch.stderr).toBe('')
    expect(watch.code).toBe(0)
    const lines = watch.stdout.trimEnd().split('\n')
    expect(lines.length).toBeGreaterThanOrEqual(2)
    for (const line of lines.slice(0, -1)) expect(line).toMatch(/^\d\d:\d\d:\d\d step [12]\/2 · green \d+ % · (progressing|succeeded)/)
    expect(lines.at(-1)).toMatch(/^rollout succeeded: green 100 %/)
    expect(watch.stdout).not.toContain('\x1b[')
    await rollback()
  })

  it('rollout get --watch, on a terminal: redraws its view in place until the rollout ends', async () => {
    expect((await sy('rollout', 'start', '--steps', '50,100', '--hold', '1s')).code).toBe(0)
    // util-linux `script` gives the command a pseudo-terminal and copies what it draws.
    const command = `${process.execPath} ${BIN} rollout get --watch`
    const run = await new Promise<{ code: number | null; out: string }>((done, fail) => {
      const child = spawn('script', ['-qefc', command, '/dev/null'], { env: { ...process.env, ...env, TERM: 'xterm', NO_COLOR: '1' }, stdio: ['pipe', 'pipe', 'pipe'] })
      let out = ''
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk))
      child.on('error', fail)
      child.on('close', (code) => done({ code, out }))
    })
    expect(run.code).toBe(0)
    expect(run.out).toContain('\x1b[?25l') // the cursor hidden while it draws ...
    // ... each redraw moves back up over the view it drew and clears below: several during the holds.
    const ESC = '\x1b'
    expect(run.out.match(new RegExp(`${ESC}\\[\\d+F${ESC}\\[J`, 'g'))?.length ?? 0).toBeGreaterThanOrEqual(2)
    // The last frame drawn is the ended rollout.
    const last = run.out.slice(run.out.lastIndexOf('\x1b[J'))
    expect(last.startsWith(`${ESC}[Jrollout `)).toBe(true)
    expect(last).toMatch(/^.\[Jrollout \w+ · succeeded · step 2\/2 · green 100 %/)
    expect(last).toMatch(/\nended: /)
    expect(run.out).toContain('\x1b[?25h') // and shown again at the end
    await rollback()
  })

  it('rollout start --wait --json prints the final rollout as one document', async () => {
    const run = await sy('rollout', 'start', '--steps', '100', '--hold', '100ms', '--wait', '--json')
    expect(run.code).toBe(0)
    expect(JSON.parse(run.stdout)).toMatchObject({ phase: 'succeeded', green: 100, steps: [{ green: 100, holdMs: 100 }] })
    await rollback()
  })

  it('release --wait and events --follow survive a restart of switchyard: they reconnect with Last-Event-ID', async () => {
    const [newest] = JSON.parse((await sy('events', '--limit', '1', '--json')).stdout) as { id: number }[]
    const since = newest?.id ?? 0
    const follow = spawnBin(['events', '--follow', '--json', '--since', String(since)], { env })
    const release = spawnBin(['release', '--green', green.url, '--steps', '50,100', '--hold', '1s', '--wait', '--timeout', '30s'], { env })
    spawned.push(follow, release)
    await release.waitFor((out) => /step 1\/2 · green 50 %/.test(out))
    // The follower has read the log (the release's first step is printed): from here on it only streams.
    await follow.waitFor((out) => out.includes('"step"'))

    const [proxyPort, adminPort] = [new URL(server.proxyUrl).port, new URL(server.adminUrl).port].map(Number)
    await server.stop()
    server = await startBinServer(config(proxyPort!, adminPort!), dir)

    expect(await release.exit(), `release said: ${release.stdout()}${release.stderr()}`).toBe(0)
    expect(release.stdout()).toMatch(/^rollout succeeded: green 100 %/m)
    expect(release.stderr()).toMatch(/^switchyard: event stream lost \(.*\); reconnecting with Last-Event-ID\n/)
    expect(release.stderr()).toContain('switchyard: event stream back; the rollout was read again')
    // The follower saw the events of both lives of switchyard, each once, in order.
    await follow.waitFor((out) => out.includes('"succeeded"'))
    const events = follow
      .stdout()
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { id: number; type: string })
    expect(events.map((e) => e.id)).toEqual(events.map((_, i) => since + 1 + i))
    expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(['targets', 'step', 'promote', 'succeeded']))
    follow.kill('SIGINT')
    expect(await follow.exit()).toBe(0)
  })
})
