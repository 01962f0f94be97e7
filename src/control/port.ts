import type { TargetHealth } from '../proxy/types.js'
import type { Color } from '../routing/types.js'
import type { AuditEvent, SplitState } from '../state/types.js'
import type { LiveFrame } from './live-feed.js'
import type { RolloutPlan } from './rollout/plan.js'
import type { MirrorReportView } from './mirror/shadow-judge.js'

export type { TargetHealth } from '../proxy/types.js'
export type { AuditEvent } from '../state/types.js'
export type { RolloutPlan } from './rollout/plan.js'
export type { HealthFrame, LiveFrame, StatsFrame } from './live-feed.js'
export type { MirrorReportView } from './mirror/shadow-judge.js'

/** The GET /v1/split shape. */
export interface SplitView {
  readonly blue: number
  readonly green: number
  readonly generation: number
  readonly reverted: SplitState['reverted']
}

/**
 * Who sent an admin request, for the log line of the change it makes: `token` when it
 * carried a bearer token (checked whenever admin.token is set), else `anonymous`; and the
 * client's address.
 */
export interface Caller {
  readonly auth: 'token' | 'anonymous'
  readonly address: string
}

/** A caller as log lines name it: `token@10.0.0.7`. */
export function callerName(caller: Caller): string {
  return `${caller.auth}@${caller.address}`
}

/** A split change asked for through the admin API. */
export interface SplitRequest {
  readonly greenBuckets: number
  readonly type: 'split' | 'promote' | 'rollback'
  readonly reason: string | null
  readonly ifGeneration?: number
  readonly force?: boolean
  readonly caller: Caller
}

/** GET /v1/mirror: the share mirrored, how shadows are sent, and how many pairs differed so far. */
export interface MirrorView {
  readonly percent: number
  readonly generation: number
  readonly settings: {
    readonly methods: readonly string[]
    readonly maxBodySize: number
    readonly concurrency: number
    /** ms */
    readonly timeout: number
    readonly header: string
    readonly mode: string
  }
  readonly pairs: number
  readonly differing: number
  readonly share: number
  /** The shadow evidence (what a rollout's mirror step is judged on): since when, per-colour totals, each test. */
  readonly evidence: Record<string, unknown>
}

/** GET /v1/mirror/report: one replica's report, or a fleet's sum (with how many replicas shared one). */
export type MirrorReportAnswer = MirrorReportView & { readonly scope: 'fleet' | 'replica'; readonly replicas?: number; readonly approximateRatios?: boolean }

/** Which events of the audit log to read. */
export interface EventQuery {
  /** At most this many, the newest. */
  readonly limit?: number
  /** Only these types (split, revert, step, ...). */
  readonly types?: readonly string[]
  /** Only events after this one: an event id, or an ISO time. */
  readonly since?: number | string
}

export type RolloutAction = 'pause' | 'resume' | 'abort' | 'promote-step' | 'skip-analysis'

/** /healthz: this process serves traffic; with a shared store, how the store is doing. */
export type Liveness = { readonly status: 'ok' } | { readonly status: 'ok' | 'degraded'; readonly detail: Record<string, unknown> }

/**
 * Everything the admin API reads and drives, and nothing else: the one door from HTTP into
 * the control side. Each change resolves once it is durable and routes in every proxy
 * process; refusals throw errors that carry their HTTP `statusCode` and catalog `code`.
 */
export interface ControlPort {
  split(): SplitView
  /** Moves the split through the release's writer (health gate included). */
  setSplit(request: SplitRequest): Promise<SplitView>

  mirror(): MirrorView
  /** Mirrors this share of blue's requests (a `mirror` event); resolves once every proxy process samples with it. */
  setMirror(buckets: number, reason: string | null, caller: Caller): Promise<MirrorView>
  /** GET /v1/mirror/report: in a fleet the sum of every live replica's report, unless `replica` is asked for. */
  mirrorReport(scope: 'fleet' | 'replica'): Promise<MirrorReportAnswer>
  /** Forgets the report and the noise learned. */
  resetMirrorReport(): void

  /** Every target of each colour with its health. */
  upstreams(): Promise<Record<Color, readonly TargetHealth[]>>
  /** Points a colour at new targets (a `targets` event); resolves with its targets' health. */
  setTargets(color: Color, targets: readonly string[], reason: string | null, caller: Caller): Promise<readonly TargetHealth[]>

  /** GET /v1/rollout, or null when no rollout was ever started. */
  rollout(): Record<string, unknown> | null
  /** Starts a rollout (its first step passes the release's health gate unless `force`). */
  startRollout(plan: RolloutPlan, reason: string | null, force: boolean, caller: Caller): Promise<Record<string, unknown> | null>
  rolloutAction(action: RolloutAction, reason: string | null, caller: Caller): Promise<Record<string, unknown> | null>

  /** GET /v1/status. */
  status(): Promise<Record<string, unknown>>
  /** The audit log, newest first, filtered (see EventQuery). */
  events(query?: EventQuery): readonly AuditEvent[]
  /**
   * `listener` gets every event from now on as it happens (made here or adopted from another
   * replica), oldest first; the returned function stops it.
   */
  subscribe(listener: (event: AuditEvent) => void): () => void
  /**
   * The stream-only frames of this replica: target health changes as they are seen, and with
   * `stats` one frame a second of live traffic numbers. Not audit events (no id); see LiveFeed.
   */
  live(listener: (frame: LiveFrame) => void, options: { readonly stats: boolean }): () => void
  liveness(): Liveness
  /** Why this process should get no new traffic now, or null when it is ready. */
  notReadyBecause(): string | null
  /** Prometheus text of every proxy process. */
  metricsText(): Promise<string>
  /** Sets this service's scrape-time gauges (target health, the store's connection) without rendering the text. */
  refreshMetrics(): Promise<void>
  readonly metricsContentType: string
}

/** One service as GET /v1/services lists it. */
export interface ServiceView {
  readonly name: string
  /** False for a service removed from the config whose stored state is still kept. */
  readonly configured: boolean
  readonly match?: { readonly hosts: readonly string[]; readonly pathPrefixes: readonly string[] }
  readonly split: SplitView | null
  /** The rollout's phase, or `idle` when none was started. */
  readonly phase: string
  readonly mirror: number
  readonly health?: Record<Color, { readonly healthy: number; readonly total: number }>
}

/** The services behind one switchyard, each with its own control port (a single-service one has `default`). */
export interface ServicesPort {
  /** The configured services' names, in the config's order. */
  names(): readonly string[]
  port(name: string): ControlPort | undefined
  /** proxy.defaultService (null: unmatched requests get 404). */
  defaultService(): string | null
  /** GET /v1/services: every configured service, then those only stored. */
  list(): Promise<readonly ServiceView[]>
  /** Deletes the stored state of a service no longer configured; false when none is stored. */
  forget(name: string): Promise<boolean>
}
