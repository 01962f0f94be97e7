/** What one `npm run bench` measures: read once from the environment, then frozen. */

export const SYSTEM_NAMES = [
  'direct',
  'switchyard',
  'switchyard-node',
  'switchyard-mirror10',
  'switchyard-mirror100',
  'switchyard-services50',
  'nginx',
  'haproxy',
  'http-proxy',
  'fastify',
  'node-floor',
] as const
export type SystemName = (typeof SYSTEM_NAMES)[number]

/**
 * The shadow-traffic rows: switchyard at 0 % green with this share of blue's requests mirrored
 * to green. Each is measured against the plain `switchyard` row of the same run.
 */
export const MIRROR_PERCENT: Readonly<Partial<Record<SystemName, number>>> = Object.freeze({
  'switchyard-mirror10': 10,
  'switchyard-mirror100': 100,
})

/** A switchyard row that mirrors (MIRROR_PERCENT), and its share. */
export function mirrorPercentOf(system: SystemName): number | undefined {
  return MIRROR_PERCENT[system]
}

/**
 * The many-services rows: switchyard with this many `services`, `svc-0.bench.test` …, each matched
 * by its own host and configured like the plain `switchyard` row. Each is measured against that row.
 */
export const SERVICE_COUNT: Readonly<Partial<Record<SystemName, number>>> = Object.freeze({
  'switchyard-services50': 50,
})

/** A many-services row (SERVICE_COUNT), and its number of services. */
export function serviceCountOf(system: SystemName): number | undefined {
  return SERVICE_COUNT[system]
}

/** The host of service `i` in a many-services row. */
export const serviceHost = (i: number): string => `svc-${i}.bench.test`

/** The one host the load (and every check) of a many-services row asks for: a service in the middle. */
export const SERVICES_LOAD_HOST = serviceHost(17)

/**
 * The engine rows: switchyard's config as the plain `switchyard` row (which runs the default engine,
 * `sockets`) plus this `proxy.engine`.
 */
export const ENGINE_OF: Readonly<Partial<Record<SystemName, 'node'>>> = Object.freeze({
  'switchyard-node': 'node',
})

/** A row that sets `proxy.engine` (ENGINE_OF), and the engine; undefined: the default engine. */
export function engineOf(system: SystemName): 'node' | undefined {
  return ENGINE_OF[system]
}

/**
 * `BENCH_SYSTEMS=mirror` / `services`: those rows with what they are compared against, and nothing
 * else; `engines`: both of switchyard's engines beside every peer (the targets of issue #16).
 */
const SYSTEM_GROUPS: Readonly<Record<string, readonly SystemName[]>> = Object.freeze({
  mirror: ['direct', 'switchyard', 'switchyard-mirror10', 'switchyard-mirror100', 'nginx'],
  services: ['direct', 'switchyard', 'switchyard-services50', 'nginx'],
  engines: ['direct', 'switchyard', 'switchyard-node', 'nginx', 'haproxy', 'http-proxy', 'fastify', 'node-floor'],
})

/** The results file of a named set, so that a partial run never replaces latest.md. */
const GROUP_OUT: Readonly<Record<string, string>> = Object.freeze({ mirror: 'mirror-run', services: 'services-run', engines: 'engines-run' })

export const SCENARIO_NAMES = ['c50', 'c1', 'c1000', '1mb', 'upload1mb', 'sse', 'idle10k'] as const
export type ScenarioName = (typeof SCENARIO_NAMES)[number]

/** Idle connections: opened, each answered once, held open without traffic, the proxy's RSS read, closed. */
export interface IdleShape {
  /** Seconds all connections are held open before the RSS is read. */
  readonly holdSeconds: number
  /** Connections being opened (and answered) at a time. */
  readonly concurrency: number
  /** The whole run per system (open, hold, close) is cut off after this. */
  readonly budgetSeconds: number
}

/** One load shape: a path on the upstream and a number of open connections. */
export interface Scenario {
  readonly name: ScenarioName
  readonly title: string
  readonly path: string
  readonly connections: number
  /** wrk counts a request slower than this as a timeout (a socket error); for `idle`, the wait for each answer. */
  readonly timeoutSeconds: number
  /** Set: no wrk load, idle connections (bench/idle.ts); only proxies, not `direct`. */
  readonly idle?: IdleShape
  /** Set: every request is a POST with a body of this many bytes (wrk only). */
  readonly bodyBytes?: number
}

/** The SSE-like stream the upstream sends on /sse: events flushed one by one, this far apart. */
export const SSE_EVENTS = 10
export const SSE_INTERVAL_MS = 10

export const SCENARIOS: Readonly<Record<ScenarioName, Scenario>> = Object.freeze({
  c50: { name: 'c50', title: 'throughput: 50 connections, GET / (~100 B)', path: '/', connections: 50, timeoutSeconds: 2 },
  c1: { name: 'c1', title: 'latency: 1 connection, GET / (~100 B)', path: '/', connections: 1, timeoutSeconds: 2 },
  c1000: {
    name: 'c1000',
    title: 'overload: 1,000 connections, GET / (~100 B); errors = non-2xx + socket errors (timeout 2 s)',
    path: '/',
    connections: 1000,
    timeoutSeconds: 2,
  },
  '1mb': { name: '1mb', title: 'large body: 10 connections, GET /1mb (1 MiB)', path: '/1mb', connections: 10, timeoutSeconds: 5 },
  upload1mb: {
    name: 'upload1mb',
    title: 'large upload: 10 connections, POST /upload with a 1 MiB body, which the upstream reads whole before it answers',
    path: '/upload',
    connections: 10,
    timeoutSeconds: 5,
    bodyBytes: 1024 * 1024,
  },
  sse: {
    name: 'sse',
    title: `streaming: 100 connections, GET /sse (chunked text/event-stream, ${SSE_EVENTS} events ${SSE_INTERVAL_MS} ms apart)`,
    path: '/sse',
    connections: 100,
    timeoutSeconds: 5,
  },
  idle10k: {
    name: 'idle10k',
    title: 'idle: 10,000 keep-alive connections, each answered one GET / and then held open without traffic; proxy RSS with all of them open',
    path: '/',
    connections: 10_000,
    timeoutSeconds: 5,
    idle: { holdSeconds: 5, concurrency: 100, budgetSeconds: 60 },
  },
})

/** A scenario of idle connections (no wrk): it runs the proxies only, not `direct`. */
export function isIdle(scenario: ScenarioName): boolean {
  return SCENARIOS[scenario].idle !== undefined
}

export interface Settings {
  readonly rounds: number
  readonly durationSeconds: number
  readonly warmupSeconds: number
  readonly pauseMs: number
  readonly quick: boolean
  readonly scenarios: readonly ScenarioName[]
  readonly systems: readonly SystemName[]
  /** Rounds of the autocannon second opinion on c50; 0 turns it off. */
  readonly autocannonRounds: number
  /** Before a run, wait up to this long for other processes to go quiet (below NOISY_CPU_PERCENT). */
  readonly quietWaitSeconds: number
  /** `workers:` for switchyard's config, only when BENCH_SWITCHYARD_WORKERS is set. */
  readonly switchyardWorkers: number | undefined
  /** The CPU list (taskset -c) the proxies under test run on: `0`, or BENCH_PROXY_CPUS (`0,1` to measure `workers: 2`). */
  readonly proxyCpus: string
  /** Build dist/ before the load (BENCH_BUILD=0: run the dist/ already there, as it is). */
  readonly build: boolean
  /** BENCH_MIRROR_CONFIG: added to the mirror rows' `mirror` config (their percent stays theirs). */
  readonly mirrorConfig: Readonly<Record<string, unknown>>
  /** Base name of the results files in bench/results/ (latest, quick, mirror-run, services-run, engines-run or BENCH_OUT). */
  readonly out: string
}

/** A run during which other processes used more CPU than this (% of one CPU) is marked as noisy. */
export const NOISY_CPU_PERCENT = 10

export class SettingsError extends Error {}

/** A positive number from the environment (soak scripts), or `fallback` when unset. */
export function envNumber(name: string, fallback: number): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const n = Number(raw)
  if (!Number.isFinite(n) || n <= 0) throw new SettingsError(`${name} must be a positive number, got ${raw}`)
  return n
}

function positiveInt(env: NodeJS.ProcessEnv, name: string, fallback: number, min = 1): number {
  const raw = env[name]
  if (raw === undefined || raw === '') return fallback
  const n = Number(raw)
  if (!Number.isInteger(n) || n < min) throw new SettingsError(`${name} must be an integer >= ${min}, got "${raw}"`)
  return n
}

function list<T extends string>(
  env: NodeJS.ProcessEnv,
  name: string,
  all: readonly T[],
  groups: Readonly<Record<string, readonly T[]>> = {},
): readonly T[] {
  const raw = env[name]
  if (raw === undefined || raw.trim() === '') return all
  const wanted = raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .flatMap((s): readonly string[] => groups[s] ?? [s])
  for (const w of wanted) {
    if (!(all as readonly string[]).includes(w)) {
      const choices = [...all, ...Object.keys(groups)].join(', ')
      throw new SettingsError(`${name}: unknown "${w}"; choose from ${choices}`)
    }
  }
  // Keep the canonical order whatever order was asked for.
  return all.filter((a) => wanted.includes(a))
}

/** A JSON object from the environment, e.g. BENCH_MIRROR_CONFIG='{"compare":{"mode":"none"}}'; {} when unset. */
function jsonObject(env: NodeJS.ProcessEnv, name: string): Readonly<Record<string, unknown>> {
  const raw = env[name]
  if (raw === undefined || raw.trim() === '') return {}
  let value: unknown
  try {
    value = JSON.parse(raw)
  } catch {
    throw new SettingsError(`${name} must be a JSON object, got "${raw}"`)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new SettingsError(`${name} must be a JSON object, got "${raw}"`)
  return value as Record<string, unknown>
}

/** Reads BENCH_* variables; BENCH_QUICK=1 is a 2 s × 1 round smoke test. */
export function readSettings(env: NodeJS.ProcessEnv = process.env): Settings {
  const quick = env.BENCH_QUICK === '1' || env.BENCH_QUICK === 'true'
  const rounds = positiveInt(env, 'BENCH_ROUNDS', quick ? 1 : 3)
  const durationSeconds = positiveInt(env, 'BENCH_DURATION', quick ? 2 : 10)
  const workersRaw = env.BENCH_SWITCHYARD_WORKERS
  const out = env.BENCH_OUT ?? ''
  const proxyCpus = env.BENCH_PROXY_CPUS === undefined || env.BENCH_PROXY_CPUS === '' ? '0' : env.BENCH_PROXY_CPUS
  if (!/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(proxyCpus)) throw new SettingsError(`BENCH_PROXY_CPUS must be a taskset CPU list like 0 or 0,1, got "${proxyCpus}"`)
  if (out !== '' && !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(out)) throw new SettingsError(`BENCH_OUT must be a file base name like mirror-run, got "${out}"`)
  // Only a named set's rows (mirror, services, engines): their own file, so that a partial run never replaces latest.md.
  const group = env.BENCH_SYSTEMS?.trim()
  const groupOut = group === undefined ? undefined : GROUP_OUT[group]
  return Object.freeze({
    rounds,
    durationSeconds,
    warmupSeconds: positiveInt(env, 'BENCH_WARMUP', quick ? 1 : Math.min(3, durationSeconds), 0),
    pauseMs: quick ? 300 : 1000,
    quick,
    scenarios: list(env, 'BENCH_SCENARIOS', SCENARIO_NAMES),
    systems: list(env, 'BENCH_SYSTEMS', SYSTEM_NAMES, SYSTEM_GROUPS),
    quietWaitSeconds: positiveInt(env, 'BENCH_QUIET_WAIT', quick ? 0 : 20, 0),
    autocannonRounds: positiveInt(env, 'BENCH_AUTOCANNON_ROUNDS', quick ? 1 : Math.max(1, Math.ceil(rounds / 2)), 0),
    switchyardWorkers:
      workersRaw === undefined || workersRaw === '' ? undefined : positiveInt(env, 'BENCH_SWITCHYARD_WORKERS', 1),
    proxyCpus,
    build: env.BENCH_BUILD !== '0',
    mirrorConfig: jsonObject(env, 'BENCH_MIRROR_CONFIG'),
    out: out !== '' ? out : quick ? 'quick' : (groupOut ?? 'latest'),
  })
}
