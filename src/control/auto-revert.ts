import type { Logger } from 'pino'
import type { AnalysisSettings, AutoRevertSettings } from '../config/schema.js'
import type { ErrorWindow } from './analysis/error-window.js'
import type { Evidence } from './analysis/evidence.js'
import { decideRevert, readCeiling } from './analysis/judge.js'
import type { Release } from './release/release.js'

/** How often the evidence is judged; a decided failure is acted on within this. */
const CHECK_EVERY_MS = 200
/** A shared degradation is over once it has not been seen for this long (no event per flap). */
const SHARED_QUIET_MS = 10_000

/**
 * Sends green to 0 when the release's evidence finds it worse than blue (errors overall or on
 * one route group: judge.ts decideRevert), or when its recent error rate is beyond chance over
 * `maxErrorRate` while blue's is not. When both colours are over the ceiling together it
 * reports a shared degradation once (green is not blamed). Runs on a timer, never on the
 * request path; checking often costs nothing in false reverts (the tests are anytime-valid).
 */
export class AutoRevert {
  readonly #release: Release
  readonly #evidence: () => Evidence
  readonly #window: () => ErrorWindow
  readonly #analysis: () => AnalysisSettings
  readonly #logger: Logger
  readonly #onShared: (reason: string) => Promise<void>
  readonly #leads: () => boolean
  #settings: AutoRevertSettings
  #timer: NodeJS.Timeout | undefined
  #busy = false
  /** A shared degradation is being reported: one event per episode. */
  #shared = false
  /** When the episode was last seen (epoch ms). */
  #sharedSeenAt = 0

  constructor(options: {
    release: Release
    evidence: () => Evidence
    window: () => ErrorWindow
    settings: AutoRevertSettings
    analysis: () => AnalysisSettings
    logger: Logger
    /** Told once when both colours start failing together (an event, a paused rollout). */
    onSharedDegradation?: (reason: string) => Promise<void>
    /** In a fleet, only the lease holder reports a shared degradation (one event, not one per replica). */
    leads?: () => boolean
  }) {
    this.#release = options.release
    this.#evidence = options.evidence
    this.#window = options.window
    this.#settings = options.settings
    this.#analysis = options.analysis
    this.#logger = options.logger
    this.#onShared = options.onSharedDegradation ?? (() => Promise.resolve())
    this.#leads = options.leads ?? (() => true)
  }

  start(): void {
    this.#timer ??= setInterval(() => void this.check(), CHECK_EVERY_MS)
  }

  stop(): void {
    clearInterval(this.#timer)
    this.#timer = undefined
  }

  /** New thresholds (config reload) apply from the next check. */
  configure(settings: AutoRevertSettings): void {
    this.#settings = settings
  }

  /** Judges green once; returns true when it reverted. */
  async check(): Promise<boolean> {
    const s = this.#settings
    const evidence = this.#evidence()
    evidence.update()
    // A check still at work (a revert being written, a degradation being reported) is left alone.
    if (this.#busy) return false
    if (!s.enabled || this.#release.state().greenBuckets === 0) {
      this.#shared = false
      return false
    }
    const window = this.#window()
    const alpha = 1 - this.#analysis().confidence
    const { green, blue } = window.shared()
    const ceiling = readCeiling(green, blue, s.maxErrorRate, alpha)
    const decision = decideRevert(evidence.readings(), ceiling, s.ceilingVsBlue)
    if (decision.action !== 'shared-degradation' && Date.now() - this.#sharedSeenAt >= SHARED_QUIET_MS) this.#shared = false
    if (decision.action === 'none') return false
    this.#busy = true
    try {
      if (decision.action === 'shared-degradation') {
        this.#sharedSeenAt = Date.now()
        if (this.#shared || !this.#leads()) return false
        this.#shared = true
        // Logged with its event (the release logs every action once).
        await this.#onShared(decision.reason)
        return false
      }
      const failing = decision.failing[0]
      const errorRate = failing === undefined ? ceiling.green.rate : failing.green.rate
      const requests = failing === undefined ? ceiling.green.requests : failing.green.requests
      const reverted = await this.#release.revert({ reason: decision.reason, errorRate, requests })
      // The errors that caused this revert must not trip the next split.
      if (reverted) {
        window.reset('green')
        evidence.restart()
      }
      return reverted
    } catch (err) {
      this.#logger.error({ err }, 'auto-revert check failed')
      return false
    } finally {
      this.#busy = false
    }
  }
}
