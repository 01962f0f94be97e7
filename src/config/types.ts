/**
 * The validated, defaulted, frozen config and its parts, as the rest of switchyard reads them.
 * Every type here is derived from the schema (schema.ts), so a key, its type and its default
 * are written once; only the keys load.ts computes from more than their own value (a random
 * secret, Redis's sentinels and URL) are spelled out, each where it differs.
 */
import type { TlsFileSettings } from './fields.js'
import type { Resolved } from './schema-kit.js'
import type { WEBHOOK_EVENTS, WebhookSchema } from './schema-release.js'
import type { RawConfigSchema } from './schema.js'
import type { ServiceSpec } from './services.js'

/** What the schema alone resolves a config file to: defaults filled, durations in milliseconds. */
export type DefaultedConfig = Resolved<typeof RawConfigSchema>

/** `T` with the keys of `U` replaced by U's (optional and readonly modifiers kept). */
type Override<T, U> = Flat<Omit<T, keyof U> & U>
type Flat<T> = { [K in keyof T]: T[K] }

/** The validated, defaulted, frozen config. Durations are milliseconds. */
export type Config = Override<
  DefaultedConfig,
  {
    /**
     * `previewSecret`: SWITCHYARD_PREVIEW_SECRET, the file's, or drawn at random at start (links
     * then end with the process), which `previewSecretRandom` says.
     */
    readonly override: Override<DefaultedConfig['override'], { readonly previewSecret: string; readonly previewSecretRandom: boolean }>
    /** `redis`: null unless the file or SWITCHYARD_REDIS_URL asks for it. */
    readonly state: Override<DefaultedConfig['state'], { readonly redis: RedisSettings | null }>
    readonly webhooks: readonly WebhookSettings[]
    /** Several services (config/services.ts), each with its whole effective config; null: one, `default`, matching everything. */
    readonly services: readonly ServiceSpec[] | null
  }
>

/**
 * `state.redis` resolved: where a fleet of replicas keeps its one split. Written out because
 * its shape is not the file's: the URL may come from the environment, and `sentinels` plus
 * `name` become one `sentinel` of parsed hosts.
 */
export interface RedisSettings {
  /**
   * redis:// or rediss:// URL; may carry a password (never logged). With `sentinels`, only
   * its credentials, database and TLS apply: the sentinels say where the master is.
   */
  readonly url: string
  /** Every key switchyard writes starts with this; one prefix per fleet. */
  readonly keyPrefix: string
  /** Redis Sentinel: where the sentinels are, and the name of the master group they watch. */
  readonly sentinel: { readonly hosts: readonly { readonly host: string; readonly port: number }[]; readonly name: string } | null
}

export type { TlsFileSettings }
/** Verification of https:// upstream targets. */
export type UpstreamTlsSettings = Config['upstreams']['tls']
/** Active health checks; `path: ""` turns them off. */
export type HealthCheckSettings = Config['healthCheck']
/** The `autoRevert` section. */
export type AutoRevertSettings = Config['autoRevert']
/** The `rollout` section: the defaults of a rollout plan. */
export type RolloutSettings = Config['rollout']
/** `rollout.analysis`: how a rollout judges green. */
export type AnalysisSettings = RolloutSettings['analysis']
/** `rollout.analysis.routes`: how route groups are formed for per-route outcomes. */
export type RouteGroupSettings = AnalysisSettings['routes']

export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number]
/** One webhook; `events` is narrowed by load.ts's check (empty means every event). */
export type WebhookSettings = Override<Resolved<typeof WebhookSchema>, { readonly events: readonly WebhookEvent[] }>
