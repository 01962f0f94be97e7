/** Resolves `state.redis` and SWITCHYARD_REDIS_URL into the fleet's RedisSettings. */
import { redactUrl } from './addresses.js'
import { ConfigError } from './config-error.js'
import { resolveSchema, type Resolved } from './schema-kit.js'
import { RedisSchema, type RedisSettings } from './schema.js'

/**
 * The fleet's Redis, or null for a single node: `redis` is the file's `state.redis` (defaults
 * filled), `envUrl` SWITCHYARD_REDIS_URL, which overrides its url and alone turns Redis on.
 */
export function redisSettings(redis: Resolved<typeof RedisSchema> | undefined, envUrl: string | undefined): RedisSettings | null {
  if (redis === undefined && (envUrl === undefined || envUrl === '')) return null
  const raw = redis ?? resolveSchema(RedisSchema, {}, 'state.redis')
  const sentinels = raw.sentinels
  if (sentinels !== undefined && raw.name === undefined) {
    throw new ConfigError('state.redis.name is required with state.redis.sentinels: the master group the sentinels watch (e.g. mymaster)')
  }
  if (raw.name !== undefined && sentinels === undefined) throw new ConfigError('state.redis.name needs state.redis.sentinels')
  const hosts = (sentinels ?? []).map((entry, i) => {
    const match = /^(\[[0-9a-fA-F:]+\]|[^:\s/]+):(\d{1,5})$/.exec(entry)
    const port = Number(match?.[2])
    if (match === null || port < 1 || port > 65535) {
      throw new ConfigError(`state.redis.sentinels[${i}] must be host:port (e.g. 10.0.0.5:26379), got "${entry}"`)
    }
    return { host: match[1]!.replace(/^\[|\]$/g, ''), port }
  })
  // With sentinels the URL only carries credentials, database and TLS, so it may be left out.
  const url = envUrl !== undefined && envUrl !== '' ? envUrl : (raw.url ?? (sentinels === undefined ? undefined : 'redis://localhost'))
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
  return { url, keyPrefix: raw.keyPrefix, sentinel: sentinels === undefined ? null : { hosts, name: raw.name! } }
}
