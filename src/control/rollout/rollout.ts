import type { Logger } from 'pino'
import type { AnalysisSettings, RolloutSettings } from '../../config/schema.js'
import type { ErrorWindow } from '../analysis/error-window.js'
import { ControlErrors, RolloutError } from '../errors.js'
import type { Evidence } from '../analysis/evidence.js'
import type { ChangeOrigin, Release } from '../release/release.js'
import { durationField, effectiveAnalysis, planAnalysis, planSteps, type RolloutPlan } from './plan.js'
import { followManualChange, newRollout, rolloutView } from './state.js'
import { RolloutStepper } from './stepper.js'
import type { AuditEvent, RolloutState } from '../../state/types.js'
import { evidenceOf, isMirrorStep, mirrorMove } from './mirror-stage.js'

const stateError = (message: string) => new RolloutError(ControlErrors.SY_ERR_ROLLOUT_STATE, message)

export type { RolloutVerdict } from './verdict.js'

export interface RolloutControllerOptions {
  /** The release this rollout walks; every change goes through its writer. */
  readonly release: Release
  /** The release's body of evidence, shared with auto-revert. */
  readonly evidence: () => Evidence
  /** The recent window, for the error-rate ceiling. */
  readonly window: () => ErrorWindow
  /** The shadows' evidence and window: what a mirror step is judged on. */
  readonly shadow?: { readonly evidence: () => Evidence; readonly window: () => ErrorWindow }
  /** autoRevert.ceilingVsBlue: the ceiling counts against green only while blue is under it. */
  readonly ceilingVsBlue: () => boolean
  readonly settings: () => RolloutSettings
  readonly logger: Logger
  /** In a fleet, only the replica holding the lease drives the rollout; alone, always true. */
  readonly leads?: () => boolean
  /** sticky.reshuffle is perRelease: a rollout's start draws a new group of users for green. */
  readonly reshuffle?: () => boolean
}

/**
 * Walks green through a plan's steps, judging green against blue at every step on the
 * release's evidence (evidence.ts, judge.ts): it aborts as soon as a test finds green worse,
 * pauses on a shared degradation or when a step stays undecided past `progressDeadline`, and
 * advances only when the hold is over and the evidence lets it. Runs on a timer, off the
 * request path; its state is stored with the split so a restart continues at the same step.
 */
export class RolloutController {
  readonly #o: RolloutControllerOptions
  readonly #stepper: RolloutStepper

  constructor(options: RolloutControllerOptions) {
    this.#o = options
    this.#stepper = new RolloutStepper(options, {
      abort: (source, reason) => this.abort(source, reason),
      pause: (source, reason) => this.pause(source, reason),
    })
    options.release.onChange((_state, event, origin) => this.#onSplitEvent(event, origin))
  }

  /** Continues a stored rollout: the hold of its step restarts, its counters stay. */
  async restore(): Promise<void> {
    const r = this.#o.release.rollout()
    if (r?.phase !== 'progressing') return
    const now = Date.now()
    await this.#o.release.saveRollout({ ...r, stepStartedAt: new Date(now).toISOString(), holdUntil: now + r.steps[r.step]!.holdMs }, r)
    this.#o.logger.info({ rollout: r.id, step: r.step + 1 }, 'rollout continues after restart; the hold of its step restarts')
  }

  start(): void {
    this.#stepper.start()
  }

  stop(): void {
    this.#stepper.stop()
  }

  /** One look at the clock (the timer's, or a test's). */
  tick(): Promise<void> {
    return this.#stepper.tick()
  }

  /**
   * Starts a rollout at its first step. 409 when one is progressing or paused, or when green
   * has no healthy target (unless `force`). `who` (here and in the other actions) names the
   * caller in the action's log line; `source` when absent.
   */
  async begin(plan: RolloutPlan, source: string, reason: string | null, force = false, who?: string): Promise<RolloutState> {
    const steps = planSteps(plan, this.#o.settings())
    const analysis = planAnalysis(plan.analysis)
    const progressDeadlineMs = durationField('progressDeadline', plan.progressDeadline)
    // In a fleet, act on the latest rollout, not on one this replica has not caught up with.
    await this.#o.release.adopt()
    const current = this.#o.release.rollout()
    if (current !== null && (current.phase === 'progressing' || current.phase === 'paused')) {
      throw stateError(`rollout ${current.id} is ${current.phase}; abort it before starting another`)
    }
    const now = Date.now()
    const rollout = newRollout({ steps, now, reason, analysis, progressDeadlineMs: progressDeadlineMs ?? null })
    const first = steps[0]!
    this.#restartAnalysis(now, rollout)
    await this.#o.release.setSplit({
      greenBuckets: first.greenBuckets,
      ...(first.mirrorBuckets === undefined ? {} : { mirrorBuckets: first.mirrorBuckets }),
      type: 'step',
      source,
      who,
      action: 'rollout.start',
      reason: `rollout started: step 1 of ${steps.length}${reason === null ? '' : ` (${reason})`}`,
      rollout,
      basedOn: current,
      newRelease: this.#o.reshuffle?.() ?? false,
      force,
    })
    return rollout
  }

  async pause(source: string, reason: string | null, who?: string): Promise<RolloutState> {
    await this.#o.release.adopt()
    const r = this.#require('progressing', 'pause')
    const next: RolloutState = { ...r, phase: 'paused', holdLeftMs: Math.max(0, r.holdUntil - Date.now()) }
    await this.#o.release.record({ type: 'pause', from: r.phase, to: 'paused', source, reason, who }, { rollout: next, basedOn: r })
    return next
  }

  async resume(source: string, reason: string | null, who?: string): Promise<RolloutState> {
    await this.#o.release.adopt()
    const r = this.#require('paused', 'resume')
    const now = Date.now()
    const next: RolloutState = { ...r, phase: 'progressing', holdUntil: now + (r.holdLeftMs ?? 0), holdLeftMs: null }
    this.#restartAnalysis(now, r)
    await this.#o.release.record({ type: 'resume', from: 'paused', to: 'progressing', source, reason, who }, { rollout: next, basedOn: r })
    return next
  }

  /**
   * Green to 0; the rollout ends as aborted and green stays at 0 until an operator acts.
   * When green is already at 0 (a revert or a rollback did it), only the rollout ends, so
   * the revert's latch and numbers stay as they are.
   */
  async abort(source: string, reason: string, who?: string): Promise<RolloutState> {
    const r = await this.#active()
    const next: RolloutState = { ...r, phase: 'aborted', endedAt: new Date().toISOString(), reason, holdLeftMs: null }
    const why = `rollout aborted: ${reason}`
    if (isMirrorStep(r)) {
      // At the mirror stage no user is on green: the shadows stop, in the abort's own write.
      await this.#o.release.setSplit({ greenBuckets: 0, mirrorBuckets: 0, type: 'abort', source, reason: why, who, rollout: next, basedOn: r })
    } else if (this.#o.release.state().greenBuckets === 0) {
      await this.#o.release.record({ type: 'abort', from: r.phase, to: 'aborted', source, reason: why, who }, { rollout: next, basedOn: r })
    } else {
      await this.#o.release.setSplit({ greenBuckets: 0, type: 'abort', source, reason: why, who, rollout: next, basedOn: r })
    }
    return next
  }

  /**
   * An operator moves the rollout to its next step now (or promotes after the last), whatever
   * the analysis says; recorded as a `step` event whose reason says so. A paused rollout resumes.
   */
  async promoteStep(source: string, reason: string | null, who?: string): Promise<RolloutState> {
    const r = await this.#active()
    const now = Date.now()
    const why = `promote-step by an operator${reason === null ? '' : `: ${reason}`}`
    const next = r.step + 1
    this.#restartAnalysis(now, r)
    if (next < r.steps.length) {
      const step = r.steps[next]!
      const moved: RolloutState = {
        ...r,
        phase: 'progressing',
        step: next,
        stepStartedAt: new Date(now).toISOString(),
        holdUntil: now + step.holdMs,
        holdLeftMs: null,
        passedThisStep: false,
        consecutiveFailures: 0,
      }
      const note = { who, action: 'rollout.promote-step' }
      await this.#o.release.setSplit({ greenBuckets: step.greenBuckets, ...mirrorMove(r, step), type: 'step', source, ...note, reason: `step ${next + 1} of ${r.steps.length}: ${why}`, rollout: moved, basedOn: r, force: true })
      return moved
    }
    const last: RolloutState = { ...r, phase: 'progressing', holdLeftMs: null }
    await this.#o.release.setSplit({ greenBuckets: 10_000, ...mirrorMove(r, undefined), type: 'promote', source, who, action: 'rollout.promote-step', reason: why, rollout: last, basedOn: r, force: true })
    const done: RolloutState = { ...last, phase: 'succeeded', endedAt: new Date(now).toISOString(), reason: why }
    await this.#o.release.record({ type: 'succeeded', from: null, to: { green: 100 }, source, reason: why, who }, { rollout: done, basedOn: last })
    if (this.#o.settings().swapOnPromote) await this.#o.release.swapColors('rollout')
    return done
  }

  /**
   * An operator lets the current step pass on its hold alone: the analysis no longer makes it
   * wait (too little traffic, evidence leaning against green, the progress deadline). A test
   * that finds green worse still aborts. Recorded as a `skip-analysis` event.
   */
  async skipAnalysis(source: string, reason: string | null, who?: string): Promise<RolloutState> {
    const r = await this.#active()
    const next: RolloutState = { ...r, skipAnalysisStep: r.step }
    await this.#o.release.record(
      { type: 'skip-analysis', from: { step: r.step + 1 }, to: { step: r.step + 1 }, source, reason: reason ?? 'analysis skipped by an operator', who },
      { rollout: next, basedOn: r },
    )
    return next
  }

  /** New green targets: the analysis starts over, the step's hold too (retried if a check moved the rollout meanwhile). */
  async restartForNewTargets(): Promise<void> {
    await followManualChange(async () => {
      const r = this.#o.release.rollout()
      if (r?.phase !== 'progressing' && r?.phase !== 'paused') return
      const now = Date.now()
      this.#restartAnalysis(now, r)
      const hold = r.steps[r.step]!.holdMs
      await this.#o.release.saveRollout(
        {
          ...r,
          consecutiveFailures: 0,
          passedThisStep: false,
          stepStartedAt: new Date(now).toISOString(),
          ...(r.phase === 'progressing' ? { holdUntil: now + hold } : { holdLeftMs: hold }),
        },
        r,
      )
    }, this.#o.logger)
  }

  /** GET /v1/rollout. */
  view(): Record<string, unknown> | null {
    const r = this.#o.release.rollout()
    if (r === null) return null
    return rolloutView(r, {
      settings: this.#analysis(r),
      progressDeadlineMs: this.#progressDeadline(r),
      green: this.#o.release.state().greenBuckets,
      unstored: this.#stepper.unstored,
      verdict: this.#stepper.verdict,
      evidence: evidenceOf(this.#o, r),
      now: Date.now(),
    })
  }

  /** A new step, hold or release: the first look comes one of this rollout's own intervals later. */
  #restartAnalysis(now: number, r: RolloutState): void {
    this.#stepper.restart(now, r)
  }

  #analysis(r: RolloutState): AnalysisSettings {
    return effectiveAnalysis(this.#o.settings().analysis, r.analysis)
  }

  #progressDeadline(r: RolloutState): number {
    return r.progressDeadlineMs ?? this.#o.settings().progressDeadline
  }

  /** The latest rollout, when it is progressing or paused (else 409). */
  async #active(): Promise<RolloutState> {
    // In a fleet, act on the latest rollout, not on one this replica has not caught up with.
    await this.#o.release.adopt()
    const r = this.#o.release.rollout()
    if (r === null || (r.phase !== 'progressing' && r.phase !== 'paused')) {
      throw stateError(`no rollout is progressing or paused${r === null ? '' : ` (the last one ${r.phase})`}`)
    }
    return r
  }

  #require(phase: 'progressing' | 'paused', action: string): RolloutState {
    const r = this.#o.release.rollout()
    if (r?.phase !== phase) throw stateError(`cannot ${action}: ${r === null ? 'no rollout was started' : `the rollout is ${r.phase}`}`)
    return r
  }

  /** Operators act outside the plan: a manual split pauses, a rollback aborts, a revert aborts. */
  #onSplitEvent(event: AuditEvent, origin: ChangeOrigin): void {
    // The replica where the change was made reacts; the others adopt what it writes.
    if (origin === 'remote' || event.source === 'rollout') return
    if (event.type !== 'rollback' && event.type !== 'promote' && event.type !== 'split') return
    // A revert aborts a rollout in its own write (SplitController.revert).
    const act = async (): Promise<void> => {
      const r = this.#o.release.rollout()
      if (r === null || (r.phase !== 'progressing' && r.phase !== 'paused')) return
      // Stored as the operator's (source), logged as the rollout's reaction to it (who).
      if (event.type === 'rollback') await this.abort(event.source, 'rolled back by an operator', 'rollout')
      else if (event.type === 'promote') {
        await this.#o.release.saveRollout({ ...r, phase: 'succeeded', endedAt: new Date().toISOString(), reason: 'promoted by an operator' }, r)
      } else if (r.phase === 'progressing') {
        await this.pause(event.source, 'a manual split change paused the rollout', 'rollout')
      }
    }
    void followManualChange(act, this.#o.logger)
  }
}
