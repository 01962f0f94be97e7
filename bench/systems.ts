/**
 * The systems under test. Each proxy runs pinned to CPU 0 in its own process group, with its own
 * temp folder; `direct` is no proxy at all, wrk against the blue upstream: the limit.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { NODE_FLAGS } from '../src/node-flags.js'
import { get, waitForHttp } from './http-check.js'
import { nginxArgs, nginxMain } from './nginx-conf.js'
import { freePorts, type ProcessRegistry, type Tracked } from './procs.js'
import { engineOf, mirrorPercentOf, serviceCountOf, serviceHost, SERVICES_LOAD_HOST, type Settings, type SystemName } from './settings.js'
import type { Upstreams } from './upstream.js'

export interface Tools {
  readonly nginx: string
  readonly haproxy: string
  readonly wrk: string
  readonly taskset: string
}

export interface SystemContext {
  readonly registry: ProcessRegistry
  readonly tools: Tools
  readonly upstreams: Upstreams
  readonly settings: Settings
  readonly repoRoot: string
  /** A fresh folder for this system's config, pid, logs and state. */
  readonly dir: string
  /** The most client connections the phase opens at once (10,000 for idle10k): nginx and HAProxy are sized for them. */
  readonly connections: number
}

/** A system ready for load: base URL (no trailing slash) and the process whose tree is measured. */
export interface RunningSystem {
  readonly name: SystemName
  readonly url: string
  /** null for `direct`: there is no proxy to measure. */
  readonly process: Tracked | null
  /** switchyard's admin API (no trailing slash), where /metrics is read. */
  readonly adminUrl?: string
  /** The Host header the load and the checks send (a many-services row); unset: the URL's. */
  readonly host?: string
}

/** The headers every request to `system` carries besides x-user-id: its Host, if it has one of its own. */
export function hostHeaders(system: { readonly host?: string | undefined }): Record<string, string> {
  return system.host === undefined ? {} : { host: system.host }
}

export const SYSTEM_LABELS: Readonly<Record<SystemName, string>> = {
  direct: 'direct (no proxy, the limit)',
  switchyard: 'switchyard',
  'switchyard-node': 'switchyard (node engine)',
  'switchyard-mirror10': 'switchyard, mirror 10 %',
  'switchyard-mirror100': 'switchyard, mirror 100 %',
  'switchyard-services50': 'switchyard, 50 services (by host)',
  nginx: 'nginx',
  haproxy: 'HAProxy',
  'http-proxy': 'node http-proxy',
  fastify: 'fastify + @fastify/http-proxy',
  'node-floor': 'Node floor (net, no features)',
}

const START_DEADLINE_MS = 30_000

/** The last lines of a log file, for start-up failures. */
export function logTail(file: string | undefined, lines = 15): string {
  if (file === undefined) return ''
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
  } catch {
    return ''
  }
}

async function ready(ctx: SystemContext, name: SystemName, url: string, proc: Tracked, host?: string): Promise<RunningSystem> {
  try {
    await waitForHttp(`${url}/`, START_DEADLINE_MS, proc, hostHeaders({ host }))
  } catch (err) {
    await ctx.registry.stop(proc)
    const tail = logTail(proc.logFile)
    throw new Error(`${(err as Error).message}${tail === '' ? '' : `\n--- ${proc.logFile ?? ''} (last lines) ---\n${tail}`}`, {
      cause: err,
    })
  }
  return { name, url, process: proc, ...(host === undefined ? {} : { host }) }
}

/** Runs a proxy under test on the proxies' CPUs: CPU 0 unless BENCH_PROXY_CPUS says otherwise. */
function onProxyCpus(ctx: SystemContext, name: string, cmd: string, args: readonly string[]): Tracked {
  return ctx.registry.spawn(name, ctx.tools.taskset, ['-c', ctx.settings.proxyCpus, cmd, ...args], {
    cwd: ctx.repoRoot,
    logFile: join(ctx.dir, 'output.log'),
  })
}

/**
 * switchyard with the 90/10 split; or, for a mirror row, 0 % green (every request is blue) with
 * `mirror.percent` of blue's requests (by sticky key) also sent to green as shadows, the rest of
 * `mirror` at its defaults (concurrency 64, compare json: the 100-byte text answers are compared
 * byte by byte, and since each starts with its colour's name every pair differs). A many-services
 * row has N `services`, each matched by its own host and holding the same `upstreams` and `split`
 * (the rest is inherited from the top level), no `proxy.defaultService`; it is loaded through one
 * of them (SERVICES_LOAD_HOST). An engine row adds `proxy.engine` (the plain row keeps the
 * default, `sockets`).
 */
async function startSwitchyard(ctx: SystemContext, name: SystemName): Promise<RunningSystem> {
  const [port, adminPort] = (await freePorts(2)) as [number, number]
  const mirror = mirrorPercentOf(name)
  const engine = engineOf(name)
  const config: Record<string, unknown> = {
    proxy: { host: '127.0.0.1', port, ...(engine === undefined ? {} : { engine }) },
    admin: { host: '127.0.0.1', port: adminPort },
    upstreams: { blue: { targets: [ctx.upstreams.blue] }, green: { targets: [ctx.upstreams.green] } },
    split: { green: mirror === undefined ? 10 : 0 },
    sticky: { keys: ['header:x-user-id'] },
    autoRevert: { enabled: true },
    state: { file: join(ctx.dir, 'state.json') },
    log: { level: 'warn' },
    ...(mirror === undefined ? {} : { mirror: { ...ctx.settings.mirrorConfig, percent: mirror } }),
  }
  const services = serviceCountOf(name)
  if (services !== undefined) {
    // Spelled out in each service (copies, so the YAML has no anchors), like 50 real releases.
    const { upstreams, split } = config
    delete config.upstreams
    delete config.split
    config.services = Object.fromEntries(
      Array.from({ length: services }, (_, i) => [`svc-${i}`, { match: { hosts: [serviceHost(i)] }, upstreams: structuredClone(upstreams), split: structuredClone(split) }]),
    )
  }
  if (ctx.settings.switchyardWorkers !== undefined) config.workers = ctx.settings.switchyardWorkers
  // BENCH_SWITCHYARD_CONFIG='{"limits":{"maxConnectionsPerTarget":128}}' tries a setting.
  const extra = process.env.BENCH_SWITCHYARD_CONFIG
  if (extra !== undefined && extra !== '') Object.assign(config, JSON.parse(extra) as Record<string, unknown>)
  const file = join(ctx.dir, 'switchyard.yaml')
  writeFileSync(file, stringify(config))
  // The compiled build, as production runs it (run.ts builds it first, unless BENCH_BUILD=0): no TypeScript loader
  // in the process, so its RSS is switchyard's own.
  // With the V8 flags it ships with (npm start, the Docker image, its workers).
  const proc = onProxyCpus(ctx, name, process.execPath, [...NODE_FLAGS, 'dist/cli.js', '--config', file])
  const url = `http://127.0.0.1:${port}`
  const running = { ...(await ready(ctx, name, url, proc, services === undefined ? undefined : SERVICES_LOAD_HOST)), adminUrl: `http://127.0.0.1:${adminPort}` }
  if (services !== undefined) {
    // Requests really are told apart by host: one for no service gets switchyard's 404.
    const stray = await get(`${url}/`, { 'x-user-id': 'bench-probe' }).catch((err: unknown) => ({ status: 0, body: String(err) }))
    if (stray.status !== 404) {
      await ctx.registry.stop(proc)
      throw new Error(`${name}: a request for host 127.0.0.1 got ${stray.status}, not 404: ${stray.body.slice(0, 200)}`)
    }
  }
  return running
}

async function startNginx(ctx: SystemContext): Promise<RunningSystem> {
  const [port] = (await freePorts(1)) as [number]
  const { bluePort, greenPort } = ctx.upstreams
  const proxied = `proxy_pass http://$color;
      proxy_http_version 1.1;
      proxy_set_header Connection "";`
  const http = `  # Keep buffered responses in memory (no temp files for the 1 MiB body).
  proxy_max_temp_file_size 0;
  split_clients "\${http_x_user_id}" $color {
    10% green;
    *   blue;
  }
  upstream blue { server 127.0.0.1:${bluePort}; keepalive 64; keepalive_requests 10000000; }
  upstream green { server 127.0.0.1:${greenPort}; keepalive 64; keepalive_requests 10000000; }
  server {
    listen 127.0.0.1:${port};
    location / {
      ${proxied}
    }
    location = /sse {
      ${proxied}
      proxy_buffering off;
    }
  }`
  const conf = join(ctx.dir, 'nginx.conf')
  // Client and upstream connections share worker_connections.
  writeFileSync(conf, nginxMain(ctx.dir, http, { workerConnections: ctx.connections + 2048 }))
  const proc = onProxyCpus(ctx, 'nginx proxy', ctx.tools.nginx, nginxArgs(ctx.dir, conf))
  return ready(ctx, 'nginx', `http://127.0.0.1:${port}`, proc)
}

async function startHaproxy(ctx: SystemContext): Promise<RunningSystem> {
  const [port] = (await freePorts(1)) as [number]
  const { bluePort, greenPort } = ctx.upstreams
  // 8,000 unless the phase opens more (idle10k). HAProxy reserves 2 fds per connection; with
  // http-reuse always the idle clients share a few server connections, so 10,500 connections fit
  // a 20,000 fd limit although HAProxy asks for 21,000: no strict-limits makes that a warning.
  const maxconn = Math.max(8000, ctx.connections + 500)
  const limits = maxconn > 8000 ? '\n  no strict-limits' : ''
  // balance hdr() with the default map-based hash honours server weights: 90/10, sticky per user.
  const conf = `global
  nbthread 1
  # 2 fds per connection must fit the fd limit (often 20,000 here); c1000 needs about 2,000.
  maxconn ${maxconn}${limits}

defaults
  mode http
  http-reuse always
  maxconn ${maxconn}
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout http-keep-alive 60s

frontend bench
  bind 127.0.0.1:${port}
  use_backend colors-stream if { path /sse }
  default_backend colors

backend colors
  balance hdr(x-user-id)
  server blue 127.0.0.1:${bluePort} weight 90
  server green 127.0.0.1:${greenPort} weight 10

# Without http-no-delay HAProxy holds small chunks back (MSG_MORE) until the stream ends.
backend colors-stream
  option http-no-delay
  balance hdr(x-user-id)
  server blue 127.0.0.1:${bluePort} weight 90
  server green 127.0.0.1:${greenPort} weight 10
`
  const file = join(ctx.dir, 'haproxy.cfg')
  writeFileSync(file, conf)
  const proc = onProxyCpus(ctx, 'haproxy', ctx.tools.haproxy, ['-db', '-f', file])
  return ready(ctx, 'haproxy', `http://127.0.0.1:${port}`, proc)
}

async function startPeer(ctx: SystemContext, name: 'http-proxy' | 'fastify' | 'node-floor', script: string): Promise<RunningSystem> {
  const [port] = (await freePorts(1)) as [number]
  const args = ['--import', 'tsx', join('bench', 'peers', script), '--port', String(port)]
  args.push('--blue', ctx.upstreams.blue, '--green', ctx.upstreams.green, '--green-share', '0.1')
  const proc = onProxyCpus(ctx, name, process.execPath, args)
  return ready(ctx, name, `http://127.0.0.1:${port}`, proc)
}

/** Starts one system and waits until it proxies a request. Throws with its log tail if it cannot. */
export async function startSystem(name: SystemName, ctx: SystemContext): Promise<RunningSystem> {
  mkdirSync(ctx.dir, { recursive: true })
  switch (name) {
    case 'direct':
      return { name, url: ctx.upstreams.blue, process: null }
    case 'switchyard':
    case 'switchyard-node':
    case 'switchyard-mirror10':
    case 'switchyard-mirror100':
    case 'switchyard-services50':
      return startSwitchyard(ctx, name)
    case 'nginx':
      return startNginx(ctx)
    case 'haproxy':
      return startHaproxy(ctx)
    case 'http-proxy':
      return startPeer(ctx, name, 'node-http-proxy.ts')
    case 'fastify':
      return startPeer(ctx, name, 'fastify-http-proxy.ts')
    case 'node-floor':
      return startPeer(ctx, name, 'net-floor.ts')
  }
}
