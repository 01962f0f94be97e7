import type { TSchema } from 'typebox'
import type { ErrorCode } from '../../errors.js'
import {
  ColorUpstreamsAnswer,
  EventsAnswer,
  LivenessAnswer,
  MetricsAnswer,
  PreviewAnswer,
  ReadinessAnswer,
  RolloutAnswer,
  SplitAnswer,
  StatusAnswer,
  UpstreamsAnswer,
} from './responses.js'
import { MIRROR_OPERATIONS } from './mirror-operations.js'
import { SERVICE_OPERATIONS } from './service-operations.js'

/** The groups of the reference, in the order the docs page shows them. */
export const TAGS = {
  split: 'The live split between blue and green, and its two shortcuts',
  upstreams: "Each colour's targets and their health",
  rollout: 'A stepped rollout with analysis: start, watch, pause, resume, abort, move on',
  observe: 'Status and the audit log',
  preview: 'Signed links that show a tester one colour',
  mirror: "Shadow traffic: blue's requests copied to green, and where green's answers differ",
  config: 'Re-reading the config file',
  probes: 'Liveness, readiness and metrics, without the token',
  services: 'Several services behind one switchyard: each route above also under `/v1/services/{service}/`, for that service',
} as const

/** One successful answer: its schema (the route's own `response` schema when it has one) and an example. */
export interface AnswerDoc {
  readonly description: string
  readonly schema?: TSchema
  readonly example: unknown
}

/** What the reference says about one route, beside the schemas fastify validates it with. */
export interface OperationDoc {
  readonly tag: keyof typeof TAGS
  readonly summary: string
  readonly description: string
  /**
   * Catalog codes this route can answer besides those added for it: 401 and 429 on every `/v1`
   * route, and SY_ERR_HTTP_400 on a route that validates a body, params or a query.
   */
  readonly errors?: readonly ErrorCode[]
  /** Named request bodies; each must pass the route's body schema. */
  readonly requests?: Readonly<Record<string, { readonly summary: string; readonly value: unknown }>>
  /** Successful answers by status. */
  readonly answers: Readonly<Record<number, AnswerDoc>>
  /** The answer's media type when it is not JSON. */
  readonly produces?: string
}

/** A write through the release's one writer can meet another replica's write or a store that is away. */
const STORE: readonly ErrorCode[] = ['SY_ERR_WRITE_CONFLICT', 'SY_ERR_STATE_UNAVAILABLE']
const GATE: readonly ErrorCode[] = ['SY_ERR_GENERATION_CONFLICT', 'SY_ERR_GREEN_UNHEALTHY', ...STORE]

const split = (blue: number, generation: number) => ({ blue, green: 100 - blue, generation, reverted: null })
const target = (url: string) => ({
  url,
  healthy: true,
  active: 'healthy',
  ejectedUntil: null,
  consecutiveFailures: 0,
  lastError: null,
  lastErrorAt: null,
  inFlight: 2,
})
const rollout = (phase: string, green: number) => ({
  id: '7d9cd647-08cf-4890-90cb-f017a314e724',
  phase,
  step: 2,
  steps: [5, 25, 50, 100].map((g) => ({ green: g, holdMs: g === 100 ? 0 : 120_000 })),
  green,
  holdLeftMs: 64_000,
  startedAt: '2025-06-01T10:00:00.000Z',
  stepStartedAt: '2025-06-01T10:02:00.000Z',
  endedAt: null,
  reason: 'release 1.8.0',
  progressDeadlineMs: 600_000,
  skipAnalysis: false,
  analysis: { checks: 56, failedChecks: 0, consecutiveFailures: 0, failureThreshold: 3, passedThisStep: true, last: null },
})
const rolloutAnswer = (description: string, phase: string, green = 25): AnswerDoc => ({ description, schema: RolloutAnswer, example: rollout(phase, green) })
const splitAnswer = (description: string, blue: number, generation: number): AnswerDoc => ({ description, schema: SplitAnswer, example: split(blue, generation) })

const ROLLOUT_ACTIONS: Record<string, { summary: string; description: string }> = {
  pause: { summary: 'Pause the rollout', description: 'Holds the current step: the split stays, the hold timer stops, analysis goes on.' },
  resume: { summary: 'Resume the rollout', description: 'Continues a paused rollout where it stopped.' },
  abort: { summary: 'Abort the rollout', description: 'Ends the rollout and sends green back to 0 %.' },
  'promote-step': { summary: 'Go to the next step now', description: 'Skips the rest of the hold and moves green to the next step.' },
  'skip-analysis': { summary: 'Skip analysis for this step', description: "The current step advances when its hold ends, whatever the analysis says." },
}

/** The reference of every admin route, keyed by `METHOD url` as fastify registers it. */
export const OPERATIONS: Readonly<Record<string, OperationDoc>> = {
  'GET /v1/split': {
    tag: 'split',
    summary: 'Read the split',
    description: "Blue's and green's shares of new requests, the generation to send back as `ifGeneration`, and why green was reverted, if it was.",
    answers: { 200: splitAnswer('The live split', 90, 7) },
  },
  'PUT /v1/split': {
    tag: 'split',
    summary: 'Set the split',
    description:
      'Sets `green`, `blue`, or both summing to 100 (0.01 resolution). With `ifGeneration` the change applies only if the split is still at that generation. Raising green needs a healthy green target unless `force` is sent. Answers once every proxy process routes with the new split; clears `reverted`.',
    errors: GATE,
    requests: {
      green: { summary: 'A quarter of new requests to green', value: { green: 25 } },
      guarded: { summary: 'Only if nobody changed it since generation 7', value: { green: 50, ifGeneration: 7, reason: 'p99 fine at 25 %' } },
      blue: { summary: 'Expressed as blue', value: { blue: 75 } },
    },
    answers: { 200: splitAnswer('The new split', 75, 8) },
  },
  'POST /v1/promote': {
    tag: 'split',
    summary: 'Send everything to green',
    description: 'Green to 100 %. The body is optional.',
    errors: GATE,
    requests: { reason: { summary: 'With a reason for the audit log', value: { reason: 'release 1.8.0 verified', ifGeneration: 8 } } },
    answers: { 200: splitAnswer('The new split', 0, 9) },
  },
  'POST /v1/rollback': {
    tag: 'split',
    summary: 'Send everything to blue',
    description: 'Green to 0 %. The body is optional.',
    errors: ['SY_ERR_GENERATION_CONFLICT', ...STORE],
    requests: { reason: { summary: 'With a reason for the audit log', value: { reason: 'p99 doubled' } } },
    answers: { 200: splitAnswer('The new split', 100, 9) },
  },
  'GET /v1/upstreams': {
    tag: 'upstreams',
    summary: "Read each colour's targets",
    description: 'Every target of each colour with its passive and active health and requests in flight.',
    answers: {
      200: { description: 'Targets with their health', schema: UpstreamsAnswer, example: { blue: { targets: [target('http://10.0.0.5:8000')] }, green: { targets: [target('http://10.0.0.7:8000')] } } },
    },
  },
  'PUT /v1/upstreams/:color': {
    tag: 'upstreams',
    summary: 'Point a colour at new targets',
    description:
      'New requests go to the new targets; requests in flight on the old ones finish. Each target is an http(s) URL, at most 64, none twice. Recorded as a `targets` event and kept with the state, so a fleet follows.',
    errors: STORE,
    requests: { one: { summary: 'Green on a new build', value: { targets: ['http://10.0.0.7:8000'], reason: 'build 1.8.0' } } },
    answers: { 200: { description: "The colour's new targets with their health", schema: ColorUpstreamsAnswer, example: { green: { targets: [target('http://10.0.0.7:8000')] } } } },
  },
  ...MIRROR_OPERATIONS,
  ...SERVICE_OPERATIONS,
  'GET /v1/rollout': {
    tag: 'rollout',
    summary: 'Read the rollout',
    description: 'The current or last rollout: phase, step, time left in the hold and the latest analysis verdict with its numbers.',
    errors: ['SY_ERR_NO_ROLLOUT'],
    answers: { 200: rolloutAnswer('The rollout', 'progressing') },
  },
  'POST /v1/rollout': {
    tag: 'rollout',
    summary: 'Start a rollout',
    description:
      'Explicit `steps`, or a `stepWeight` plan up to `maxWeight` every `interval`; `analysis` overrides the configured checks for this rollout. An empty body starts the configured default plan. Durations are milliseconds or strings such as "2m".',
    errors: ['SY_ERR_ROLLOUT_PLAN', 'SY_ERR_ROLLOUT_STATE', 'SY_ERR_GREEN_UNHEALTHY', ...STORE],
    requests: {
      steps: {
        summary: 'Explicit steps',
        value: { steps: [{ green: 5, hold: '2m' }, { green: 25, hold: '2m' }, { green: 50, hold: '5m' }, { green: 100, hold: 0 }], reason: 'release 1.8.0' },
      },
      weights: { summary: 'A step weight plan with stricter analysis', value: { stepWeight: 10, maxWeight: 50, interval: '1m', analysis: { maxErrorRate: 0.01 } } },
      mirrored: {
        summary: 'Judge green on shadows first, then on users',
        value: { steps: [{ mirror: 100, hold: '5m' }, { green: 5, hold: '2m' }, { green: 50, hold: '5m' }, { green: 100, hold: 0 }] },
      },
    },
    answers: { 201: rolloutAnswer('The rollout, started (its first step routes everywhere)', 'progressing', 5) },
  },
  ...Object.fromEntries(
    Object.entries(ROLLOUT_ACTIONS).map(([action, text]) => [
      `POST /v1/rollout/${action}`,
      {
        tag: 'rollout',
        ...text,
        errors: ['SY_ERR_ROLLOUT_STATE', ...STORE],
        requests: { reason: { summary: 'With a reason for the audit log', value: { reason: 'watching a p99 spike' } } },
        answers: { 200: rolloutAnswer('The rollout after the action', action === 'pause' ? 'paused' : action === 'abort' ? 'aborted' : 'progressing') },
      } satisfies OperationDoc,
    ]),
  ),
  'GET /v1/status': {
    tag: 'observe',
    summary: 'Read everything at once',
    description:
      'Status (`ok` or `degraded`), split, state store, per-colour window stats, auto-revert settings, the release evidence with an `explain` per test, requests in flight, connections, target health, workers and the rollout.',
    answers: {
      200: {
        description: 'The status',
        schema: StatusAnswer,
        example: {
          status: 'ok',
          split: split(90, 7),
          state: { store: 'file', file: '/var/lib/switchyard/state.json' },
          window: { seconds: 30 },
          autoRevert: { enabled: true },
          evidence: { since: '2025-06-01T10:00:00.000Z' },
          inFlight: { blue: 3, green: 1 },
          connections: { blue: {}, green: {} },
          upstreams: { blue: [target('http://10.0.0.5:8000')], green: [target('http://10.0.0.7:8000')] },
          workers: [{}],
          mirror: { percent: 0, generation: 7, settings: { methods: ['GET', 'HEAD', 'OPTIONS'], maxBodySize: 1_048_576, concurrency: 64, timeout: 30_000, header: 'x-switchyard-shadow', mode: 'json' }, pairs: 0, differing: 0, share: 0 },
          rollout: null,
        },
      },
    },
  },
  'GET /v1/events': {
    tag: 'observe',
    summary: 'Read the audit log',
    description:
      'Every change of the split, targets and rollout, newest first, with who and why. `limit` caps the count (1 to 9999); `type` keeps only some types (`revert,step`); `since` keeps the events after an event id or an ISO time. Target health changes are not in the log: each replica streams its own on GET /v1/events/stream.',
    answers: {
      200: {
        description: 'Audit events, newest first',
        schema: EventsAnswer,
        example: [{ at: '2025-06-01T10:02:00.000Z', type: 'step', from: { blue: 95, green: 5 }, to: { blue: 75, green: 25 }, source: 'rollout', reason: 'step 2 of 4' }],
      },
    },
  },
  'GET /v1/events/stream': {
    tag: 'observe',
    summary: 'Follow the audit log live (Server-Sent Events)',
    description:
      'Each event of the release as it happens, made here or through another replica: `id:` (rises by one per event), `event:` (its type) and `data:` (the event as JSON). Send `Last-Event-ID` when reconnecting to get the events missed meanwhile first (as far as the log reaches). `type` keeps only some types. ' +
      'Between them come frames without an `id:` (they leave Last-Event-ID alone and are not replayed): `event: health` when one of this replica\'s targets becomes routable or stops being so (active checks, ejection, the end of an ejection; `{at, type, target, color, healthy, why, active, ejectedUntil, replica}`), within a second; and with `stats=1`, once a second, `event: stats`: ' +
      "each colour's `requests`, `errors`, `errorRate`, `p50Ms` and `p99Ms` in the last whole second (`second`, epoch seconds; fleet-wide in a fleet), this replica's open `connections` and those `draining` on a colour at 0 %, a digest of the rollout (`id`, `phase`, `step`, `checks`, `verdictAt`) and, in a fleet, `fleet` (`replica`, `leader`, `members`). " +
      'A comment line every 15 s keeps the connection open; the stream ends when switchyard stops.',
    answers: {
      200: {
        description: 'An endless text/event-stream',
        example:
          'retry: 2000\n\nid: 42\nevent: revert\ndata: {"id":42,"at":"2025-06-01T10:02:00.000Z","type":"revert","from":{"blue":75,"green":25},"to":{"blue":100,"green":0},"source":"auto-revert","reason":"green error rate ..."}\n\n' +
          'event: health\ndata: {"type":"health","at":"2025-06-01T10:02:00.300Z","target":"http://10.0.0.7:8000","color":"green","healthy":false,"why":"ejected after 5 errors in a row: status 503","active":"off","ejectedUntil":"2025-06-01T10:02:30.000Z","replica":null}\n\n' +
          'event: stats\ndata: {"type":"stats","at":"2025-06-01T10:02:01.400Z","second":1748772120,"seconds":1,"blue":{"requests":180,"errors":0,"errorRate":0,"p50Ms":4.1,"p99Ms":22},"green":{"requests":0,"errors":0,"errorRate":0,"p50Ms":null,"p99Ms":null},"connections":{"blue":{"requests":3,"streams":1,"websockets":0},"green":{"requests":0,"streams":1,"websockets":2}},"draining":{"blue":0,"green":3},"rollout":null,"fleet":null}\n\n',
      },
    },
    produces: 'text/event-stream',
  },
  'POST /v1/preview': {
    tag: 'preview',
    summary: 'Make a preview link',
    description: 'A signed link that shows a tester one colour in any browser (the proxy sets a cookie) until it expires. `ttl` from 1s to 7d, default 1h.',
    errors: ['SY_ERR_BAD_REQUEST', 'SY_ERR_PREVIEW_OFF'],
    requests: { green: { summary: 'Green for an hour', value: { color: 'green', ttl: '1h' } } },
    answers: {
      201: {
        description: 'The link',
        schema: PreviewAnswer,
        example: { color: 'green', expiresAt: '2025-06-01T11:00:00.000Z', path: '/.well-known/switchyard/preview?token=green.tpe59c.shjq', url: 'https://shop.example.com/.well-known/switchyard/preview?token=green.tpe59c.shjq' },
      },
    },
  },
  'POST /v1/reload': {
    tag: 'config',
    summary: 'Re-read the config file',
    description: 'Like SIGHUP: re-reads the config file and applies targets, timeouts and thresholds; the live split stays. Answers with the keys that changed and those that wait for a restart.',
    errors: ['SY_ERR_RELOAD_REFUSED', 'SY_ERR_RELOAD_OFF'],
    answers: { 200: { description: 'What changed', example: { reloaded: true, changed: ['upstreams.green.targets'], restartRequired: [] } } },
  },
  'GET /healthz': {
    tag: 'probes',
    summary: 'Liveness',
    description: 'Always 200 while this process serves traffic; in fleet mode `degraded` with a `detail` while Redis is away.',
    answers: { 200: { description: 'Serving', schema: LivenessAnswer, example: { status: 'ok' } } },
  },
  'GET /readyz': {
    tag: 'probes',
    summary: 'Readiness',
    description: 'For load balancers and Kubernetes: 503 while stopping, or while a fleet replica has not yet read the fleet\'s split.',
    answers: {
      200: { description: 'Ready for new traffic', schema: ReadinessAnswer, example: { status: 'ready' } },
      503: { description: 'Send new traffic elsewhere', schema: ReadinessAnswer, example: { status: 'not ready', reason: 'stopping: draining the requests in flight' } },
    },
  },
  'GET /metrics': {
    tag: 'probes',
    summary: 'Prometheus metrics',
    description: 'The metrics of every proxy process in the Prometheus text format.',
    produces: 'text/plain',
    answers: { 200: { description: 'Prometheus text', schema: MetricsAnswer, example: 'switchyard_requests_total{color="green",status="2xx"} 1024\n' } },
  },
}
