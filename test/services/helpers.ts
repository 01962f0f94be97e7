/**
 * Several services behind one switchyard (issue #15): upstreams that answer their service and
 * colour (`api-blue`), a config of four services, and requests that carry their own Host.
 */
import { mkdtemp } from 'node:fs/promises'
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { App } from '../../src/app.js'
import { resolveConfig } from '../../src/config/load.js'
import type { Config } from '../../src/config/schema.js'
import { admin } from '../helpers/app.js'

export type Color = 'blue' | 'green'

/**
 * A real upstream that answers its name (`api-blue`). A path with `/stream` in it gets 10
 * chunks 150 ms apart; while `midStream` is set, the second half waits for it, so a test
 * can hold a stream open across whatever it does.
 */
export interface NamedUpstream {
  readonly name: string
  readonly url: string
  /** The status of every plain answer; a test sets 500 to make it fail. */
  status: number
  hits: number
  midStream: Promise<void> | undefined
  close(): Promise<void>
}

export const STREAM_CHUNKS = 10
/** The body a `/stream` request gets, whole. */
export const streamBody = (name: string): string => Array.from({ length: STREAM_CHUNKS }, (_, i) => `${name}:${i}\n`).join('')

export async function startNamedUpstream(name: string): Promise<NamedUpstream> {
  const state: Pick<NamedUpstream, 'name' | 'status' | 'hits' | 'midStream'> = { name, status: 200, hits: 0, midStream: undefined }
  const server: Server = createServer((req, res) => {
    state.hits++
    req.resume()
    if ((req.url ?? '').includes('/stream')) {
      res.writeHead(200, { 'content-type': 'text/plain', 'x-upstream': name })
      const gate = state.midStream
      let sent = 0
      let timer: NodeJS.Timeout | undefined
      const tick = () => {
        res.write(`${name}:${sent}\n`)
        if (++sent === STREAM_CHUNKS) return void res.end()
        if (sent === STREAM_CHUNKS / 2 && gate !== undefined) void gate.then(() => (timer = setTimeout(tick, 150)))
        else timer = setTimeout(tick, 150)
      }
      timer = setTimeout(tick, 150)
      res.on('close', () => clearTimeout(timer))
      return
    }
    res.writeHead(state.status, { 'content-type': 'text/plain', 'x-upstream': name }).end(name)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return Object.assign(state, {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  })
}

/** Each service's blue and green upstreams. */
export type Upstreams = Record<string, Record<Color, NamedUpstream>>

/** Starts a blue and a green upstream for each name; `opened` gets them to close. */
export async function startUpstreams(names: readonly string[], opened: { close(): Promise<void> }[]): Promise<Upstreams> {
  const all: Upstreams = {}
  for (const name of names) {
    const blue = await startNamedUpstream(`${name}-blue`)
    const green = await startNamedUpstream(`${name}-green`)
    opened.push(blue, green)
    all[name] = { blue, green }
  }
  return all
}

/**
 * The match rules of the tests: an exact host with `/` (api) and `/v2` (v2) on it, a wildcard
 * host (models, only under /v1), and path prefixes on any host (web).
 */
export const MATCH: Readonly<Record<string, { hosts?: string[]; pathPrefixes?: string[] }>> = {
  api: { hosts: ['api.example.test'], pathPrefixes: ['/'] },
  v2: { hosts: ['api.example.test'], pathPrefixes: ['/v2'] },
  models: { hosts: ['*.models.test'], pathPrefixes: ['/v1'] },
  web: { pathPrefixes: ['/web', '/static'] },
  extra: { hosts: ['extra.test'] },
}

/**
 * A raw config (a plain object the test may still change) of the services in `sections`,
 * each with MATCH's rules unless it sets `match`, its upstreams and its own sections.
 * `top` is merged over the top level (proxy, admin, state, ...); state goes to a fresh file.
 */
export async function servicesRaw(
  upstreams: Upstreams,
  sections: Record<string, Record<string, unknown>>,
  top: Record<string, unknown> = {},
): Promise<Record<string, unknown>> {
  const dir = await mkdtemp(join(tmpdir(), 'sy-services-'))
  const services: Record<string, unknown> = {}
  for (const [name, own] of Object.entries(sections)) {
    const u = upstreams[name]
    if (u === undefined) throw new Error(`no upstreams for ${name}`)
    services[name] = {
      match: MATCH[name] ?? {},
      upstreams: { blue: { targets: [u.blue.url] }, green: { targets: [u.green.url] } },
      ...own,
    }
  }
  const { proxy, ...rest } = top
  return {
    proxy: { host: '127.0.0.1', port: 0, ...(proxy as Record<string, unknown> | undefined) },
    admin: { host: '127.0.0.1', port: 0 },
    state: { file: join(dir, 'state.json') },
    drain: { deadline: '3s' },
    sticky: { keys: ['header:x-user-id'] },
    autoRevert: { enabled: false },
    ...rest,
    services,
  }
}

export const configOf = (raw: Record<string, unknown>): Config => resolveConfig(structuredClone(raw))

/** What one proxied request got. */
export interface Answer {
  readonly status: number
  readonly body: string
  readonly headers: IncomingHttpHeaders
  readonly color: string | undefined
}

/**
 * A request through the proxy with its own Host header (fetch would drop it), on a fresh
 * connection. `onChunk` sees each piece of the body as it comes.
 */
export function send(
  app: { proxyUrl: string },
  host: string,
  path = '/',
  headers: Record<string, string> = {},
  onChunk?: (chunk: string) => void,
): Promise<Answer> {
  const { hostname, port } = new URL(app.proxyUrl)
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, path, method: 'GET', agent: false, headers: { ...headers, host } }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        body += chunk
        onChunk?.(chunk)
      })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers, color: res.headers['x-switchyard-color'] as string | undefined }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}

/** The body (`api-blue`) of a request with this Host and path, sent as user `user`. */
export async function who(app: { proxyUrl: string }, host: string, path = '/', user = 'u-1'): Promise<string> {
  return (await send(app, host, path, { 'x-user-id': user })).body
}

/** A split as GET /v1/services/{name}/split answers it. */
export interface SplitView {
  blue: number
  green: number
  generation: number
  reverted: { at: string; reason: string } | null
}

export async function splitOf(app: App, service: string): Promise<SplitView> {
  const res = await admin(app, 'GET', `/v1/services/${service}/split`)
  if (res.status !== 200) throw new Error(`GET split of ${service}: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body as SplitView
}

/** Sets a service's green share through the admin API; throws unless it answers 200. */
export async function setGreen(app: App, service: string, green: number, headers: Record<string, string> = {}): Promise<SplitView> {
  const res = await admin(app, 'PUT', `/v1/services/${service}/split`, { green }, headers)
  if (res.status !== 200) throw new Error(`PUT split of ${service}: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body as SplitView
}

/** The colours `users` distinct users get on a service's host and path. */
export async function colorsOf(app: App, host: string, path: string, users: number, offset = 0): Promise<Record<string, number>> {
  const seen: Record<string, number> = {}
  for (let i = 0; i < users; i++) {
    const body = await who(app, host, path, `user-${offset + i}`)
    seen[body] = (seen[body] ?? 0) + 1
  }
  return seen
}
