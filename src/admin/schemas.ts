import { Type } from 'typebox'

const Percent = { minimum: 0, maximum: 100 }
// The descriptions are for the OpenAPI document; they change no validation.
const IfGeneration = Type.Integer({ minimum: 0, description: 'Apply only if the split is still at this generation (else 409)' })
const Reason = Type.String({ maxLength: 500, description: 'Why, for the audit log' })
const Force = Type.Boolean({ description: 'Skip the health gate: green takes traffic even with no healthy target' })

/** PUT /v1/split. Which combination is allowed is checked in the handler (see splitFromBody). */
export const SplitBody = Type.Object(
  {
    green: Type.Optional(Type.Number({ ...Percent, description: "Green's share of new requests, in percent, 0.01 resolution" })),
    blue: Type.Optional(Type.Number({ ...Percent, description: "Blue's share instead (or as well, summing to 100)" })),
    ifGeneration: Type.Optional(IfGeneration),
    reason: Type.Optional(Reason),
    force: Type.Optional(Force),
  },
  { additionalProperties: false },
)

/** POST /v1/promote and /v1/rollback: a body is optional. */
export const ActionBody = Type.Union([
  Type.Null(),
  Type.Object(
    {
      ifGeneration: Type.Optional(IfGeneration),
      reason: Type.Optional(Reason),
      force: Type.Optional(Force),
    },
    { additionalProperties: false },
  ),
])

const Duration = Type.Union([Type.Integer({ minimum: 0 }), Type.String({ maxLength: 32 })], { description: 'Milliseconds, or a string such as "30s", "2m"' })

/** POST /v1/rollout: explicit steps or a step weight plan; the plan's logic is checked in control/. */
export const RolloutBody = Type.Union([
  Type.Null(),
  Type.Object(
    {
      steps: Type.Optional(
        Type.Array(
          Type.Object(
            {
              green: Type.Optional(Type.Number({ description: "A weight step: green's share of users" })),
              mirror: Type.Optional(Type.Number({ description: "A mirror step (first only): the share of blue's requests whose shadows go to green; no user reaches green" })),
              hold: Duration,
            },
            { additionalProperties: false },
          ),
          { maxItems: 1000, description: "Green's share at each step, rising, and how long each step holds; mirror steps first" },
        ),
      ),
      mirror: Type.Optional(
        Type.Object(
          { percent: Type.Number(), hold: Duration },
          { additionalProperties: false, description: 'A mirror stage before the steps: green is judged on shadows of this share of blue\'s requests for `hold`' },
        ),
      ),
      stepWeight: Type.Optional(Type.Number({ description: 'Instead of steps: raise green by this much each interval' })),
      maxWeight: Type.Optional(Type.Number({ description: '... up to this share, then promote' })),
      interval: Type.Optional(Duration),
      progressDeadline: Type.Optional(Duration),
      analysis: Type.Optional(
        Type.Object(
          {
            interval: Type.Optional(Duration),
            minRequests: Type.Optional(Type.Number()),
            confidence: Type.Optional(Type.Number()),
            maxErrorRate: Type.Optional(Type.Number()),
            maxP99: Type.Optional(Duration),
            latencyQuantile: Type.Optional(Type.Number()),
            maxLatencyIncrease: Type.Optional(
              Type.Object({ percent: Type.Optional(Type.Number()), ms: Type.Optional(Duration) }, { additionalProperties: false }),
            ),
          },
          { additionalProperties: false, description: 'Overrides of the configured analysis for this rollout' },
        ),
      ),
      reason: Type.Optional(Reason),
      force: Type.Optional(Force),
    },
    { additionalProperties: false },
  ),
])

/** GET /v1/mirror/report: in a fleet the sum of every replica's report, or `replica` for this one's. */
export const MirrorReportQuery = Type.Object(
  { scope: Type.Optional(Type.Union([Type.Literal('fleet'), Type.Literal('replica')], { description: 'fleet (default): every live replica\'s pairs summed; replica: this one\'s' })) },
  { additionalProperties: false },
)

/** PUT /v1/mirror. */
export const MirrorBody = Type.Object(
  {
    percent: Type.Number({ ...Percent, description: "Share of blue's requests (by sticky key) also sent to green as shadows, 0 to 100, 0.01 resolution" }),
    reason: Type.Optional(Reason),
  },
  { additionalProperties: false },
)

/** POST /v1/rollout/pause, /resume, /abort. */
export const ReasonBody = Type.Union([
  Type.Null(),
  Type.Object({ reason: Type.Optional(Reason) }, { additionalProperties: false }),
])

export const TargetsBody = Type.Object(
  {
    targets: Type.Array(Type.String({ minLength: 1, maxLength: 2048 }), { minItems: 1, maxItems: 64, description: 'http(s) URLs of the colour\'s servers, none twice' }),
    reason: Type.Optional(Reason),
  },
  { additionalProperties: false },
)

export const ColorParams = Type.Object({ color: Type.Union([Type.Literal('blue'), Type.Literal('green')]) })

export const EventsQuery = Type.Object(
  {
    limit: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,3}$', description: 'At most this many events, 1 to 9999' })),
    type: Type.Optional(Type.String({ pattern: '^[a-z-]+(,[a-z-]+)*$', description: 'Only these event types, comma-separated, e.g. revert,step' })),
    since: Type.Optional(
      Type.String({
        pattern: '^([0-9]{1,15}|[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+(Z|[+-][0-9]{2}:[0-9]{2}))$',
        description: 'Only events after this one: an event id, or an ISO time such as 2025-06-01T10:00:00Z',
      }),
    ),
  },
  { additionalProperties: false },
)

/** GET /v1/events/stream: the same filter of types, and whether to add the live stats. */
export const StreamQuery = Type.Object(
  {
    type: Type.Optional(Type.String({ pattern: '^[a-z-]+(,[a-z-]+)*$', description: 'Only these event types, comma-separated (`health` included)' })),
    stats: Type.Optional(Type.String({ pattern: '^(0|1|true|false)$', description: 'With 1 (or true): also one id-less `stats` frame a second' })),
  },
  { additionalProperties: false },
)

/** POST /v1/preview: a preview link for one colour. */
export const PreviewBody = Type.Object(
  {
    color: Type.Union([Type.Literal('blue'), Type.Literal('green')]),
    ttl: Type.Optional(Type.Union([Type.Integer({ minimum: 0 }), Type.String({ maxLength: 32 })], { description: 'How long the link works: milliseconds or "30m", "1h", from 1s to 7d; default 1h' })),
  },
  { additionalProperties: false },
)
