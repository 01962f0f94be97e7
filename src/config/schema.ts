/**
 * The config file's one schema: what an operator may write, what each key defaults to, and
 * how it converts. The type the program reads (`Config`, types.ts) and the defaults
 * (`DEFAULTS`, defaults.ts) both follow from it.
 */
import { availableParallelism } from 'node:os'
import { Type, type Static } from 'typebox'
import { OneOf, Port, strict } from './fields.js'
import { Convert, OrNull, WithDefault } from './schema-kit.js'
import { MirrorSchema } from './schema-mirror.js'
import { AutoRevertSchema, OverrideSchema, RolloutSchema, SplitSchema, StickySchema, WebhookSchema } from './schema-release.js'
import {
  AdminSchema,
  DrainSchema,
  HealthCheckSchema,
  LimitsSchema,
  OutlierDetectionSchema,
  ProxySchema,
  TimeoutsSchema,
  UpstreamsSchema,
} from './schema-traffic.js'

/** `state.redis` as written; load.ts resolves it (with SWITCHYARD_REDIS_URL) into RedisSettings. */
export const RedisSchema = Type.Object(
  {
    /** redis:// or rediss:// URL; with `sentinels` only its credentials, database and TLS apply. */
    url: Type.Optional(Type.String({ minLength: 1 })),
    /** Every key switchyard writes starts with this; one prefix per fleet. */
    keyPrefix: WithDefault(Type.String({ minLength: 1 }), 'switchyard:'),
    /** Redis Sentinel: `host:port` of each sentinel, and `name`, the master group they watch. */
    sentinels: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })),
    name: Type.Optional(Type.String({ minLength: 1 })),
  },
  strict,
)

/** `redis` set: the fleet shares its state through Redis; else the state file (one node). */
export const StateSchema = Type.Object({ file: WithDefault(Type.String({ minLength: 1 }), 'var/state.json'), redis: Type.Optional(RedisSchema) }, strict)

export const LogSchema = Type.Object(
  {
    level: WithDefault(OneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']), 'info'),
    /** auto: pretty lines on a terminal, JSON lines otherwise; pretty or json force one. */
    format: WithDefault(OneOf(['auto', 'pretty', 'json']), 'auto'),
    /** One line per proxied request (client, colour, target, status, duration, request id). */
    access: WithDefault(Type.Boolean(), false),
    /** Every proxied request carries an x-request-id upstream (the client's when valid, else a new one). */
    requestId: WithDefault(Type.Boolean(), true),
  },
  strict,
)

/** Proxy worker processes; 1 serves everything from one process, "auto" one per core. */
export const Workers = Convert(
  Type.Union([Type.Literal('auto'), Type.Integer({ minimum: 1, maximum: 256 })], { description: '"auto" (one per core) or an integer from 1 to 256' }),
  (workers) => (workers === 'auto' ? availableParallelism() : workers),
)

/** Built-in demo upstreams (blue answers v1, green v2): on when the section is present, unless `enabled: false`. */
export const DemoSchema = Convert(
  Type.Object({ enabled: WithDefault(Type.Boolean(), true), blue: WithDefault(Port, 3001), green: WithDefault(Port, 3002) }, strict),
  ({ enabled, blue, green }): { readonly blue: number; readonly green: number } | null => (enabled ? { blue, green } : null),
)

/** The config file as written by an operator: every section may be left out. */
export const RawConfigSchema = Type.Object(
  {
    proxy: WithDefault(ProxySchema, {}),
    admin: WithDefault(AdminSchema, {}),
    upstreams: WithDefault(UpstreamsSchema, {}),
    split: WithDefault(SplitSchema, {}),
    sticky: WithDefault(StickySchema, {}),
    override: WithDefault(OverrideSchema, {}),
    autoRevert: WithDefault(AutoRevertSchema, {}),
    state: WithDefault(StateSchema, {}),
    timeouts: WithDefault(TimeoutsSchema, {}),
    drain: WithDefault(DrainSchema, {}),
    limits: WithDefault(LimitsSchema, {}),
    healthCheck: WithDefault(HealthCheckSchema, {}),
    outlierDetection: WithDefault(OutlierDetectionSchema, {}),
    webhooks: WithDefault(Type.Array(WebhookSchema), []),
    rollout: WithDefault(RolloutSchema, {}),
    mirror: WithDefault(MirrorSchema, {}),
    log: WithDefault(LogSchema, {}),
    workers: WithDefault(Workers, 1),
    /** Null when absent or `enabled: false`. */
    demo: OrNull(DemoSchema),
  },
  strict,
)

export type RawConfig = Static<typeof RawConfigSchema>

// The validated config's types live beside the raw schema; most code imports them from here.
export { WEBHOOK_EVENTS } from './schema-release.js'
export * from './types.js'
