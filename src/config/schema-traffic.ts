/**
 * The config's data-path sections: listeners, upstreams, timeouts, limits and target health.
 * The limits' and target health's defaults are the data path's own (proxy/), written there
 * once: a proxy worker then never loads the config schema (TypeBox) to get them.
 */
import { Type } from 'typebox'
import { DEFAULT_OUTLIER, HEALTH_CHECK_OFF } from '../proxy/health-checker.js'
import { DEFAULT_LIMITS, UPSTREAM_KEEP_ALIVE_MS } from '../proxy/types.js'
import { Duration, File, Host, Port, Targets, TlsFront, strict } from './fields.js'
import { OrNull, WithDefault } from './schema-kit.js'

export const ProxySchema = Type.Object(
  {
    host: WithDefault(Host, '0.0.0.0'),
    port: WithDefault(Port, 8080),
    /** HTTPS when set: the certificates' PEM files, the first the default (SNI picks the others). */
    tls: OrNull(TlsFront),
    /** A plain HTTP port that answers 308 to HTTPS; 0 = none. */
    redirectHttp: WithDefault(Port, 0),
    /** Peers (addresses, CIDRs) whose X-Forwarded-* headers are kept and believed. */
    trustedProxies: WithDefault(Type.Array(Type.String({ minLength: 1 })), []),
    /**
     * The data path's engine: `sockets` reads HTTP/1.1 off raw sockets with switchyard's own strict
     * framing (src/proxy/raw/); `node` is node:http and undici throughout. Takes a restart.
     */
    engine: WithDefault(Type.Union([Type.Literal('sockets'), Type.Literal('node')], { description: '"sockets" or "node"' }), 'sockets'),
    /** With `services`: the service that gets requests no service's match takes (absent: 404 from switchyard). */
    defaultService: OrNull(Type.String({ minLength: 1 })),
  },
  strict,
)

export const AdminSchema = Type.Object(
  {
    host: WithDefault(Host, '127.0.0.1'),
    port: WithDefault(Port, 9090),
    /** Required off loopback; SWITCHYARD_ADMIN_TOKEN overrides it. */
    token: Type.Optional(Type.String()),
    tls: OrNull(TlsFront),
    /**
     * Failed bearer attempts one client address may make in a minute before it is refused
     * with 429 until the minute ends (a token cannot be guessed faster); 0 = no limit.
     */
    failedAuthLimit: WithDefault(Type.Integer({ minimum: 0, maximum: 1_000_000 }), 10),
    /** Tokens that may change only some services (reads stay open to them); SWITCHYARD_ADMIN_TOKEN stays all-powerful. */
    tokens: WithDefault(
      Type.Array(Type.Object({ token: Type.String({ minLength: 16 }), services: Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }) }, strict)),
      [],
    ),
  },
  strict,
)

/** Verification of https:// upstream targets (both colours). */
export const UpstreamTlsSchema = Type.Object(
  {
    /** A PEM file of the CAs to trust instead of Node's bundled ones; null = the bundled ones. */
    ca: OrNull(File),
    /** Accept any certificate (testing only). */
    insecureSkipVerify: WithDefault(Type.Boolean(), false),
    /** The name to send as SNI and to verify the certificate against; null = the target's host. */
    servername: OrNull(Type.String({ minLength: 1 })),
  },
  strict,
)

// An empty list is no valid value to write, but it is what an absent colour reads as: the
// demo upstreams fill it in at start, and without them load.ts names the missing key.
const NO_TARGETS = { targets: [] as string[] }

/** Targets per colour; empty only when the demo upstreams fill them in at start. */
export const UpstreamsSchema = Type.Object(
  {
    blue: WithDefault(Type.Object({ targets: Targets }, strict), NO_TARGETS),
    green: WithDefault(Type.Object({ targets: Targets }, strict), NO_TARGETS),
    tls: WithDefault(UpstreamTlsSchema, {}),
  },
  strict,
)

/** Timeouts, 0 meaning none (connect and header must be above 0; upstreamKeepAlive reads 0 as no reuse). */
export const TimeoutsSchema = Type.Object(
  {
    connect: WithDefault(Duration, '5s'),
    /** Until the upstream's response headers. */
    request: WithDefault(Duration, '5m'),
    /** Longest silence inside a streamed response body. */
    idle: WithDefault(Duration, 0),
    /** Longest wait for a client's request headers (node's headersTimeout). */
    header: WithDefault(Duration, '30s'),
    /** Longest silence between two reads of a request body. */
    body: WithDefault(Duration, '1m'),
    /** Longest a client may leave an answer unread, its connection's buffer full (nginx's send_timeout). */
    send: WithDefault(Duration, '1m'),
    /**
     * How long an idle upstream connection is kept for the next request: under the upstream's
     * own idle timeout, or a request written as it closes is lost (Gunicorn keeps 2 s). 0 = none kept.
     */
    upstreamKeepAlive: WithDefault(Duration, UPSTREAM_KEEP_ALIVE_MS),
  },
  strict,
)

export const DrainSchema = Type.Object({ deadline: WithDefault(Duration, '30s') }, strict)

/** Request size and upstream queue limits; 0 means none (see ProxyLimits). */
export const LimitsSchema = Type.Object(
  {
    maxBodySize: WithDefault(Type.Integer({ minimum: 0 }), DEFAULT_LIMITS.maxBodySize),
    maxHeaderSize: WithDefault(Type.Integer({ minimum: 1024, maximum: 1_048_576 }), DEFAULT_LIMITS.maxHeaderSize),
    maxConnectionsPerTarget: WithDefault(Type.Integer({ minimum: 0, maximum: 100_000 }), DEFAULT_LIMITS.maxConnectionsPerTarget),
    maxPending: WithDefault(Type.Integer({ minimum: 0, maximum: 1_000_000 }), DEFAULT_LIMITS.maxPending),
  },
  strict,
)

/** Active health checks of every target; `path: ""` (the default) turns them off. */
export const HealthCheckSchema = Type.Object(
  {
    path: WithDefault(Type.String({ pattern: '^(/.*)?$' }), HEALTH_CHECK_OFF.path),
    interval: WithDefault(Duration, HEALTH_CHECK_OFF.interval),
    timeout: WithDefault(Duration, HEALTH_CHECK_OFF.timeout),
    healthyThreshold: WithDefault(Type.Integer({ minimum: 1, maximum: 100 }), HEALTH_CHECK_OFF.healthyThreshold),
    unhealthyThreshold: WithDefault(Type.Integer({ minimum: 1, maximum: 100 }), HEALTH_CHECK_OFF.unhealthyThreshold),
  },
  strict,
)

/** Passive ejection of a target after consecutive errors (Envoy's defaults); consecutiveErrors 0 turns it off. */
export const OutlierDetectionSchema = Type.Object(
  {
    consecutiveErrors: WithDefault(Type.Integer({ minimum: 0, maximum: 1000 }), DEFAULT_OUTLIER.consecutiveErrors),
    ejectionTime: WithDefault(Duration, DEFAULT_OUTLIER.ejectionTime),
  },
  strict,
)
