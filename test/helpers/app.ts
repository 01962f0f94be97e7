import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startApp, type App } from '../../src/app.js'
import { resolveConfig } from '../../src/config/load.js'
import type { Config } from '../../src/config/schema.js'
import { memoryLogger } from './logs.js'

/** Builds a config for tests: ephemeral ports on loopback, a fresh state file. */
export async function testConfig(blue: string[], green: string[], patch: Record<string, unknown> = {}): Promise<Config> {
  const dir = await mkdtemp(join(tmpdir(), 'sy-app-'))
  return resolveConfig({
    proxy: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    upstreams: { blue: { targets: blue }, green: { targets: green } },
    state: { file: join(dir, 'state.json') },
    drain: { deadline: '2s' },
    ...patch,
  })
}

/** Starts a whole switchyard in this process, with its logs kept for assertions. */
export async function startTestApp(config: Config): Promise<App & { logs: ReturnType<typeof memoryLogger> }> {
  const logs = memoryLogger('info')
  const app = await startApp(config, { logger: logs.logger })
  return Object.assign(app, { logs })
}

/** JSON request to the admin API. */
export async function admin(
  app: { adminUrl: string },
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: unknown; headers: Headers }> {
  const init: RequestInit = { method, headers: { ...headers } }
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body)
    ;(init.headers as Record<string, string>)['content-type'] ??= 'application/json'
  }
  const res = await fetch(app.adminUrl + path, init)
  const text = await res.text()
  let parsed: unknown = text
  try {
    parsed = JSON.parse(text)
  } catch {
    // not JSON (e.g. /metrics)
  }
  return { status: res.status, body: parsed, headers: res.headers }
}
