import type { AnalysisSettings } from '../../config/schema.js'
import type { WindowDelta } from '../../outcomes/window-delta.js'
import type { Color } from '../../routing/types.js'
import type { Release } from '../release/release.js'
import { ErrorWindow } from './error-window.js'
import { Evidence } from './evidence.js'
import { evidenceView, followRelease } from './follow-release.js'

/**
 * What the control side knows of how each colour is doing: the recent error window (for the
 * ceiling and /v1/status) and the release's body of evidence (for auto-revert and rollouts),
 * fed with the outcomes of every proxy process and kept in step with the release.
 */
export class ReleaseAnalysis {
  #window: ErrorWindow
  readonly evidence: Evidence

  constructor(windowMs: number, analysis: AnalysisSettings) {
    this.#window = new ErrorWindow(windowMs)
    this.evidence = new Evidence(analysis)
  }

  get window(): ErrorWindow {
    return this.#window
  }

  /**
   * Follows `release`: the evidence starts over with green's exposure; a colour pointed at new
   * targets starts with a clean error history, and new green targets with new evidence; another
   * replica's revert clears green's errors here too.
   */
  follow(release: Release): void {
    followRelease(release, this.evidence)
    release.onTargets((color) => this.#restart(color))
    release.onChange((_state, event, origin) => {
      if (origin === 'remote' && event.type === 'revert') this.#restart('green')
    })
  }

  /** One finished request of this process (alone, without fleet counters). */
  record(color: Color, durationMs: number, isError: boolean, ttfbMs: number, route: string): void {
    this.#window.record(color, durationMs, isError, ttfbMs)
    this.evidence.record(color, durationMs, isError, ttfbMs, route)
  }

  /** Outcome counts of proxy workers or of the fleet. */
  merge(deltas: readonly WindowDelta[]): void {
    for (const delta of deltas) {
      this.#window.merge(delta)
      this.evidence.merge(delta)
    }
  }

  /** A reload: a new window length starts an empty window; new analysis settings apply from the next look. */
  configure(windowMs: number, analysis: AnalysisSettings, windowChanged: boolean): void {
    if (windowChanged) this.#window = new ErrorWindow(windowMs)
    this.evidence.configure(analysis)
  }

  /** Forgets both colours' windows and the evidence (the shadows of a new release start over). */
  restart(): void {
    this.#window.reset('blue')
    this.#restart('green')
  }

  /** The evidence as /v1/status shows it. */
  view(): Record<string, unknown> {
    return evidenceView(this.evidence)
  }

  #restart(color: Color): void {
    this.#window.reset(color)
    if (color === 'green') this.evidence.restart()
  }
}
