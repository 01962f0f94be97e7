/** The validated, defaulted, frozen config and its parts, as the rest of switchyard reads them. */

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
