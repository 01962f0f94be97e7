import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { parse as parseYaml, YAMLParseError } from 'yaml'
import { Compile } from 'typebox/compile'
import { checkTarget, httpUrl, isLoopback } from './addresses.js'
import { ConfigError } from './config-error.js'
import { redisSettings } from './redis-settings.js'
import { describeSchemaError } from './schema-errors.js'
import { deepFreeze, resolveSchema } from './schema-kit.js'
import { RawConfigSchema, WEBHOOK_EVENTS, type Config, type DefaultedConfig, type WebhookEvent } from './schema.js'
import { PathMatcher } from '../shadow/json-path.js'
import { DEFAULT_SERVICE, resolveServices } from './services.js'
import { compileKey } from '../routing/sticky.js'
import { COLORS, exactBuckets } from '../routing/types.js'
import { loadCertificates, readCaFile, TlsFileError } from '../proxy/tls.js'
import { TrustedProxies } from '../proxy/trusted-proxies.js'

// Importers of load.js have always found these here.
export { ConfigError } from './config-error.js'
export { checkTarget, isLoopback, redactUrl } from './addresses.js'

const validator = Compile(RawConfigSchema)

/** Environment variables that override config keys. */
export interface ConfigEnv {
  /** Overrides admin.token. */
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

/**
 * Validates a parsed config object against the schema, resolves it (defaults filled,
 * durations in ms: schema-kit.ts), runs the checks that span keys, applies the environment
 * and deep-freezes the result. Never mutates `raw`. The first problem found is the one
 * reported: the schema's, then a conversion's (a duration past 2^53 ms), then the checks below.
 */
export function resolveConfig(raw: unknown, env: ConfigEnv = {}): Config {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError('the config must be a YAML mapping of sections (proxy, admin, upstreams, ...)')
  }
  const { services: rawServices, ...rest } = raw as Record<string, unknown>
  const several = rawServices !== undefined && rawServices !== null
  const top = resolveOne(rest, env, { targetsRequired: !several })
  if (!several) {
    if (top.proxy.defaultService !== null) throw new ConfigError('proxy.defaultService names one of `services`, and there are none')
    top.admin.tokens.forEach((scoped, i) =>
      scoped.services.forEach((service, j) => {
        if (service !== DEFAULT_SERVICE) throw new ConfigError(`admin.tokens[${i}].services[${j}] "${service}" is not a service (without \`services\` there is one, "default")`)
      }),
    )
    return deepFreeze<Config>({ ...top, services: null })
  }
  const services = resolveServices(rawServices, rest, top, (merged, options) => ({ ...resolveOne(merged, env, options), services: null }))
  return deepFreeze<Config>({ ...top, services })
}

/** Resolves one config without `services`: the whole file's, or one service's merged one. */
function resolveOne(raw: Record<string, unknown>, env: ConfigEnv, options: { readonly targetsRequired: boolean }): Omit<Config, 'services'> {
  if (!validator.Check(raw)) throw new ConfigError(describeSchemaError(validator, raw))
  const c = resolveSchema(RawConfigSchema, raw)

  for (const color of COLORS) {
    const { targets } = c.upstreams[color]
    if (targets.length === 0 && c.demo === null && options.targetsRequired) {
      throw new ConfigError(`upstreams.${color}.targets is required: list one or more http:// URLs (or turn on demo)`)
    }
    targets.forEach((target, i) => checkTarget(`upstreams.${color}.targets[${i}]`, target))
  }

  const green = c.split.green
  if (exactBuckets(green) === undefined) {
    throw new ConfigError(`split.green must have at most two decimals (0.01 resolution), got ${green}`)
  }
  checkMirror(c.mirror)
  c.sticky.keys.forEach((key, i) => {
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
  const previewSecret = envPreview !== undefined && envPreview !== '' ? envPreview : c.override.previewSecret
  if (c.sticky.cookieSameSite === 'None' && c.sticky.cookieSecure === 'never') {
    throw new ConfigError('sticky.cookieSameSite None needs a Secure cookie (browsers drop it otherwise); set sticky.cookieSecure to auto or always')
  }

  const envToken = env.SWITCHYARD_ADMIN_TOKEN
  const token = envToken !== undefined && envToken !== '' ? envToken : c.admin.token
  if ((token === undefined || token === '') && !isLoopback(c.admin.host)) {
    throw new ConfigError(
      `admin.token is required when admin.host (${c.admin.host}) is not a loopback address; set it or SWITCHYARD_ADMIN_TOKEN`,
    )
  }
  const proxyPort = c.proxy.port
  const adminPort = c.admin.port
  if (proxyPort !== 0 && proxyPort === adminPort) {
    throw new ConfigError(`admin.port must differ from proxy.port (both are ${proxyPort})`)
  }
  const redirectHttp = c.proxy.redirectHttp
  if (redirectHttp !== 0 && c.proxy.tls === null) throw new ConfigError('proxy.redirectHttp needs proxy.tls: it redirects to the HTTPS listener')
  if (redirectHttp !== 0 && (redirectHttp === proxyPort || redirectHttp === adminPort)) {
    throw new ConfigError(`proxy.redirectHttp (${redirectHttp}) must differ from proxy.port and admin.port`)
  }
  try {
    TrustedProxies.compile(c.proxy.trustedProxies)
  } catch (err) {
    throw new ConfigError(`proxy.trustedProxies${(err as Error).message}`)
  }
  if (c.upstreams.tls.insecureSkipVerify && c.upstreams.tls.ca !== null) {
    throw new ConfigError('upstreams.tls.insecureSkipVerify turns off the verification upstreams.tls.ca is for: set one or the other')
  }
  if (c.demo !== null) {
    for (const [color, port] of Object.entries(c.demo)) {
      if (port !== 0 && (port === proxyPort || port === adminPort)) {
        throw new ConfigError(`demo.${color} port ${port} is already used by the proxy or the admin API`)
      }
    }
  }
  if (c.timeouts.connect === 0) throw new ConfigError('timeouts.connect must be greater than 0')
  if (c.timeouts.header === 0) throw new ConfigError('timeouts.header must be greater than 0 (it stops clients that never finish their headers)')
  if (c.autoRevert.window < 1000) throw new ConfigError('autoRevert.window must be at least 1s (it is made of one-second buckets)')

  const webhooks = c.webhooks.map((hook, i) => {
    httpUrl(`webhooks[${i}].url`, hook.url)
    hook.events.forEach((event, j) => {
      if (!(WEBHOOK_EVENTS as readonly string[]).includes(event)) {
        throw new ConfigError(`webhooks[${i}].events[${j}] must be one of ${WEBHOOK_EVENTS.join(', ')}, got "${event}"`)
      }
    })
    return { ...hook, events: hook.events as readonly WebhookEvent[] }
  })
  const { stepWeight, maxWeight } = c.rollout
  if (stepWeight > maxWeight) throw new ConfigError(`rollout.stepWeight (${stepWeight}) must not exceed rollout.maxWeight (${maxWeight})`)
  if (c.healthCheck.interval < 100) throw new ConfigError('healthCheck.interval must be at least 100ms')

  return {
    ...c,
    admin: { ...c.admin, token: token === '' ? undefined : token },
    override: {
      header: c.override.header,
      previewSecret: previewSecret ?? randomBytes(32).toString('base64url'),
      previewSecretRandom: previewSecret === undefined,
      previewCookie: c.override.previewCookie,
      publicUrl: c.override.publicUrl,
    },
    state: { ...c.state, redis: redisSettings(c.state.redis, env.SWITCHYARD_REDIS_URL) },
    webhooks,
  }
}

/** mirror: a share with at most two decimals, and JSON paths that parse (each named by its key). */
function checkMirror(m: DefaultedConfig['mirror']): void {
  for (const [key, value] of [['mirror.percent', m.percent], ['mirror.noise.percent', m.noise.percent]] as const) {
    if (exactBuckets(value) === undefined) throw new ConfigError(`${key} must have at most two decimals (0.01 resolution), got ${value}`)
  }
  const paths = [...m.compare.ignore.map((p, i) => [`mirror.compare.ignore[${i}]`, p] as const), ...m.report.redactFields.map((p, i) => [`mirror.report.redactFields[${i}]`, p] as const)]
  for (const [key, path] of paths) {
    try {
      new PathMatcher([path])
    } catch (err) {
      throw new ConfigError(`${key} ${(err as Error).message}`)
    }
  }
}
