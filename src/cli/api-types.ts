// The admin API's answers as the CLI reads them: only the fields it shows, all of them
// documented (README "Admin API", GET /openapi.json). The CLI never imports the server's own
// types: it is a client of the published contract, like any script.

/** GET /v1/split and every change of it. */
export interface SplitView {
  readonly blue: number
  readonly green: number
  readonly generation: number
  readonly reverted: { readonly at: string; readonly reason: string; readonly errorRate: number; readonly requests: number } | null
}

/** One target with its health (GET /v1/upstreams, /v1/status). */
export interface TargetView {
  readonly url: string
  readonly healthy: boolean
  readonly active?: string
  readonly ejectedUntil?: string | null
  readonly consecutiveFailures?: number
  readonly lastError?: string | null
  readonly inFlight?: number
}

export type Color = 'blue' | 'green'

/** GET /v1/upstreams (PUT answers the changed colour only). */
export type UpstreamsView = Partial<Record<Color, { readonly targets: readonly TargetView[] }>>

/** One audit event (GET /v1/events, the event stream). */
export interface EventView {
  readonly id?: number
  readonly at: string
  readonly type: string
  readonly from: unknown
  readonly to: unknown
  readonly source: string
  readonly reason: string | null
}

/** One test's standing in a verdict. */
export interface TestReading {
  readonly test: string
  readonly state: string
  readonly evidence?: number
  readonly threshold?: number
  readonly route?: string
  readonly green?: { readonly requests: number; readonly events: number; readonly rate: number }
  readonly blue?: { readonly requests: number; readonly events: number; readonly rate: number }
}

/** The latest look at the evidence (GET /v1/rollout → analysis.last). */
export interface VerdictView {
  readonly at: string
  readonly result: string
  readonly action: string
  readonly reasons: readonly string[]
  readonly greenThisStep?: number
  readonly minRequests?: number
  readonly tests?: readonly TestReading[]
}

export type Phase = 'progressing' | 'paused' | 'succeeded' | 'aborted'

/** GET /v1/rollout and the answers of its actions. */
export interface RolloutView {
  readonly id: string
  readonly phase: Phase
  /** The current step, from 1. */
  readonly step: number
  /** `mirror` marks a mirror step (green stays at 0 while this share of blue's requests is mirrored to it). */
  readonly steps: readonly { readonly green: number; readonly holdMs: number; readonly mirror?: number }[]
  readonly green: number
  readonly holdLeftMs: number | null
  readonly startedAt: string
  readonly stepStartedAt: string
  readonly endedAt: string | null
  readonly reason: string | null
  readonly progressDeadlineMs?: number
  readonly skipAnalysis?: boolean
  readonly analysis?: {
    readonly checks?: number
    readonly failedChecks?: number
    readonly passedThisStep?: boolean
    readonly greenThisStep?: number
    readonly settings?: { readonly minRequests?: number }
    readonly last?: VerdictView | null
  }
}

/** Whether a rollout has ended (succeeded or aborted): nothing will move it any more. */
export function ended(rollout: RolloutView): boolean {
  return rollout.phase === 'succeeded' || rollout.phase === 'aborted'
}

/** Per-colour stats of the sliding window (GET /v1/status → window). */
export interface WindowStats {
  readonly requests: number
  readonly errors: number
  readonly errorRate: number
  /** null while the colour served nothing in the window. */
  readonly p50Ms: number | null
  readonly p99Ms: number | null
}

/** GET /v1/status, the parts the CLI shows. */
export interface StatusView {
  readonly status: string
  /** Absent when switchyard fronts several services and none is named default (see `services`). */
  readonly split: SplitView
  /** Several services: each one's status, by name. */
  readonly services?: Readonly<Record<string, StatusView>>
  readonly state?: { readonly store?: string; readonly file?: string; readonly replica?: string; readonly leader?: boolean; readonly members?: readonly unknown[] }
  readonly window?: { readonly seconds?: number; readonly blue?: WindowStats; readonly green?: WindowStats }
  readonly upstreams?: Partial<Record<Color, readonly TargetView[]>>
  readonly connections?: Partial<Record<Color, { readonly requests?: number; readonly streams?: number; readonly websockets?: number }>>
  readonly rollout?: RolloutView | null
}

/** One service of GET /v1/services; one removed from the config (`configured: false`) has no match or health. */
export interface ServiceView {
  readonly name: string
  readonly configured: boolean
  readonly match?: { readonly hosts: readonly string[]; readonly pathPrefixes: readonly string[] }
  /** Null only for a removed service whose stored state could not be read. */
  readonly split: SplitView | null
  /** The rollout's phase, `idle` when there is none. */
  readonly phase: string
  /** The share of blue's requests mirrored to green, 0 to 100. */
  readonly mirror: number
  readonly health?: Partial<Record<Color, { readonly healthy: number; readonly total: number }>>
}

/** GET /v1/services. */
export interface ServicesView {
  /** The service that gets requests no match takes; null: switchyard answers them 404. */
  readonly defaultService: string | null
  readonly services: readonly ServiceView[]
}

/** POST /v1/reload. */
export interface ReloadView {
  readonly reloaded: boolean
  readonly changed: readonly string[]
  readonly restartRequired: readonly string[]
}

/** POST /v1/preview. */
export interface PreviewView {
  readonly color: Color
  readonly expiresAt: string
  readonly path: string
  readonly url: string
}

/** GET /v1/mirror and the answer of PUT /v1/mirror. */
export interface MirrorView {
  /** The share of blue's requests whose copy also goes to green, 0 to 100 (0.01 steps). */
  readonly percent: number
  readonly generation: number
  readonly settings: {
    readonly methods: readonly string[]
    readonly maxBodySize: number
    readonly concurrency: number
    /** Milliseconds. */
    readonly timeout: number
    readonly header: string
    readonly mode: 'none' | 'status' | 'json' | 'exact'
  }
  readonly pairs: number
  readonly differing: number
  /** differing / pairs, 0 to 1. */
  readonly share: number
}

/** How many compared pairs differed in one way (GET /v1/mirror/report). */
export interface MirrorKindCount {
  readonly kind: string
  readonly count: number
  readonly share: number
}

/** One route group of the mirror report; `noisy` paths differ between two blue answers too. */
export interface MirrorRouteReport {
  readonly route: string
  readonly pairs: number
  readonly differing: number
  readonly share: number
  /** green / blue time for the same requests (p50, p90); null before any pair (or from a server before it). */
  readonly latencyRatio?: { readonly p50: number; readonly p90: number } | null
  readonly kinds: readonly MirrorKindCount[]
  readonly paths: readonly { readonly path: string; readonly count: number; readonly share: number; readonly noise: number; readonly noisy: boolean }[]
  readonly otherPaths: number
}

/** One differing pair, redacted, as the report keeps a few. */
export interface MirrorExample {
  readonly route: string
  readonly method: string
  readonly path: string
  readonly kinds: readonly string[]
  readonly blue: { readonly status: number; readonly durationMs: number }
  readonly green: { readonly status: number; readonly durationMs: number }
  readonly paths: readonly { readonly path: string; readonly kind?: string }[]
  readonly headers: readonly string[]
}

/** GET /v1/mirror/report. */
export interface MirrorReportView {
  readonly percent: number
  readonly since: string
  /** fleet: every live replica's pairs summed (`replicas` of them); replica: one replica's. Absent from servers before it. */
  readonly scope?: 'fleet' | 'replica'
  readonly replicas?: number
  readonly pairs: number
  readonly differing: number
  readonly share: number
  readonly kinds: readonly MirrorKindCount[]
  readonly routes: readonly MirrorRouteReport[]
  readonly examples: readonly MirrorExample[]
  /** What was learned as noise, per route. */
  readonly noise: {
    readonly routes: readonly {
      readonly route: string
      readonly samples: number
      readonly jsonSamples: number
      readonly paths: readonly { readonly path: string; readonly diffs: number; readonly noisy: boolean }[]
      readonly headers: readonly { readonly name: string; readonly diffs: number; readonly noisy: boolean }[]
    }[]
  }
}
