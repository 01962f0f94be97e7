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

// The validated config's types live beside the raw schema; most code imports them from here.
export * from './types.js'
