import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { isIP } from 'node:net'
import { availableParallelism } from 'node:os'
import { parse as parseYaml, YAMLParseError } from 'yaml'
import { Compile } from 'typebox/compile'
import { parseDuration } from './duration.js'
import { describeSchemaError } from './schema-errors.js'
import { RawConfigSchema, WEBHOOK_EVENTS, type Config, type RawConfig, type TlsFileSettings, type WebhookEvent } from './schema.js'
import { compileKey } from '../routing/sticky.js'
import { loadCertificates, readCaFile, TlsFileError } from '../proxy/tls.js'
import { TrustedProxies } from '../proxy/trusted-proxies.js'

/** A config problem; the message names the key, e.g. `split.green must be between 0 and 100`. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError'
  readonly code = 'SY_ERR_CONFIG'
}

const validator = Compile(RawConfigSchema)

/** Environment variables that override config keys. */
export interface ConfigEnv {
  readonly SWITCHYARD_ADMIN_TOKEN?: string | undefined
  /** Overrides state.redis.url (so a password can come from a secret, not the file). */
  readonly SWITCHYARD_REDIS_URL?: string | undefined
  /** Overrides override.previewSecret. */
  readonly SWITCHYARD_PREVIEW_SECRET?: string | undefined
}

/** Reads, validates and freezes a YAML (or JSON) config file. Throws ConfigError. */
export async function loadConfigFile(file: string, env: ConfigEnv = process.env): Promise<Config> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw new ConfigError(
      code === 'ENOENT' ? `config file ${file} does not exist` : `config file ${file} cannot be read (${code ?? String(err)})`,
    )
  }
  let raw: unknown
  try {
    raw = parseYaml(text, { prettyErrors: true })
  } catch (err) {
    const detail = err instanceof YAMLParseError ? err.message.split('\n')[0] : String(err)
    throw new ConfigError(`config file ${file} is not valid YAML: ${detail}`)
  }
  const config = resolveConfig(raw ?? {}, env)
  await checkTlsFiles(config)
  return config
}

/**
 * Reads the certificate, key and CA files the config names and checks them (a PEM
 * certificate, its own private key), so that `--check`, start-up and SIGHUP refuse a bad
 * file with its key named: `proxy.tls.cert: cannot read /etc/tls/a.pem (ENOENT)`.
 */
export async function checkTlsFiles(config: Config): Promise<void> {
  try {
    if (config.proxy.tls !== null) await loadCertificates(config.proxy.tls, 'proxy.tls')
    if (config.admin.tls !== null) await loadCertificates(config.admin.tls, 'admin.tls')
    if (config.upstreams.tls.ca !== null) readCaFile('upstreams.tls.ca', config.upstreams.tls.ca)
  } catch (err) {
    if (err instanceof TlsFileError) throw new ConfigError(err.message)
    throw err
  }
}

/** Validates a parsed config object, fills defaults, converts durations and deep-freezes it. */
export function resolveConfig(raw: unknown, env: ConfigEnv = {}): Config {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError('the config must be a YAML mapping of sections (proxy, admin, upstreams, ...)')
  }
  if (!validator.Check(raw)) throw new ConfigError(describeSchemaError(validator, raw))
  const c: RawConfig = raw

  const demoOn = c.demo !== undefined && c.demo.enabled !== false
  const demo = demoOn ? { blue: c.demo?.blue ?? 3001, green: c.demo?.green ?? 3002 } : null
  const blueTargets = c.upstreams?.blue?.targets ?? []
  const greenTargets = c.upstreams?.green?.targets ?? []
  for (const [color, targets] of [['blue', blueTargets], ['green', greenTargets]] as const) {
    if (targets.length === 0 && demo === null) {
      throw new ConfigError(`upstreams.${color}.targets is required: list one or more http:// URLs (or turn on demo)`)
    }
    targets.forEach((target, i) => checkTarget(`upstreams.${color}.targets[${i}]`, target))
  }

  const green = c.split?.green ?? 0
  if (Math.abs(Math.round(green * 100) - green * 100) > 1e-6) {
    throw new ConfigError(`split.green must have at most two decimals (0.01 resolution), got ${green}`)
  }

  // No app cookie (apps rotate them at login) and no "ip" (one address behind a balancer) unless asked for.
  const keys = c.sticky?.keys ?? ['header:x-user-id']
  keys.forEach((key, i) => {
    try {
      compileKey(key)
    } catch (err) {
      throw new ConfigError(`sticky.keys[${i}] ${(err as Error).message}`)
    }
  })

  const envPreview = env.SWITCHYARD_PREVIEW_SECRET
  if (envPreview !== undefined && envPreview !== '' && envPreview.length < 16) {
    throw new ConfigError('SWITCHYARD_PREVIEW_SECRET must be at least 16 characters (it signs preview links)')
  }
  const previewSecret = envPreview !== undefined && envPreview !== '' ? envPreview : c.override?.previewSecret
  if (c.sticky?.cookieSameSite === 'None' && c.sticky.cookieSecure === 'never') {
    throw new ConfigError('sticky.cookieSameSite None needs a Secure cookie (browsers drop it otherwise); set sticky.cookieSecure to auto or always')
  }

  const adminHost = c.admin?.host ?? '127.0.0.1'
  const envToken = env.SWITCHYARD_ADMIN_TOKEN
  const token = envToken !== undefined && envToken !== '' ? envToken : c.admin?.token
  if ((token === undefined || token === '') && !isLoopback(adminHost)) {
    throw new ConfigError(
      `admin.token is required when admin.host (${adminHost}) is not a loopback address; set it or SWITCHYARD_ADMIN_TOKEN`,
    )
  }
  const proxyPort = c.proxy?.port ?? 8080
  const adminPort = c.admin?.port ?? 9090
  if (proxyPort !== 0 && proxyPort === adminPort) {
    throw new ConfigError(`admin.port must differ from proxy.port (both are ${proxyPort})`)
  }
  const proxyTls = tlsFiles(c.proxy?.tls)
  const redirectHttp = c.proxy?.redirectHttp ?? 0
  if (redirectHttp !== 0 && proxyTls === null) throw new ConfigError('proxy.redirectHttp needs proxy.tls: it redirects to the HTTPS listener')
  if (redirectHttp !== 0 && (redirectHttp === proxyPort || redirectHttp === adminPort)) {
    throw new ConfigError(`proxy.redirectHttp (${redirectHttp}) must differ from proxy.port and admin.port`)
  }
  const trustedProxies = c.proxy?.trustedProxies ?? []
  try {
    TrustedProxies.compile(trustedProxies)
  } catch (err) {
    throw new ConfigError(`proxy.trustedProxies${(err as Error).message}`)
  }
  const upstreamTls = c.upstreams?.tls
  if (upstreamTls?.insecureSkipVerify === true && upstreamTls.ca !== undefined) {
    throw new ConfigError('upstreams.tls.insecureSkipVerify turns off the verification upstreams.tls.ca is for: set one or the other')
  }
  if (demo !== null) {
    for (const [color, port] of Object.entries(demo)) {
      if (port !== 0 && (port === proxyPort || port === adminPort)) {
        throw new ConfigError(`demo.${color} port ${port} is already used by the proxy or the admin API`)
      }
    }
  }
  const connect = duration('timeouts.connect', c.timeouts?.connect, 5_000)
  if (connect === 0) throw new ConfigError('timeouts.connect must be greater than 0')
  const headerTimeout = duration('timeouts.header', c.timeouts?.header, 30_000)
  if (headerTimeout === 0) throw new ConfigError('timeouts.header must be greater than 0 (it stops clients that never finish their headers)')
  const window = duration('autoRevert.window', c.autoRevert?.window, 30_000)
  if (window < 1000) throw new ConfigError('autoRevert.window must be at least 1s (it is made of one-second buckets)')

  const webhooks = (c.webhooks ?? []).map((hook, i) => {
    httpUrl(`webhooks[${i}].url`, hook.url)
    const events = hook.events ?? []
    events.forEach((event, j) => {
      if (!(WEBHOOK_EVENTS as readonly string[]).includes(event)) {
        throw new ConfigError(`webhooks[${i}].events[${j}] must be one of ${WEBHOOK_EVENTS.join(', ')}, got "${event}"`)
      }
    })
    return {
      url: hook.url,
      events: events as WebhookEvent[],
      secret: hook.secret,
      timeout: duration(`webhooks[${i}].timeout`, hook.timeout, 5_000),
      retries: hook.retries ?? 3,
    }
  })
  const stepWeight = c.rollout?.stepWeight ?? 10
  const maxWeight = c.rollout?.maxWeight ?? 100
  if (stepWeight > maxWeight) throw new ConfigError(`rollout.stepWeight (${stepWeight}) must not exceed rollout.maxWeight (${maxWeight})`)
  const a = c.rollout?.analysis
  const healthInterval = duration('healthCheck.interval', c.healthCheck?.interval, 5_000)
  if (healthInterval < 100) throw new ConfigError('healthCheck.interval must be at least 100ms')

  return deepFreeze<Config>({
    proxy: { host: c.proxy?.host ?? '0.0.0.0', port: proxyPort, tls: proxyTls, redirectHttp, trustedProxies: [...trustedProxies] },
    admin: { host: adminHost, port: adminPort, token: token === '' ? undefined : token, tls: tlsFiles(c.admin?.tls) },
    upstreams: {
      blue: { targets: [...blueTargets] },
      green: { targets: [...greenTargets] },
      tls: { ca: upstreamTls?.ca ?? null, insecureSkipVerify: upstreamTls?.insecureSkipVerify ?? false, servername: upstreamTls?.servername ?? null },
    },
    split: { green },
    sticky: {
      keys: [...keys],
      cookie: c.sticky?.cookie ?? 'sy_sid',
      cookieMaxAge: duration('sticky.cookieMaxAge', c.sticky?.cookieMaxAge, 86_400_000),
      cookieSameSite: c.sticky?.cookieSameSite ?? 'auto',
      cookieSecure: c.sticky?.cookieSecure ?? 'auto',
      reshuffle: c.sticky?.reshuffle ?? 'perRelease',
    },
    override: {
      header: c.override?.header ?? 'x-switchyard-color',
      previewSecret: previewSecret ?? randomBytes(32).toString('base64url'),
      previewSecretRandom: previewSecret === undefined,
      previewCookie: c.override?.previewCookie ?? 'sy_preview',
      publicUrl: (c.override?.publicUrl ?? '').replace(/\/+$/, ''),
    },
    autoRevert: {
      enabled: c.autoRevert?.enabled ?? true,
      window,
      minRequests: c.autoRevert?.minRequests ?? 20,
      maxErrorRate: c.autoRevert?.maxErrorRate ?? 0.05,
      ceilingVsBlue: c.autoRevert?.ceilingVsBlue ?? true,
    },
    state: { file: c.state?.file ?? 'var/state.json', redis: redisSettings(c.state?.redis, env) },
    timeouts: {
      connect,
      request: duration('timeouts.request', c.timeouts?.request, 300_000),
      idle: duration('timeouts.idle', c.timeouts?.idle, 0),
      header: headerTimeout,
      body: duration('timeouts.body', c.timeouts?.body, 60_000),
    },
    drain: { deadline: duration('drain.deadline', c.drain?.deadline, 30_000) },
    limits: {
      maxBodySize: c.limits?.maxBodySize ?? 0,
      maxHeaderSize: c.limits?.maxHeaderSize ?? 16_384,
      maxConnectionsPerTarget: c.limits?.maxConnectionsPerTarget ?? 0,
      maxPending: c.limits?.maxPending ?? 1000,
    },
    healthCheck: {
      path: c.healthCheck?.path ?? '',
      interval: healthInterval,
      timeout: duration('healthCheck.timeout', c.healthCheck?.timeout, 2_000),
      healthyThreshold: c.healthCheck?.healthyThreshold ?? 2,
      unhealthyThreshold: c.healthCheck?.unhealthyThreshold ?? 3,
    },
    outlierDetection: {
      consecutiveErrors: c.outlierDetection?.consecutiveErrors ?? 5,
      ejectionTime: duration('outlierDetection.ejectionTime', c.outlierDetection?.ejectionTime, 30_000),
    },
    webhooks,
    rollout: {
      stepWeight,
      maxWeight,
      interval: duration('rollout.interval', c.rollout?.interval, 60_000),
      swapOnPromote: c.rollout?.swapOnPromote ?? false,
      progressDeadline: duration('rollout.progressDeadline', c.rollout?.progressDeadline, 600_000),
      analysis: {
        interval: duration('rollout.analysis.interval', a?.interval, 1_000),
        minRequests: a?.minRequests ?? 50,
        confidence: a?.confidence ?? 0.99,
        maxErrorRate: a?.maxErrorRate ?? 0.05,
        maxP99Ratio: a?.maxP99Ratio ?? 1.5,
        maxP99: duration('rollout.analysis.maxP99', a?.maxP99, 0),
        failureThreshold: a?.failureThreshold ?? 3,
        maxLatencyIncrease: {
          percent: a?.maxLatencyIncrease?.percent ?? 10,
          ms: duration('rollout.analysis.maxLatencyIncrease.ms', a?.maxLatencyIncrease?.ms, 5),
        },
        latencyQuantile: a?.latencyQuantile ?? 0.9,
        abandonAfter: duration('rollout.analysis.abandonAfter', a?.abandonAfter, 5_000),
        routes: {
          depth: a?.routes?.depth ?? 1,
          max: a?.routes?.max ?? 10,
          prefixes: a?.routes?.prefixes ?? [],
        },
      },
    },
    log: { level: c.log?.level ?? 'info', access: c.log?.access ?? false },
    workers: c.workers === 'auto' ? availableParallelism() : (c.workers ?? 1),
    demo,
  })
}

function redisSettings(
  raw: { url?: string; keyPrefix?: string; sentinels?: string[]; name?: string } | undefined,
  env: ConfigEnv,
): Config['state']['redis'] {
  const envUrl = env.SWITCHYARD_REDIS_URL
  if (raw === undefined && (envUrl === undefined || envUrl === '')) return null
  const sentinels = raw?.sentinels
  if (sentinels !== undefined && raw?.name === undefined) {
    throw new ConfigError('state.redis.name is required with state.redis.sentinels: the master group the sentinels watch (e.g. mymaster)')
  }
  if (raw?.name !== undefined && sentinels === undefined) throw new ConfigError('state.redis.name needs state.redis.sentinels')
  const hosts = (sentinels ?? []).map((entry, i) => {
    const match = /^(\[[0-9a-fA-F:]+\]|[^:\s/]+):(\d{1,5})$/.exec(entry)
    const port = Number(match?.[2])
    if (match === null || port < 1 || port > 65535) {
      throw new ConfigError(`state.redis.sentinels[${i}] must be host:port (e.g. 10.0.0.5:26379), got "${entry}"`)
    }
    return { host: match[1]!.replace(/^\[|\]$/g, ''), port }
  })
  // With sentinels the URL only carries credentials, database and TLS, so it may be left out.
  const url = envUrl !== undefined && envUrl !== '' ? envUrl : (raw?.url ?? (sentinels === undefined ? undefined : 'redis://localhost'))
  if (url === undefined) throw new ConfigError('state.redis.url is required: a redis:// or rediss:// URL (or set SWITCHYARD_REDIS_URL, or give state.redis.sentinels)')
  let parsed: URL | undefined
  try {
    parsed = new URL(url)
  } catch {
    parsed = undefined
  }
  if (parsed === undefined || (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') || parsed.hostname === '') {
    throw new ConfigError(`state.redis.url must be a redis:// or rediss:// URL with a host, got "${redactUrl(url)}"`)
  }
  const db = parsed.pathname.replace(/^\//, '')
  if (db !== '' && !/^\d+$/.test(db)) throw new ConfigError(`state.redis.url path must be a database number such as /0, got "/${db}"`)
  return {
    url,
    keyPrefix: raw?.keyPrefix ?? 'switchyard:',
    sentinel: sentinels === undefined ? null : { hosts, name: raw!.name! },
  }
}

/** A URL with its password replaced by ***, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password !== '') parsed.password = '***'
    return parsed.toString()
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//***@')
  }
}

/** `proxy.tls` / `admin.tls` as a list (one pair or several), or null when not set. */
function tlsFiles(raw: TlsFileSettings | TlsFileSettings[] | undefined): TlsFileSettings[] | null {
  if (raw === undefined) return null
  return (Array.isArray(raw) ? raw : [raw]).map((entry) => ({ ...entry }))
}

function duration(key: string, value: string | number | undefined, fallback: number): number {
  if (value === undefined) return fallback
  const ms = parseDuration(value)
  if (ms === undefined) throw new ConfigError(`${key} must be a duration such as 500ms, 30s, 5m or an integer of milliseconds`)
  return ms
}

/** Parses an http(s) URL or throws a ConfigError naming `key`. */
function httpUrl(key: string, value: string): URL {
  let url: URL | undefined
  try {
    url = new URL(value)
  } catch {
    url = undefined
  }
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new ConfigError(`${key} must be an http:// or https:// URL, got "${value}"`)
  }
  return url
}

/** Throws a ConfigError naming `key` unless `target` is a bare http(s) origin. */
export function checkTarget(key: string, target: string): void {
  const url = httpUrl(key, target)
  if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '' || url.username !== '') {
    throw new ConfigError(`${key} must be an origin without path, query or credentials, got "${target}"`)
  }
}

/** True for 127.0.0.0/8, ::1 and localhost. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost' || host === '::1' || host === '[::1]') return true
  return isIP(host) === 4 && host.startsWith('127.')
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child)
    Object.freeze(value)
  }
  return value
}
