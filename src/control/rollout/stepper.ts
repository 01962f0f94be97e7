import type { AnalysisSettings } from '../../config/schema.js'
import { WriteConflictError } from '../../state/errors.js'
import type { RolloutState } from '../../state/types.js'
import { GenerationConflictError, GreenUnhealthyError, RolloutError } from '../errors.js'
import { effectiveAnalysis } from './plan.js'
import type { RolloutControllerOptions } from './rollout.js'
import { judgeStep, type RolloutVerdict } from './verdict.js'
import { evidenceOf, mirrorMove, windowOf } from './mirror-stage.js'

/** How often the stepper looks at the clock; checks run every `rollout.analysis.interval`. */
const TICK_MS = 50
/** Checks between two stores of an unchanged verdict: the state is not rewritten every second. */
const STORE_EVERY_CHECKS = 10

/** The config's analysis settings with a rollout's own overrides. */
export function analysisOf(o: Pick<RolloutControllerOptions, 'settings'>, r: RolloutState): AnalysisSettings {
  return effectiveAnalysis(o.settings().analysis, r.analysis)
}

export function progressDeadlineOf(o: Pick<RolloutControllerOptions, 'settings'>, r: RolloutState): number {
  return r.progressDeadlineMs ?? o.settings().progressDeadline
}

/** What the stepper does through the controller when a verdict calls for it. */
export interface StepperActions {
  abort(source: string, reason: string): Promise<unknown>
  pause(source: string, reason: string | null): Promise<unknown>
}

/**
 * The rollout's timer: on the replica that leads, it looks at the evidence every
 * `analysis.interval`, stores the verdict when it changes (and every few checks), aborts on a
 * failing test, pauses on a shared degradation or past the progress deadline, and moves green
 * to the next step when the hold is over and the evidence lets it (the release's health gate
 * may make the step wait).
 */
export class RolloutStepper {
  readonly #o: RolloutControllerOptions
  readonly #actions: StepperActions
  #timer: NodeJS.Timeout | undefined
  #nextCheckAt = 0
  #busy = false
  /** The hold this replica last started judging (fleet mode). */
  #holdSeen: string | null = null
  /** The latest verdict (stored with the rollout only when it changes, or every few checks). */
  #verdict: RolloutVerdict | null = null
  /** Checks made since the rollout was last stored by this replica. */
  #unstored = 0

  constructor(options: RolloutControllerOptions, actions: StepperActions) {
    this.#o = options
    this.#actions = actions
  }

  get verdict(): RolloutVerdict | null {
    return this.#verdict
  }

  get unstored(): number {
    return this.#unstored
  }

  start(): void {
    this.#timer ??= setInterval(() => void this.tick(), TICK_MS)
  }

  stop(): void {
    clearInterval(this.#timer)
    this.#timer = undefined
  }

  /** One look at the clock: run a check when one is due, advance when the hold is over. */
  async tick(): Promise<void> {
    if (this.#busy) return
    if (this.#o.leads?.() === false) {
      this.#holdSeen = null
      return
    }
    const r = this.#o.release.rollout()
    if (r?.phase !== 'progressing') return
    // In a fleet the step may have begun (or resumed) on another replica, or this one may be
    // taking over as leader: either way, judge only what happens from now on.
    const hold = `${r.id}:${r.step}:${r.holdUntil}`
    if (this.#o.leads !== undefined && hold !== this.#holdSeen) {
      this.#holdSeen = hold
      this.restart(Date.now(), r)
    }
    this.#busy = true
    try {
      await this.#step(r, Date.now())
    } catch (err) {
      // Someone else moved the rollout or the split meanwhile: the next tick starts from that.
      if (err instanceof RolloutError || err instanceof WriteConflictError || err instanceof GenerationConflictError) {
        this.#o.logger.debug({ err: err.message }, 'rollout step skipped: the state moved on')
      } else {
        this.#o.logger.error({ err }, 'rollout step failed')
      }
    } finally {
      this.#busy = false
    }
  }

  async #step(start: RolloutState, now: number): Promise<void> {
    let r = start
    const analysis = analysisOf(this.#o, r)
    if (now < this.#nextCheckAt) return
    this.#nextCheckAt = now + analysis.interval
    const { decision, verdict } = judgeStep(r, now, analysis, evidenceOf(this.#o, r), windowOf(this.#o, r), this.#o.ceilingVsBlue())
    const changed = this.#verdict === null || this.#verdict.result !== verdict.result || this.#verdict.action !== verdict.action
    this.#verdict = verdict
    this.#unstored++
    // The verdict is stored when it changes and every few checks, not at every look.
    const store = changed || this.#unstored >= STORE_EVERY_CHECKS || (decision.result === 'pass' && !r.passedThisStep)
    r = {
      ...r,
      checks: r.checks + this.#unstored,
      failedChecks: r.failedChecks + (decision.result === 'fail' ? 1 : 0),
      consecutiveFailures: decision.result === 'fail' ? r.consecutiveFailures + 1 : decision.result === 'pass' ? 0 : r.consecutiveFailures,
      passedThisStep: r.passedThisStep || decision.result === 'pass',
      lastVerdict: verdict,
    }
    const save = async (): Promise<void> => {
      this.#unstored = 0
      await this.#o.release.saveRollout(r, start)
    }
    if (decision.action === 'fail') {
      await save()
      await this.#actions.abort('rollout', `green is worse than blue at step ${r.step + 1}: ${decision.reasons.join('; ')}`)
      return
    }
    if (decision.action === 'pause') {
      await save()
      await this.#actions.pause('rollout', `shared degradation: ${decision.reasons.join('; ')}`)
      return
    }
    const deadline = progressDeadlineOf(this.#o, r)
    if (decision.action === 'wait' && deadline > 0 && now >= r.holdUntil + deadline) {
      await save()
      await this.#actions.pause(
        'rollout',
        `step ${r.step + 1} stayed undecided for ${Math.round(deadline / 1000)}s past its hold (rollout.progressDeadline): ${decision.reasons.join('; ')}`,
      )
      return
    }
    if (decision.action !== 'advance') {
      if (store) await save()
      return
    }
    this.#unstored = 0
    const next = r.step + 1
    try {
      if (next < r.steps.length) {
        const step = r.steps[next]!
        this.restart(now, r)
        await this.#o.release.setSplit({
          greenBuckets: step.greenBuckets,
          ...mirrorMove(r, step),
          type: 'step',
          source: 'rollout',
          reason: `step ${next + 1} of ${r.steps.length}`,
          rollout: { ...r, step: next, stepStartedAt: new Date(now).toISOString(), holdUntil: now + step.holdMs, passedThisStep: false },
          basedOn: start,
        })
        return
      }
      // The phase turns to succeeded with the 'succeeded' event, so whoever sees it sees the event.
      await this.#o.release.setSplit({ greenBuckets: 10_000, ...mirrorMove(r, undefined), type: 'promote', source: 'rollout', action: 'rollout.step', reason: 'rollout succeeded', rollout: r, basedOn: start })
    } catch (err) {
      if (!(err instanceof GreenUnhealthyError)) throw err
      // The release's health gate: green takes no more traffic while none of its targets is healthy. The step waits.
      this.#o.logger.warn({ rollout: r.id, step: r.step + 1 }, `rollout holds step ${r.step + 1}: ${err.message}`)
      this.#verdict = { ...verdict, action: 'hold', reasons: [`the next step waits: ${err.message}`] }
      await this.#o.release.saveRollout({ ...r, lastVerdict: this.#verdict }, start)
      return
    }
    const done: RolloutState = { ...r, phase: 'succeeded', endedAt: new Date(now).toISOString() }
    await this.#o.release.record({ type: 'succeeded', from: null, to: { green: 100 }, source: 'rollout', reason: `all ${r.steps.length} steps passed` }, { rollout: done, basedOn: r })
    if (this.#o.settings().swapOnPromote) await this.#o.release.swapColors('rollout')
  }

  /** A new step, hold or release: the first look comes one of this rollout's own intervals later. */
  restart(now: number, r: RolloutState): void {
    this.#verdict = null
    this.#nextCheckAt = now + analysisOf(this.#o, r).interval
  }
}
