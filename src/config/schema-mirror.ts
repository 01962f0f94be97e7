/**
 * `mirror`: shadow traffic. A sampled share of blue's requests is also sent to green, marked as
 * a shadow, and green's answer is compared with blue's (src/shadow/). The share is live state
 * (PUT /v1/mirror, a rollout's mirror stage); `percent` is only where a new release starts.
 */
import { Type } from 'typebox'
import { DEFAULT_REDACT_HEADERS } from '../shadow/compare.js'
import { Duration, OneOf, strict } from './fields.js'
import { WithDefault } from './schema-kit.js'

/** An HTTP method token (RFC 9110): letters only in practice, written as the method is sent. */
const Method = Type.String({ pattern: '^[A-Za-z]{1,20}$' })
/** A header name (RFC 9110 token). */
const HeaderName = Type.String({ pattern: "^[!#$%&'*+\\-.^_`|~0-9A-Za-z]+$" })

export const MirrorCompareSchema = Type.Object(
  {
    /** none: load only; status: status, framing, latency; json: also the body field by field; exact: byte by byte. */
    mode: WithDefault(OneOf(['none', 'status', 'json', 'exact']), 'json'),
    /** JSON paths never compared: `$.meta.requestId`, `$.items[*].id`, `$..timestamp`. */
    ignore: WithDefault(Type.Array(Type.String({ minLength: 1 })), []),
    /** Header names never compared (hop-by-hop, date, content-length and the redacted ones never are). */
    ignoreHeaders: WithDefault(Type.Array(HeaderName), []),
    /** Green is slow when it takes over this many times blue's time ... */
    latencyFactor: WithDefault(Type.Number({ minimum: 1, maximum: 1000 }), 2),
    /** ... blue's counted as at least this, so jitter under it never counts. */
    latencyFloor: WithDefault(Duration, '10ms'),
  },
  strict,
)

export const MirrorNoiseSchema = Type.Object(
  {
    /**
     * Of the mirrored requests, the share also sent to a second blue target (when blue has two
     * or more) to learn which fields differ between two blue answers: noise, never held against green.
     */
    percent: WithDefault(Type.Number({ minimum: 0, maximum: 100 }), 10),
    /** A field is noise once it differed between two blue answers this many times. */
    minDiffs: WithDefault(Type.Integer({ minimum: 1, maximum: 1000 }), 2),
  },
  strict,
)

export const MirrorReportSchema = Type.Object(
  {
    /** Examples show body excerpts and differing header values (off: statuses, names and paths only). */
    includeBodies: WithDefault(Type.Boolean(), false),
    /** Header values never shown (and never compared). */
    redactHeaders: WithDefault(Type.Array(HeaderName), [...DEFAULT_REDACT_HEADERS]),
    /** JSON paths whose values are never shown in an excerpt. */
    redactFields: WithDefault(Type.Array(Type.String({ minLength: 1 })), []),
  },
  strict,
)

export const MirrorSchema = Type.Object(
  {
    /** The share of blue's requests mirrored when nothing is stored yet (0..100, 0.01 resolution). */
    percent: WithDefault(Type.Number({ minimum: 0, maximum: 100 }), 0),
    /** Methods mirrored; the default is the safe ones only. A POST is mirrored only when listed. */
    methods: WithDefault(Type.Array(Method, { minItems: 1 }), ['GET', 'HEAD', 'OPTIONS']),
    /** Bytes: a request body over this is not mirrored, and answers are compared up to this. */
    maxBodySize: WithDefault(Type.Integer({ minimum: 0, maximum: 64 * 1024 * 1024 }), 1024 * 1024),
    /** Shadows in flight per proxy process; past it a shadow is dropped and counted, never queued. */
    concurrency: WithDefault(Type.Integer({ minimum: 1, maximum: 100_000 }), 64),
    /** A shadow (and the capture of blue's answer) ends after this; it then counts as timed out. */
    timeout: WithDefault(Duration, '30s'),
    /** Sent with every shadow (value "1") so green can skip side effects. */
    header: WithDefault(HeaderName, 'x-switchyard-shadow'),
    compare: WithDefault(MirrorCompareSchema, {}),
    noise: WithDefault(MirrorNoiseSchema, {}),
    report: WithDefault(MirrorReportSchema, {}),
  },
  strict,
)
