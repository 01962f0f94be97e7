import { Type, type Static } from 'typebox'
import { DURATION_PATTERN } from './duration.js'

const Duration = Type.Union([Type.Integer({ minimum: 0 }), Type.String({ pattern: DURATION_PATTERN })], {
  description: 'a duration: 500ms, 30s, 5m, 1h or an integer of milliseconds',
})
const Port = Type.Integer({ minimum: 0, maximum: 65535 })
const Host = Type.String({ minLength: 1 })
const Targets = Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })
const strict = { additionalProperties: false } as const
const File = Type.String({ minLength: 1 })
const TlsPair = Type.Object({ cert: File, key: File, servername: Type.Optional(Type.String({ minLength: 1 })) }, strict)
const TlsFront = Type.Union([TlsPair, Type.Array(TlsPair, { minItems: 1 })], {
  description: 'a {cert, key} pair of PEM files, or a list of them (each with an optional servername)',
})

/** The config file as written by an operator. Every key has a default except none. */
export const RawConfigSchema = Type.Object(
  {
    proxy: Type.Optional(
      Type.Object(
        {
          host: Type.Optional(Host),
          port: Type.Optional(Port),
          tls: Type.Optional(TlsFront),
          redirectHttp: Type.Optional(Port),
          trustedProxies: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
        },
        strict,
      ),
    ),
    admin: Type.Optional(
      Type.Object(
        { host: Type.Optional(Host), port: Type.Optional(Port), token: Type.Optional(Type.String()), tls: Type.Optional(TlsFront) },
        strict,
      ),
    ),
    upstreams: Type.Optional(
      Type.Object(
        {
          blue: Type.Optional(Type.Object({ targets: Targets }, strict)),
          green: Type.Optional(Type.Object({ targets: Targets }, strict)),
          tls: Type.Optional(
            Type.Object(
              {
                ca: Type.Optional(File),
                insecureSkipVerify: Type.Optional(Type.Boolean()),
                servername: Type.Optional(Type.String({ minLength: 1 })),
              },
              strict,
            ),
          ),
        },
        strict,
      ),
    ),
    split: Type.Optional(Type.Object({ green: Type.Optional(Type.Number({ minimum: 0, maximum: 100 })) }, strict)),
    sticky: Type.Optional(
      Type.Object(
        {
          keys: Type.Optional(Type.Array(Type.String())),
          cookie: Type.Optional(Type.String({ pattern: "^[!#$%&'*+\\-.^_`|~0-9A-Za-z]*$" })),
          cookieMaxAge: Type.Optional(Duration),
          cookieSameSite: Type.Optional(Type.Union(['auto', 'Lax', 'Strict', 'None'].map((v) => Type.Literal(v)))),
          cookieSecure: Type.Optional(Type.Union(['auto', 'always', 'never'].map((v) => Type.Literal(v)))),
          reshuffle: Type.Optional(Type.Union(['perRelease', 'never'].map((v) => Type.Literal(v)))),
        },
        strict,
      ),
    ),
    override: Type.Optional(
      Type.Object(
        {
          header: Type.Optional(Type.String()),
          previewSecret: Type.Optional(Type.String({ minLength: 16, description: 'a secret of at least 16 characters' })),
          previewCookie: Type.Optional(Type.String({ pattern: "^[!#$%&'*+\\-.^_`|~0-9A-Za-z]+$", description: 'a cookie name' })),
          publicUrl: Type.Optional(Type.String({ pattern: '^https?://', description: 'an http:// or https:// URL' })),
        },
        strict,
      ),
    ),
    autoRevert: Type.Optional(
      Type.Object(
        {
          enabled: Type.Optional(Type.Boolean()),
          window: Type.Optional(Duration),
          minRequests: Type.Optional(Type.Integer({ minimum: 1 })),
          maxErrorRate: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
          ceilingVsBlue: Type.Optional(Type.Boolean()),
        },
        strict,
      ),
    ),
    state: Type.Optional(
      Type.Object(
        {
          file: Type.Optional(Type.String({ minLength: 1 })),
          redis: Type.Optional(
            Type.Object(
              {
                url: Type.Optional(Type.String({ minLength: 1 })),
                keyPrefix: Type.Optional(Type.String({ minLength: 1 })),
                sentinels: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })),
                name: Type.Optional(Type.String({ minLength: 1 })),
              },
              strict,
            ),
          ),
        },
        strict,
      ),
    ),
    timeouts: Type.Optional(
      Type.Object(
        {
          connect: Type.Optional(Duration),
          request: Type.Optional(Duration),
          idle: Type.Optional(Duration),
          header: Type.Optional(Duration),
          body: Type.Optional(Duration),
        },
        strict,
      ),
    ),
    drain: Type.Optional(Type.Object({ deadline: Type.Optional(Duration) }, strict)),
    limits: Type.Optional(
      Type.Object(
        {
          maxBodySize: Type.Optional(Type.Integer({ minimum: 0 })),
          maxHeaderSize: Type.Optional(Type.Integer({ minimum: 1024, maximum: 1_048_576 })),
          maxConnectionsPerTarget: Type.Optional(Type.Integer({ minimum: 0, maximum: 100_000 })),
          maxPending: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 })),
        },
        strict,
      ),
    ),
    healthCheck: Type.Optional(
      Type.Object(
        {
          path: Type.Optional(Type.String({ pattern: '^(/.*)?$' })),
          interval: Type.Optional(Duration),
          timeout: Type.Optional(Duration),
          healthyThreshold: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
          unhealthyThreshold: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
        },
        strict,
      ),
    ),
    outlierDetection: Type.Optional(
      Type.Object(
        {
          consecutiveErrors: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000 })),
          ejectionTime: Type.Optional(Duration),
        },
        strict,
      ),
    ),
    webhooks: Type.Optional(
      Type.Array(
        Type.Object(
          {
            url: Type.String({ minLength: 1 }),
            events: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
            secret: Type.Optional(Type.String({ minLength: 1 })),
            timeout: Type.Optional(Duration),
            retries: Type.Optional(Type.Integer({ minimum: 0, maximum: 10 })),
          },
          strict,
        ),
      ),
    ),
    rollout: Type.Optional(
      Type.Object(
        {
          stepWeight: Type.Optional(Type.Number({ minimum: 0.01, maximum: 100 })),
          maxWeight: Type.Optional(Type.Number({ minimum: 0.01, maximum: 100 })),
          interval: Type.Optional(Duration),
          swapOnPromote: Type.Optional(Type.Boolean()),
          progressDeadline: Type.Optional(Duration),
          analysis: Type.Optional(
            Type.Object(
              {
                interval: Type.Optional(Duration),
                minRequests: Type.Optional(Type.Integer({ minimum: 1 })),
                confidence: Type.Optional(Type.Number({ minimum: 0.5, maximum: 0.9999 })),
                maxErrorRate: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
                maxP99Ratio: Type.Optional(Type.Number({ minimum: 1 })),
                maxP99: Type.Optional(Duration),
                failureThreshold: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
                maxLatencyIncrease: Type.Optional(
                  Type.Object({ percent: Type.Optional(Type.Number({ minimum: 0, maximum: 1000 })), ms: Type.Optional(Duration) }, strict),
                ),
                latencyQuantile: Type.Optional(Type.Number({ minimum: 0.5, maximum: 0.999 })),
                abandonAfter: Type.Optional(Duration),
                routes: Type.Optional(
                  Type.Object(
                    {
                      depth: Type.Optional(Type.Integer({ minimum: 0, maximum: 8 })),
                      max: Type.Optional(Type.Integer({ minimum: 0, maximum: 100 })),
                      prefixes: Type.Optional(Type.Array(Type.String({ pattern: '^/', description: 'a path that starts with "/"' }), { maxItems: 100 })),
                    },
                    strict,
                  ),
                ),
              },
              strict,
            ),
          ),
        },
        strict,
      ),
    ),
    log: Type.Optional(
      Type.Object(
        {
          level: Type.Optional(
            Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l))),
          ),
          access: Type.Optional(Type.Boolean()),
        },
        strict,
      ),
    ),
    workers: Type.Optional(
      Type.Union([Type.Literal('auto'), Type.Integer({ minimum: 1, maximum: 256 })], {
        description: '"auto" (one per core) or an integer from 1 to 256',
      }),
    ),
    demo: Type.Optional(
      Type.Object({ enabled: Type.Optional(Type.Boolean()), blue: Type.Optional(Port), green: Type.Optional(Port) }, strict),
    ),
  },
  strict,
)

export type RawConfig = Static<typeof RawConfigSchema>

/** `state.redis`: where a fleet of replicas keeps its one split. */
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

/** The validated, defaulted, frozen config. Durations are milliseconds. */

export interface Config {
  readonly proxy: {
    readonly host: string
    readonly port: number
    /** HTTPS when set: the certificates' PEM files, the first the default (SNI picks the others). */
    readonly tls: readonly TlsFileSettings[] | null
    /** A plain HTTP port that answers 308 to HTTPS; 0 = none. */
    readonly redirectHttp: number
    /** Peers (addresses, CIDRs) whose X-Forwarded-* headers are kept and believed. */
    readonly trustedProxies: readonly string[]
  }
  readonly admin: { readonly host: string; readonly port: number; readonly token: string | undefined; readonly tls: readonly TlsFileSettings[] | null }
  /** Targets per colour; empty only when the demo upstreams fill them in at start. */
  readonly upstreams: {
    readonly blue: { readonly targets: readonly string[] }
    readonly green: { readonly targets: readonly string[] }
    /** How https:// targets (both colours) are verified. */
    readonly tls: UpstreamTlsSettings
  }
  readonly split: { readonly green: number }
  readonly sticky: {
    readonly keys: readonly string[]
    readonly cookie: string
    readonly cookieMaxAge: number
    readonly cookieSameSite: 'auto' | 'Lax' | 'Strict' | 'None'
    readonly cookieSecure: 'auto' | 'always' | 'never'
    /** perRelease: each release (a rollout start, new green targets) draws a new group of users for green. */
    readonly reshuffle: 'perRelease' | 'never'
  }
  readonly override: {
    readonly header: string
    /** Signs preview links; drawn at random at start when not configured (links then end with the process). */
    readonly previewSecret: string
    readonly previewSecretRandom: boolean
    readonly previewCookie: string
    /** Where testers reach the proxy, for the preview links the admin API hands out ("" = the proxy's own address). */
    readonly publicUrl: string
  }
  readonly autoRevert: {
    readonly enabled: boolean
    readonly window: number
    readonly minRequests: number
    readonly maxErrorRate: number
    /** The ceiling counts against green only while blue stays under it (else: shared degradation). */
    readonly ceilingVsBlue: boolean
  }
  /** `redis` set: the fleet shares its state through Redis; else the state file (one node). */
  readonly state: { readonly file: string; readonly redis: RedisSettings | null }
  /** `header`: longest wait for a client's request headers (node's headersTimeout). */
  readonly timeouts: { readonly connect: number; readonly request: number; readonly idle: number; readonly header: number; readonly body: number }
  readonly drain: { readonly deadline: number }
  /** Request size and upstream queue limits; 0 means none (see ProxyLimits). */
  readonly limits: {
    readonly maxBodySize: number
    readonly maxHeaderSize: number
    readonly maxConnectionsPerTarget: number
    readonly maxPending: number
  }
  /** Active health checks of every target; `path: ""` (the default) turns them off. */
  readonly healthCheck: HealthCheckSettings
  /** Passive ejection of a target after consecutive errors; consecutiveErrors 0 turns it off. */
  readonly outlierDetection: { readonly consecutiveErrors: number; readonly ejectionTime: number }
  readonly webhooks: readonly WebhookSettings[]
  readonly rollout: RolloutSettings
  readonly log: { readonly level: string; readonly access: boolean }
  /** Proxy worker processes; 1 serves everything from one process. */
  readonly workers: number
  /** Built-in demo upstreams (blue answers v1, green v2); null when off. */
  readonly demo: { readonly blue: number; readonly green: number } | null
}

/** One certificate of a TLS listener: PEM files and an optional SNI name. */
export interface TlsFileSettings {
  readonly cert: string
  readonly key: string
  /** The SNI name this certificate answers; absent: the names in the certificate. */
  readonly servername?: string | undefined
}

/** Verification of https:// upstream targets. */
export interface UpstreamTlsSettings {
  /** A PEM file of the CAs to trust instead of Node's bundled ones; null = the bundled ones. */
  readonly ca: string | null
  /** Accept any certificate (testing only). */
  readonly insecureSkipVerify: boolean
  /** The name to send as SNI and to verify the certificate against; null = the target's host. */
  readonly servername: string | null
}

export interface HealthCheckSettings {
  readonly path: string
  readonly interval: number
  readonly timeout: number
  readonly healthyThreshold: number
  readonly unhealthyThreshold: number
}

/** Events a webhook can ask for. */
export const WEBHOOK_EVENTS = [
  'step',
  'pause',
  'resume',
  'abort',
  'revert',
  'promote',
  'succeeded',
  'split',
  'rollback',
  'targets',
  'degradation',
  'skip-analysis',
] as const
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number]

export interface WebhookSettings {
  readonly url: string
  /** Empty means every event. */
  readonly events: readonly WebhookEvent[]
  readonly secret: string | undefined
  readonly timeout: number
  readonly retries: number
}

/** How route groups are formed for per-route outcomes. */
export interface RouteGroupSettings {
  /** Path segments that make a group when no prefix matches (0 = one group for everything). */
  readonly depth: number
  /** Most route groups tracked, the first seen; any further one is judged with the rest as "other". */
  readonly max: number
  /** Prefixes or templates (`/v1/models/:id/chat`) that name a group; the longest match wins. */
  readonly prefixes: readonly string[]
}

export interface AnalysisSettings {
  /** How often a rollout looks at the evidence (the evidence itself is anytime-valid). */
  readonly interval: number
  /** Green requests a step must have served before it can pass (never a gate on failing). */
  readonly minRequests: number
  /** 1 - confidence bounds the chance a healthy green is ever failed, over all tests and looks. */
  readonly confidence: number
  /** Ceiling on green's error rate during a rollout (judged against blue's, see ceilingVsBlue). */
  readonly maxErrorRate: number
  /** Deprecated: the latency test is maxLatencyIncrease; accepted and ignored. */
  readonly maxP99Ratio: number
  /** Latencies under this many ms never count as slow (0 = no cap). */
  readonly maxP99: number
  /** Deprecated: the sequential test decides once; accepted and ignored. */
  readonly failureThreshold: number
  /** Green is slower only when slower by more than both: percent and ms. */
  readonly maxLatencyIncrease: { readonly percent: number; readonly ms: number }
  /** The quantile of blue's latency that sets the "slow" threshold. */
  readonly latencyQuantile: number
  /** A client that leaves after waiting this long with no first byte: a failure of the colour (0 = off). */
  readonly abandonAfter: number
  readonly routes: RouteGroupSettings
}

export interface RolloutSettings {
  readonly stepWeight: number
  readonly maxWeight: number
  /** Hold per step of a stepWeight plan. */
  readonly interval: number
  readonly swapOnPromote: boolean
  /** A rollout whose step stays undecided this long past its hold pauses (0 = never). */
  readonly progressDeadline: number
  readonly analysis: AnalysisSettings
}
