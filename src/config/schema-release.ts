/** The config's release sections: the split, who sees which colour, and how a release is judged. */
import { Type } from 'typebox'
import { COOKIE_NAME, Duration, OneOf, strict } from './fields.js'
import { Convert, WithDefault } from './schema-kit.js'

export const SplitSchema = Type.Object({ green: WithDefault(Type.Number({ minimum: 0, maximum: 100 }), 0) }, strict)

export const StickySchema = Type.Object(
  {
    // No app cookie (apps rotate them at login) and no "ip" (one address behind a balancer) unless asked for.
    keys: WithDefault(Type.Array(Type.String()), ['header:x-user-id']),
    /** "" = no cookie. */
    cookie: WithDefault(Type.String({ pattern: `^${COOKIE_NAME}*$` }), 'sy_sid'),
    cookieMaxAge: WithDefault(Duration, '1d'),
    cookieSameSite: WithDefault(OneOf(['auto', 'Lax', 'Strict', 'None']), 'auto'),
    cookieSecure: WithDefault(OneOf(['auto', 'always', 'never']), 'auto'),
    /** perRelease: each release (a rollout start, new green targets) draws a new group of users for green. */
    reshuffle: WithDefault(OneOf(['perRelease', 'never']), 'perRelease'),
  },
  strict,
)

export const OverrideSchema = Type.Object(
  {
    header: WithDefault(Type.String(), 'x-switchyard-color'),
    /** Signs preview links; SWITCHYARD_PREVIEW_SECRET overrides it, else drawn at random at start. */
    previewSecret: Type.Optional(Type.String({ minLength: 16, description: 'a secret of at least 16 characters' })),
    previewCookie: WithDefault(Type.String({ pattern: `^${COOKIE_NAME}+$`, description: 'a cookie name' }), 'sy_preview'),
    /**
     * Where testers reach the proxy, for the preview links the admin API hands out; read
     * without trailing slashes. "" (not a value to write) = the proxy's own address.
     */
    publicUrl: WithDefault(
      Convert(Type.String({ pattern: '^https?://', description: 'an http:// or https:// URL' }), (url) => url.replace(/\/+$/, '')),
      '',
    ),
  },
  strict,
)

export const AutoRevertSchema = Type.Object(
  {
    enabled: WithDefault(Type.Boolean(), true),
    window: WithDefault(Duration, '30s'),
    /** Kept for compatibility: how much evidence is enough is the sequential test's call. */
    minRequests: WithDefault(Type.Integer({ minimum: 1 }), 20),
    maxErrorRate: WithDefault(Type.Number({ minimum: 0, maximum: 1 }), 0.05),
    /** The ceiling counts against green only while blue stays under it (else: shared degradation). */
    ceilingVsBlue: WithDefault(Type.Boolean(), true),
  },
  strict,
)

/** How route groups are formed for per-route outcomes. */
export const RouteGroupsSchema = Type.Object(
  {
    /** Path segments that make a group when no prefix matches (0 = one group for everything). */
    depth: WithDefault(Type.Integer({ minimum: 0, maximum: 8 }), 1),
    /** Most route groups tracked, the first seen; any further one is judged with the rest as "other". */
    max: WithDefault(Type.Integer({ minimum: 0, maximum: 100 }), 10),
    /** Prefixes or templates (`/v1/models/:id/chat`) that name a group; the longest match wins. */
    prefixes: WithDefault(Type.Array(Type.String({ pattern: '^/', description: 'a path that starts with "/"' }), { maxItems: 100 }), []),
  },
  strict,
)

export const AnalysisSchema = Type.Object(
  {
    /** How often a rollout looks at the evidence (the evidence itself is anytime-valid). */
    interval: WithDefault(Duration, '1s'),
    /** Green requests a step must have served before it can pass (never a gate on failing). */
    minRequests: WithDefault(Type.Integer({ minimum: 1 }), 50),
    /** 1 - confidence bounds the chance a healthy green is ever failed, over all tests and looks. */
    confidence: WithDefault(Type.Number({ minimum: 0.5, maximum: 0.9999 }), 0.99),
    /** Ceiling on green's error rate during a rollout (judged against blue's, see ceilingVsBlue). */
    maxErrorRate: WithDefault(Type.Number({ minimum: 0, maximum: 1 }), 0.05),
    /** Deprecated: the latency test is maxLatencyIncrease; accepted and ignored. */
    maxP99Ratio: WithDefault(Type.Number({ minimum: 1 }), 1.5),
    /** Latencies under this many ms never count as slow (0 = no cap). */
    maxP99: WithDefault(Duration, 0),
    /** Deprecated: the sequential test decides once; accepted and ignored. */
    failureThreshold: WithDefault(Type.Integer({ minimum: 1, maximum: 100 }), 3),
    /** Green is slower only when slower by more than both: percent and ms. */
    maxLatencyIncrease: WithDefault(
      Type.Object({ percent: WithDefault(Type.Number({ minimum: 0, maximum: 1000 }), 10), ms: WithDefault(Duration, '5ms') }, strict),
      {},
    ),
    /** The quantile of blue's latency that sets the "slow" threshold. */
    latencyQuantile: WithDefault(Type.Number({ minimum: 0.5, maximum: 0.999 }), 0.9),
    /** A client that leaves after waiting this long with no first byte: a failure of the colour (0 = off). */
    abandonAfter: WithDefault(Duration, '5s'),
    routes: WithDefault(RouteGroupsSchema, {}),
  },
  strict,
)

/** The defaults of `POST /v1/rollout`. */
export const RolloutSchema = Type.Object(
  {
    stepWeight: WithDefault(Type.Number({ minimum: 0.01, maximum: 100 }), 10),
    maxWeight: WithDefault(Type.Number({ minimum: 0.01, maximum: 100 }), 100),
    /** Hold per step of a stepWeight plan. */
    interval: WithDefault(Duration, '1m'),
    swapOnPromote: WithDefault(Type.Boolean(), false),
    /** A rollout whose step stays undecided this long past its hold pauses (0 = never). */
    progressDeadline: WithDefault(Duration, '10m'),
    analysis: WithDefault(AnalysisSchema, {}),
  },
  strict,
)

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
  'mirror',
] as const

export const WebhookSchema = Type.Object(
  {
    url: Type.String({ minLength: 1 }),
    /** Empty means every event; load.ts checks each against WEBHOOK_EVENTS. */
    events: WithDefault(Type.Array(Type.String({ minLength: 1 })), []),
    secret: Type.Optional(Type.String({ minLength: 1 })),
    timeout: WithDefault(Duration, '5s'),
    retries: WithDefault(Type.Integer({ minimum: 0, maximum: 10 }), 3),
  },
  strict,
)
