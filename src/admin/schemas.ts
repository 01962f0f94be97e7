import { Type } from 'typebox'

const Percent = Type.Number({ minimum: 0, maximum: 100 })

/** PUT /v1/split. Which combination is allowed is checked in the handler (see splitFromBody). */
export const SplitBody = Type.Object(
  {
    green: Type.Optional(Percent),
    blue: Type.Optional(Percent),
    ifGeneration: Type.Optional(Type.Integer({ minimum: 0 })),
    reason: Type.Optional(Type.String({ maxLength: 500 })),
    force: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
)

/** POST /v1/promote and /v1/rollback: a body is optional. */
export const ActionBody = Type.Union([
  Type.Null(),
  Type.Object(
    {
      ifGeneration: Type.Optional(Type.Integer({ minimum: 0 })),
      reason: Type.Optional(Type.String({ maxLength: 500 })),
      force: Type.Optional(Type.Boolean()),
    },
    { additionalProperties: false },
  ),
])

const Duration = Type.Union([Type.Integer({ minimum: 0 }), Type.String({ maxLength: 32 })])

/** POST /v1/rollout: explicit steps or a step weight plan; the plan's logic is checked in control/. */
export const RolloutBody = Type.Union([
  Type.Null(),
  Type.Object(
    {
      steps: Type.Optional(
        Type.Array(Type.Object({ green: Type.Number(), hold: Duration }, { additionalProperties: false }), { maxItems: 1000 }),
      ),
      stepWeight: Type.Optional(Type.Number()),
      maxWeight: Type.Optional(Type.Number()),
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
          { additionalProperties: false },
        ),
      ),
      reason: Type.Optional(Type.String({ maxLength: 500 })),
      force: Type.Optional(Type.Boolean()),
    },
    { additionalProperties: false },
  ),
])

/** POST /v1/rollout/pause, /resume, /abort. */
export const ReasonBody = Type.Union([
  Type.Null(),
  Type.Object({ reason: Type.Optional(Type.String({ maxLength: 500 })) }, { additionalProperties: false }),
])

export const TargetsBody = Type.Object(
  {
    targets: Type.Array(Type.String({ minLength: 1, maxLength: 2048 }), { minItems: 1, maxItems: 64 }),
    reason: Type.Optional(Type.String({ maxLength: 500 })),
  },
  { additionalProperties: false },
)

export const ColorParams = Type.Object({ color: Type.Union([Type.Literal('blue'), Type.Literal('green')]) })

export const EventsQuery = Type.Object(
  { limit: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,3}$' })) },
  { additionalProperties: false },
)

/** POST /v1/preview: a preview link for one colour. */
export const PreviewBody = Type.Object(
  {
    color: Type.Union([Type.Literal('blue'), Type.Literal('green')]),
    ttl: Type.Optional(Type.Union([Type.Integer({ minimum: 0 }), Type.String({ maxLength: 32 })])),
  },
  { additionalProperties: false },
)
