import type { ErrorCode } from '../../errors.js'
import type { OperationDoc } from './operations.js'
import { MirrorAnswer, MirrorReportAnswer } from './responses.js'

/** The reference of the mirror routes (GET/PUT /v1/mirror, GET/DELETE /v1/mirror/report). */

const STORE: readonly ErrorCode[] = ['SY_ERR_WRITE_CONFLICT', 'SY_ERR_STATE_UNAVAILABLE']

const mirror = (percent: number) => ({
  percent,
  generation: 7,
  settings: { methods: ['GET', 'HEAD', 'OPTIONS'], maxBodySize: 1_048_576, concurrency: 64, timeout: 30_000, header: 'x-switchyard-shadow', mode: 'json' },
  pairs: 1200,
  differing: 18,
  share: 0.015,
  evidence: { since: '2025-06-01T10:00:00.000Z', blue: { requests: 1200, errors: 2 }, green: { requests: 1200, errors: 3 }, tests: [] },
})
const mirrorReport = () => ({
  percent: 10,
  since: '2025-06-01T10:00:00.000Z',
  pairs: 1200,
  differing: 18,
  share: 0.015,
  kinds: [{ kind: 'field', count: 18, share: 0.015 }],
  routes: [
    {
      route: '/api/orders',
      pairs: 400,
      differing: 18,
      share: 0.045,
      latencyRatio: { p50: 1.09, p90: 1.3 },
      ttfbRatio: { p50: 1.04, p90: 1.19 },
      kinds: [{ kind: 'field', count: 18, share: 0.045 }],
      paths: [
        { path: '$.total', count: 18, share: 0.045, noise: 0, noisy: false },
        { path: '$.generatedAt', count: 0, share: 0, noise: 400, noisy: true },
      ],
      otherPaths: 0,
    },
  ],
  examples: [
    {
      route: '/api/orders',
      method: 'GET',
      path: '/api/orders/42?token=[redacted]',
      kinds: ['field'],
      blue: { status: 200, durationMs: 12.1 },
      green: { status: 200, durationMs: 14.3 },
      paths: [{ path: '$.total', kind: 'changed' }],
      headers: [],
    },
  ],
  noise: { routes: [{ route: '/api/orders', samples: 40, jsonSamples: 40, paths: [{ path: '$.generatedAt', diffs: 40, noisy: true }], headers: [] }] },
})
export const MIRROR_OPERATIONS: Readonly<Record<string, OperationDoc>> = {
  'GET /v1/mirror': {
    tag: 'mirror',
    summary: 'Read the mirror share',
    description:
      "The share of blue's requests (sampled by sticky key: a user's whole session or none of it) whose copy also goes to green as a shadow, how shadows are sent, and how many compared pairs differed so far. The client's answer is always blue's; a shadow's answer is only compared.",
    answers: { 200: { description: 'Mirroring now', schema: MirrorAnswer, example: mirror(10) } },
  },
  'PUT /v1/mirror': {
    tag: 'mirror',
    summary: 'Set the mirror share',
    description:
      "Mirrors `percent` of blue's requests (0 to 100, 0.01 resolution; 0 stops). Only the methods in `mirror.methods` are mirrored (GET, HEAD, OPTIONS by default), bodies up to `mirror.maxBodySize`. Stored and shared like the split (a `mirror` event); answers once every proxy process samples with it.",
    errors: STORE,
    requests: { ten: { summary: 'A tenth of blue\'s requests', value: { percent: 10, reason: 'check 1.8.0 on real traffic' } } },
    answers: { 200: { description: 'Mirroring now', schema: MirrorAnswer, example: mirror(10) } },
  },
  'GET /v1/mirror/report': {
    tag: 'mirror',
    summary: "Where green's answers differ",
    description:
      'Compared pairs since the report began (new green targets or DELETE start it over), in a fleet summed over every live replica (`scope=replica` for this one\'s): the share that differ, by kind (status, body, field, stream, latency), by route group and by JSON field path (fields learned as noise from two blue answers are marked `noisy` and not counted), a few redacted examples, and the noise learned.',
    answers: { 200: { description: 'The report', schema: MirrorReportAnswer, example: mirrorReport() } },
  },
  'DELETE /v1/mirror/report': {
    tag: 'mirror',
    summary: 'Start the report over',
    description: 'Forgets the compared pairs, the examples, the noise learned and the shadow evidence.',
    answers: { 204: { description: 'Forgotten', example: null } },
  },
}
