/**
 * A proxy process loads only what it uses (src/lazy.ts): undici (node's engine, mirroring,
 * health checks, webhooks), ioredis (fleet mode) and pino-pretty (pretty logs) stay out of a
 * socket-engine proxy that uses none of them, since whatever a process loads stays in its
 * memory (undici alone is ~4.5 MB of V8 heap). Read from a real `switchyard` process (the
 * bundle, dist/cli.js) through a preload that lists node's require cache on SIGUSR2.
 */
import { existsSync, readFileSync } from 'node:fs'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { startCli, writeConfig, type CliProcess } from '../helpers/cli.js'
import { startUpstream, type Upstream } from '../helpers/upstream-server.js'
import { until } from '../helpers/wait.js'

/**
 * Preloaded into the process under test (NODE_OPTIONS=--import): on SIGUSR2 it writes the files
 * of every CommonJS module loaded so far (node's one require cache; undici, ioredis,
 * pino-pretty and fastify are all CommonJS) as JSON, whole and then renamed.
 */
const PRELOAD = `import { createRequire } from 'node:module'
import { renameSync, writeFileSync } from 'node:fs'
const require = createRequire(import.meta.url)
const out = process.env.SY_LOADED_MODULES_OUT
process.on('SIGUSR2', () => {
  writeFileSync(out + '.part', JSON.stringify(Object.keys(require.cache)))
  renameSync(out + '.part', out)
})
`
const started: CliProcess[] = []
const upstreams: Upstream[] = []

afterEach(async () => {
  for (const proc of started.splice(0)) {
    proc.kill('SIGTERM')
    await proc.exit()
  }
  await Promise.all(upstreams.splice(0).map((upstream) => upstream.close()))
})

/** The packages (node_modules/NAME) a running switchyard has loaded, asked for once it served a request. */
async function loadedPackages(extra: Record<string, unknown>): Promise<Set<string>> {
  const upstream = await startUpstream('both', (_req, res) => void res.end('ok'))
  upstreams.push(upstream)
  const target = upstream.url
  const dir = await mkdtemp(join(tmpdir(), 'sy-lazy-'))
  const out = join(dir, 'modules.json')
  const preload = join(dir, 'list-modules.mjs')
  await writeFile(preload, PRELOAD)
  const proc = await startCli(
    await writeConfig({
      proxy: { host: '127.0.0.1', port: 0 },
      admin: { host: '127.0.0.1', port: 0 },
      upstreams: { blue: { targets: [target] }, green: { targets: [target] } },
      state: { file: join(dir, 'state.json') },
      log: { format: 'json' },
      ...extra,
    }),
    { NODE_OPTIONS: `--import ${preload}`, SY_LOADED_MODULES_OUT: out },
  )
  started.push(proc)
  const answer = await fetch(`${proc.proxyUrl}/`)
  expect(answer.status).toBe(200)
  expect(await answer.text()).toBe('ok')
  proc.kill('SIGUSR2')
  await until(() => existsSync(out), 10_000)
  const files = JSON.parse(readFileSync(out, 'utf8')) as string[]
  return new Set(files.flatMap((file) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(file)?.[1] ?? []))
}

describe('packages loaded on first use', () => {
  it('a socket-engine proxy with JSON logs, no Redis, webhooks, health checks or mirror loads neither undici, ioredis nor pino-pretty', { timeout: 60_000 }, async () => {
    const packages = await loadedPackages({})
    // The rest (fastify, prom-client, pino...) is inside the bundle dist/cli.js (scripts/bundle.ts),
    // so nothing at all comes from node_modules; the next test shows the listing sees a package that does.
    expect([...packages]).toEqual([])
  })

  it('loads undici once a feature needs it (active health checks probe through it)', { timeout: 60_000 }, async () => {
    const packages = await loadedPackages({ healthCheck: { path: '/', interval: '100ms', timeout: '500ms' } })
    expect(packages.has('undici')).toBe(true)
    expect(packages.has('ioredis')).toBe(false)
  })
})
