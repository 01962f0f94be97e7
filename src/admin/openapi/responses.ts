import { Type, type TSchema } from 'typebox'

// The answers of the admin API, for the OpenAPI document only: they are never given to fastify
// as `response` schemas, whose serializer would drop every field they do not list.

const Iso = Type.String({ format: 'date-time' })
const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()])

/** Fastify's error shape, with the catalog's code. */
export const ErrorAnswer = Type.Object(
  {
    statusCode: Type.Integer({ description: 'The HTTP status again' }),
    error: Type.String({ description: 'The status text, such as "Conflict"' }),
    message: Type.String({ description: 'What went wrong, in words, naming the field or the state' }),
    code: Type.String({ pattern: '^[A-Z][A-Z0-9_]+$', description: 'A `SY_ERR_*` code of the error catalog' }),
  },
  { description: 'A refusal: nothing changed' },
)

const RevertInfo = Type.Object({
  at: Iso,
  reason: Type.String(),
  errorRate: Type.Number(),
  requests: Type.Integer(),
})

/** GET /v1/split and every change of the split. */
export const SplitAnswer = Type.Object(
  {
    blue: Type.Number({ minimum: 0, maximum: 100, description: "Blue's share of new requests, in percent" }),
    green: Type.Number({ minimum: 0, maximum: 100, description: "Green's share of new requests, in percent" }),
    generation: Type.Integer({ minimum: 0, description: 'Rises by one on every change; send it back as `ifGeneration`' }),
    reverted: Nullable(RevertInfo),
  },
  { description: 'The live split; `reverted` tells why green was sent back to 0 by itself (null otherwise)' },
)

const TargetHealth = Type.Object({
  url: Type.String(),
  healthy: Type.Boolean({ description: 'Routable: not ejected and not actively unhealthy' }),
  active: Type.Union([Type.Literal('off'), Type.Literal('unknown'), Type.Literal('healthy'), Type.Literal('unhealthy')], {
    description: "The active health check's verdict",
  }),
  ejectedUntil: Nullable(Iso),
  consecutiveFailures: Type.Integer({ minimum: 0 }),
  lastError: Nullable(Type.String()),
  lastErrorAt: Nullable(Iso),
  inFlight: Type.Integer({ minimum: 0 }),
})

const ColorTargets = Type.Object({ targets: Type.Array(TargetHealth) })

/** GET /v1/upstreams. */
export const UpstreamsAnswer = Type.Object({ blue: ColorTargets, green: ColorTargets }, { description: "Each colour's targets with their health" })

/** PUT /v1/upstreams/{color}: the changed colour only. */
export const ColorUpstreamsAnswer = Type.Object(
  { blue: Type.Optional(ColorTargets), green: Type.Optional(ColorTargets) },
  { minProperties: 1, maxProperties: 1, description: "The changed colour's targets with their health" },
)

/** GET /v1/rollout and its actions: loosely typed beyond the fields a script reads. */
export const RolloutAnswer = Type.Object(
  {
    id: Type.String(),
    phase: Type.Union([Type.Literal('progressing'), Type.Literal('paused'), Type.Literal('succeeded'), Type.Literal('aborted')]),
    step: Type.Integer({ minimum: 1, description: 'The current step, from 1' }),
    steps: Type.Array(Type.Object({ green: Type.Number(), mirror: Type.Optional(Type.Number({ description: 'A mirror step: the share of blue\'s requests shadowed to green' })), holdMs: Type.Integer() })),
    green: Type.Number({ description: "Green's share now, in percent" }),
    holdLeftMs: Nullable(Type.Number()),
    startedAt: Iso,
    stepStartedAt: Iso,
    endedAt: Nullable(Iso),
    reason: Nullable(Type.String()),
    progressDeadlineMs: Type.Number(),
    skipAnalysis: Type.Boolean(),
    analysis: Type.Object(
      {
        checks: Type.Integer(),
        failedChecks: Type.Integer(),
        last: Type.Unknown({ description: 'The latest verdict with its numbers, or null' }),
      },
      { description: 'Settings, check counts, the latest verdict and the evidence of this step' },
    ),
  },
  { description: 'The rollout: its phase, steps, time left and analysis' },
)

/** GET /v1/status: loosely typed, it grows with the program. */
export const StatusAnswer = Type.Object(
  {
    status: Type.Union([Type.Literal('ok'), Type.Literal('degraded')]),
    split: SplitAnswer,
    state: Type.Object({ store: Type.String() }, { description: 'The state store: the file, or the Redis connection and the fleet' }),
    window: Type.Object({ seconds: Type.Number() }, { description: 'Per-colour requests, errors, errorRate and latencies of the sliding window' }),
    autoRevert: Type.Object({ enabled: Type.Boolean() }),
    evidence: Type.Object({ since: Iso }, { description: "The release's evidence per colour and each test's standing, with an `explain` in words" }),
    inFlight: Type.Object({ blue: Type.Integer(), green: Type.Integer() }),
    connections: Type.Object({ blue: Type.Object({}), green: Type.Object({}) }),
    upstreams: Type.Object({ blue: Type.Array(TargetHealth), green: Type.Array(TargetHealth) }),
    workers: Type.Array(Type.Object({})),
    rollout: Nullable(Type.Object({ id: Type.String(), phase: Type.String() })),
    mirror: Type.Object({ percent: Type.Number(), pairs: Type.Integer(), differing: Type.Integer() }, { description: 'Mirroring now, as GET /v1/mirror shows it' }),
  },
  { description: 'Everything at once: split, store, window stats, evidence, mirroring, connections, target health, workers, rollout' },
)

/** One entry of the audit log. */
const AuditEvent = Type.Object({
  id: Type.Optional(Type.Integer({ minimum: 1, description: 'Rises by one per event of the release: the event stream resumes after it (Last-Event-ID)' })),
  at: Iso,
  type: Type.String({ description: 'split, promote, rollback, revert, targets, step, pause, resume, abort, succeeded, degradation, skip-analysis, ...' }),
  from: Type.Unknown({ description: 'The split `{blue, green}` before, a target list for `targets`, a phase for pause/resume' }),
  to: Type.Unknown({ description: 'The same after' }),
  source: Type.String({ description: 'Who: api, auto-revert, rollout, ...' }),
  reason: Nullable(Type.String()),
})

/** GET /v1/events. */
export const EventsAnswer = Type.Array(AuditEvent, { description: 'The audit log, newest first' })

/** POST /v1/preview. */
export const PreviewAnswer = Type.Object(
  {
    color: Type.Union([Type.Literal('blue'), Type.Literal('green')]),
    expiresAt: Iso,
    path: Type.String({ description: 'The link on the proxy, without scheme and host' }),
    url: Type.String({ description: 'The whole link, on the proxy (override.publicUrl when set)' }),
  },
  { description: 'A signed link that shows a tester one colour until it expires' },
)

/** GET /healthz. */
export const LivenessAnswer = Type.Object(
  {
    status: Type.Union([Type.Literal('ok'), Type.Literal('degraded')]),
    detail: Type.Optional(Type.Object({}, { description: 'In fleet mode: how the shared store is doing' })),
  },
  { description: 'This process serves traffic' },
)

/** GET /readyz. */
export const ReadinessAnswer = Type.Object({ status: Type.String(), reason: Type.Optional(Type.String()) })

/** GET /metrics. */
export const MetricsAnswer = Type.String({ description: 'Prometheus text exposition of every proxy process' })

export const MirrorAnswer = Type.Object(
  {
    percent: Type.Number({ minimum: 0, maximum: 100, description: "Share of blue's requests whose shadows go to green" }),
    generation: Type.Integer({ description: "The split's generation" }),
    settings: Type.Object(
      {
        methods: Type.Array(Type.String()),
        maxBodySize: Type.Integer(),
        concurrency: Type.Integer(),
        timeout: Type.Integer({ description: 'ms' }),
        header: Type.String(),
        mode: Type.String(),
      },
      { description: 'How shadows are sent and compared (the `mirror` config)' },
    ),
    pairs: Type.Integer({ description: 'Pairs compared since the report began' }),
    differing: Type.Integer(),
    share: Type.Number({ description: 'differing / pairs' }),
    evidence: Type.Object(
      { since: Iso },
      { description: "The shadow evidence a rollout's mirror step is judged on: per-colour totals of the same mirrored requests, each test's standing with an `explain` in words" },
    ),
  },
  { description: 'Mirroring now' },
)

export const MirrorReportAnswer = Type.Object(
  {
    percent: Type.Number(),
    since: Iso,
    pairs: Type.Integer(),
    differing: Type.Integer(),
    share: Type.Number(),
    kinds: Type.Array(Type.Object({ kind: Type.String(), count: Type.Integer(), share: Type.Number() })),
    routes: Type.Array(Type.Object({ route: Type.String(), pairs: Type.Integer(), differing: Type.Integer(), share: Type.Number() })),
    examples: Type.Array(Type.Object({ route: Type.String(), method: Type.String(), path: Type.String() }), { description: 'A few differing pairs, redacted' }),
    noise: Type.Object({ routes: Type.Array(Type.Object({ route: Type.String() })) }, { description: 'Fields and headers learned as noise per route' }),
  },
  { description: "Where green's answers differ from blue's" },
)
