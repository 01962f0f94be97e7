import { isDeepStrictEqual } from 'node:util'
import type { Logger } from 'pino'
import type { Config } from '../../config/schema.js'
import type { MetricsOfService as Metrics } from '../../metrics/metrics.js'
import { RouteGroups } from '../../outcomes/route-groups.js'
import { WindowRecorder, type WindowDelta } from '../../outcomes/window-delta.js'
import type { Captured, Pair } from '../../shadow/captured.js'
import { comparePair, compareSettings, type CompareSettings } from '../../shadow/compare.js'
import { decodedPair } from '../../shadow/decode.js'
import { NoiseModel, type NoiseSnapshot } from '../../shadow/noise.js'
import { ShadowReport, type ReportSnapshot } from '../../shadow/report.js'
import { ReleaseAnalysis } from '../analysis/release-analysis.js'
import type { Release } from '../release/release.js'

/** GET /v1/mirror/report: the report, since when, and the noise learned. */
export interface MirrorReportView extends ReportSnapshot {
  readonly since: string
  readonly noise: NoiseSnapshot
}

/** An answer that counts as a failure in the shadow evidence: a 5xx, or cut before its end. */
function failed(c: Captured): boolean {
  return c.status >= 500 || !c.complete
}

/**
 * The control side of shadow traffic: every pair the proxies captured is compared
 * (src/shadow/compare.ts, with noise learned from a second blue target), counted in the report
 * and the diff metrics, and fed to a body of evidence of its own — the same anytime-valid tests
 * as live traffic (evidence.ts), on blue's and green's answers to the same requests — which a
 * rollout's mirror stage is judged on. Runs off the request path, on batches the proxies send.
 */
export class ShadowJudge {
  readonly #metrics: Metrics
  readonly #logger: Logger
  #failures = 0
  #config: Config
  #compare: CompareSettings
  #noise: NoiseModel
  #report: ShadowReport
  #routes: RouteGroups
  #since = Date.now()
  /**
   * Shadow evidence and window: blue's answers and green's to the same mirrored requests, kept
   * as the live ones are (what a mirror stage is judged on, its error-rate ceiling included).
   */
  readonly analysis: ReleaseAnalysis
  /** In a fleet: this replica's shadow outcomes on their way through the fleet's counters (`take`), which come back summed (`merge`). */
  #recorder: WindowRecorder | null = null

  constructor(config: Config, metrics: Metrics, logger: Logger) {
    this.#metrics = metrics
    this.#logger = logger
    this.#config = config
    this.#compare = compareOf(config)
    this.#noise = noiseOf(config)
    this.#report = reportOf(config)
    this.#routes = new RouteGroups(config.rollout.analysis.routes)
    this.analysis = new ReleaseAnalysis(config.autoRevert.window, config.rollout.analysis)
  }

  /**
   * Follows the release: new green targets are a new release (its report, noise and evidence
   * start over); mirroring switched on from off starts new evidence, as green's first exposure does.
   */
  follow(release: Release): void {
    let mirror = release.mirror()
    let rollout = release.rollout()?.id ?? null
    release.onTargets((color) => {
      if (color === 'green') this.reset()
    })
    release.onChange((_state, event) => {
      const now = release.mirror()
      const id = release.rollout()?.id ?? null
      if ((mirror === 0 && now > 0) || (event.type === 'step' && id !== null && id !== rollout)) this.analysis.restart()
      if (now !== mirror) this.analysis.evidence.mark()
      this.#metrics.setMirror(now)
      mirror = now
      rollout = id
    })
    this.#metrics.setMirror(mirror)
  }

  /** A batch of pairs from a proxy process. A pair the comparison fails on is skipped and logged, never thrown into the proxy. */
  add(pairs: readonly Pair[]): void {
    for (const captured of pairs) {
      try {
        this.#addOne(captured)
      } catch (err) {
        this.#failures++
        // One line per power of two: a comparison bug must not flood the log either.
        if ((this.#failures & (this.#failures - 1)) === 0) this.#logger.error({ err, failures: this.#failures, path: captured.path }, 'a mirrored pair could not be compared; skipped')
      }
    }
  }

  #addOne(captured: Pair): void {
    // Compressed answers are compared by what they say, decoded up to 8x the capture cap.
    const pair: Pair = decodedPair({ ...captured, route: this.#routes.group(captured.path) }, Math.min(64 * 1024 * 1024, 8 * this.#config.mirror.maxBodySize))
    if (pair.blueTwin !== undefined) this.#noise.learn(pair)
    const comparison = comparePair(pair, this.#compare, this.#noise)
    this.#report.add(pair, comparison)
    const route = pair.route === '' ? 'all' : pair.route
    for (const kind of comparison.kinds) this.#metrics.mirrorDiff(route, kind)
    for (const [color, c] of [['blue', pair.blue], ['green', pair.green]] as const) {
      if (this.#recorder !== null) this.#recorder.record(color, c.durationMs, failed(c), c.ttfbMs, pair.route)
      else this.analysis.record(color, c.durationMs, failed(c), c.ttfbMs, pair.route)
    }
  }

  /**
   * In a fleet the shadow evidence is the fleet's, as the live evidence is: this replica's
   * outcomes are handed to the fleet's shadow counters (`take`), and the sums come back
   * through `merge`. The report stays this replica's own pairs.
   */
  shareThroughFleet(): () => WindowDelta[] {
    const recorder = (this.#recorder ??= new WindowRecorder())
    return () => recorder.take()
  }

  /** Shadow outcome counts of the fleet (this replica's among them). */
  merge(deltas: readonly WindowDelta[]): void {
    this.analysis.merge(deltas)
  }

  /** Pairs compared since the report began, and how many differed. */
  counts(): { pairs: number; differing: number; share: number } {
    return this.#report.totals()
  }

  /** The shadow evidence as GET /v1/mirror shows it: since when, per-colour totals, each test with its words. */
  evidenceView(): Record<string, unknown> {
    // Outside a rollout nothing else closes its batches.
    this.analysis.evidence.update()
    return this.analysis.view()
  }

  report(): MirrorReportView {
    return { since: new Date(this.#since).toISOString(), ...this.#report.snapshot(), noise: this.#noise.snapshot() }
  }

  /** Forgets the report, the noise learned and the evidence (DELETE /v1/mirror/report, new green targets). */
  reset(): void {
    this.#report.reset()
    this.#noise = noiseOf(this.#config)
    this.#since = Date.now()
    this.analysis.restart()
  }

  /** A reload: how pairs are compared and reported applies from now on (a changed `mirror` starts a new report). */
  configure(config: Config, windowChanged: boolean): void {
    const before = this.#config
    this.#config = config
    this.analysis.configure(config.autoRevert.window, config.rollout.analysis, windowChanged)
    if (!isDeepStrictEqual(before.rollout.analysis.routes, config.rollout.analysis.routes)) this.#routes = new RouteGroups(config.rollout.analysis.routes)
    if (!isDeepStrictEqual(before.mirror, config.mirror)) {
      this.#compare = compareOf(config)
      this.#report = reportOf(config)
      this.#noise = noiseOf(config)
      this.#since = Date.now()
    }
  }
}

function compareOf(config: Config): CompareSettings {
  const c = config.mirror.compare
  return compareSettings({
    mode: c.mode,
    ignore: c.ignore,
    ignoreHeaders: c.ignoreHeaders,
    redactHeaders: config.mirror.report.redactHeaders,
    latencyFactor: c.latencyFactor,
    latencyFloorMs: c.latencyFloor,
  })
}

function noiseOf(config: Config): NoiseModel {
  return new NoiseModel({ minDiffs: config.mirror.noise.minDiffs })
}

function reportOf(config: Config): ShadowReport {
  const r = config.mirror.report
  return new ShadowReport({ includeBodies: r.includeBodies, redactHeaders: r.redactHeaders, redactFields: r.redactFields })
}
