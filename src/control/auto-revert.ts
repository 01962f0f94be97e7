import type { Logger } from 'pino'
import type { ErrorWindow } from './error-window.js'
import type { SplitController } from './split-controller.js'

/** The `autoRevert` config section, durations in ms. */
export interface AutoRevertSettings {
  readonly enabled: boolean
  readonly window: number
  readonly minRequests: number
  readonly maxErrorRate: number
}

/** How often the window is judged; a breach is acted on within this (well under one second). */
const CHECK_EVERY_MS = 200

/**
 * Watches green's window and sends green to 0 when, with at least `minRequests` green
 * requests, its error rate is above `maxErrorRate`. Runs on a timer, never on the request path.
 */
export class AutoRevert {
  readonly #controller: SplitController
  readonly #window: () => ErrorWindow
  readonly #logger: Logger
  #settings: AutoRevertSettings
  #timer: NodeJS.Timeout | undefined
  #busy = false

  constructor(options: {
    controller: SplitController
    window: () => ErrorWindow
    settings: AutoRevertSettings
    logger: Logger
  }) {
    this.#controller = options.controller
    this.#window = options.window
    this.#settings = options.settings
    this.#logger = options.logger
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

  /** Judges green's window once; returns true when it reverted. */
  async check(): Promise<boolean> {
    const s = this.#settings
    if (!s.enabled || this.#busy || this.#controller.state().greenBuckets === 0) return false
    const window = this.#window()
    const green = window.stats('green')
    if (green.requests < s.minRequests || green.errorRate <= s.maxErrorRate) return false
    this.#busy = true
    try {
      const pct = (x: number): string => `${(x * 100).toFixed(1)}%`
      const reason =
        `green error rate ${pct(green.errorRate)} (${green.errors} of ${green.requests} requests) ` +
        `over ${s.window / 1000}s is above autoRevert.maxErrorRate ${pct(s.maxErrorRate)}`
      const reverted = await this.#controller.revert({ reason, errorRate: green.errorRate, requests: green.requests })
      // The errors that caused this revert must not trip the next rollout.
      if (reverted) window.reset('green')
      return reverted
    } catch (err) {
      this.#logger.error({ err }, 'auto-revert check failed')
      return false
    } finally {
      this.#busy = false
    }
  }
}
