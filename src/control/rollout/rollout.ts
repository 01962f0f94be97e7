import { randomUUID } from 'node:crypto'
import type { Logger } from 'pino'
import type { AnalysisSettings, RolloutSettings } from '../../config/schema.js'
import type { ErrorWindow } from '../analysis/error-window.js'
import { ControlErrors, GenerationConflictError, RolloutError } from '../errors.js'
import { WriteConflictError } from '../../state/errors.js'
import type { Evidence } from '../analysis/evidence.js'
import { decideStep, readCeiling } from '../analysis/judge.js'
import type { ChangeOrigin, SplitController } from '../release/split-controller.js'
import { durationField, effectiveAnalysis, planAnalysis, planSteps, type RolloutPlan } from './plan.js'
import type { AuditEvent, RolloutState } from '../../state/types.js'

/** How often the controller looks at the clock; checks run every `rollout.analysis.interval`. */
const TICK_MS = 50

const stateError = (message: string) => new RolloutError(ControlErrors.SY_ERR_ROLLOUT_STATE, message)

export interface RolloutControllerOptions {
  readonly controller: SplitController
  /** The release's body of evidence, shared with auto-revert. */
  readonly evidence: () => Evidence
  /** The recent window, for the error-rate ceiling. */
  readonly window: () => ErrorWindow
  /** autoRevert.ceilingVsBlue: the ceiling counts against green only while blue is under it. */
  readonly ceilingVsBlue: () => boolean
  readonly settings: () => RolloutSettings
  readonly logger: Logger
  /** Called once a rollout reached 100 % when `rollout.swapOnPromote` is on. */
  readonly swapColors?: () => Promise<void>
  /** In a fleet, only the replica holding the lease drives the rollout; alone, always true. */
  readonly leads?: () => boolean
  /** sticky.reshuffle is perRelease: a rollout's start draws a new group of users for green. */
  readonly reshuffle?: () => boolean
}

/** What one look at the evidence concluded, as GET /v1/rollout and the events show it. */
export interface RolloutVerdict extends Record<string, unknown> {
  readonly at: string
  readonly result: 'pass' | 'fail' | 'inconclusive'
  readonly action: string
  readonly reasons: readonly string[]
}

/** Checks between two stores of an unchanged verdict: the state is not rewritten every second. */
const STORE_EVERY_CHECKS = 10

/**
 * Walks green through a plan's steps, judging green against blue at every step on the
 * release's evidence (evidence.ts, judge.ts): it aborts as soon as a test finds green worse,
 * pauses on a shared degradation or when a step stays undecided past `progressDeadline`, and
 * advances only when the hold is over and the evidence lets it. Runs on a timer, off the
 * request path; its state is stored with the split so a restart continues at the same step.
 */
export class RolloutController {
  readonly #o: RolloutControllerOptions
  #timer: NodeJS.Timeout | undefined
  #nextCheckAt = 0
  #busy = false
  /** The hold this replica last started judging (fleet mode). */
  #holdSeen: string | null = null
  /** The latest verdict (stored with the rollout only when it changes, or every few checks). */
  #verdict: RolloutVerdict | null = null
  /** Checks made since the rollout was last stored by this replica. */
  #unstored = 0

  constructor(options: RolloutControllerOptions) {
    this.#o = options
    options.controller.onChange((_state, event, origin) => this.#onSplitEvent(event, origin))
  }

  /** Continues a stored rollout: the hold of its step restarts, its counters stay. */
  async restore(): Promise<void> {
    const r = this.#o.controller.rollout()
    if (r?.phase !== 'progressing') return
    const now = Date.now()
    await this.#o.controller.saveRollout({ ...r, stepStartedAt: new Date(now).toISOString(), holdUntil: now + r.steps[r.step]!.holdMs }, r)
    this.#o.logger.info({ rollout: r.id, step: r.step + 1 }, 'rollout continues after restart; the hold of its step restarts')
  }

  start(): void {
    this.#timer ??= setInterval(() => void this.tick(), TICK_MS)
  }

  stop(): void {
    clearInterval(this.#timer)
    this.#timer = undefined
  }

  /** Starts a rollout at its first step. 409 when one is progressing or paused. */
  async begin(plan: RolloutPlan, source: string, reason: string | null): Promise<RolloutState> {
    const steps = planSteps(plan, this.#o.settings())
    const analysis = planAnalysis(plan.analysis)
    const progressDeadlineMs = durationField('progressDeadline', plan.progressDeadline)
    // In a fleet, act on the latest rollout, not on one this replica has not caught up with.
    await this.#o.controller.adopt()
    const current = this.#o.controller.rollout()
    if (current !== null && (current.phase === 'progressing' || current.phase === 'paused')) {
      throw stateError(`rollout ${current.id} is ${current.phase}; abort it before starting another`)
    }
    const now = Date.now()
    const at = new Date(now).toISOString()
    const first = steps[0]!
    const rollout: RolloutState = {
      id: randomUUID(),
      phase: 'progressing',
      steps,
      step: 0,
      startedAt: at,
      stepStartedAt: at,
      holdUntil: now + first.holdMs,
      holdLeftMs: null,
      checks: 0,
      failedChecks: 0,
      consecutiveFailures: 0,
      passedThisStep: false,
      lastVerdict: null,
      endedAt: null,
      reason,
      analysis,
      progressDeadlineMs: progressDeadlineMs ?? null,
      skipAnalysisStep: null,
    }
    this.#verdict = null
    this.#restartAnalysis(now, rollout)
    await this.#o.controller.change({
      greenBuckets: first.greenBuckets,
      type: 'step',
      source,
      reason: `rollout started: step 1 of ${steps.length}${reason === null ? '' : ` (${reason})`}`,
      rollout,
      basedOn: current,
      newRelease: this.#o.reshuffle?.() ?? false,
    })
    return rollout
  }

  async pause(source: string, reason: string | null): Promise<RolloutState> {
    await this.#o.controller.adopt()
    const r = this.#require('progressing', 'pause')
    const next: RolloutState = { ...r, phase: 'paused', holdLeftMs: Math.max(0, r.holdUntil - Date.now()) }
    await this.#o.controller.record('pause', r.phase, 'paused', source, reason, next, r)
    return next
  }

  async resume(source: string, reason: string | null): Promise<RolloutState> {
    await this.#o.controller.adopt()
    const r = this.#require('paused', 'resume')
    const now = Date.now()
    const next: RolloutState = { ...r, phase: 'progressing', holdUntil: now + (r.holdLeftMs ?? 0), holdLeftMs: null }
    this.#restartAnalysis(now, r)
    await this.#o.controller.record('resume', 'paused', 'progressing', source, reason, next, r)
    return next
  }

  /**
   * Green to 0; the rollout ends as aborted and green stays at 0 until an operator acts.
   * When green is already at 0 (a revert or a rollback did it), only the rollout ends, so
   * the revert's latch and numbers stay as they are.
   */
  async abort(source: string, reason: string): Promise<RolloutState> {
    const r = await this.#active()
    const next: RolloutState = { ...r, phase: 'aborted', endedAt: new Date().toISOString(), reason, holdLeftMs: null }
    const why = `rollout aborted: ${reason}`
    if (this.#o.controller.state().greenBuckets === 0) {
      await this.#o.controller.record('abort', r.phase, 'aborted', source, why, next, r)
    } else {
      await this.#o.controller.change({ greenBuckets: 0, type: 'abort', source, reason: why, rollout: next, basedOn: r })
    }
    this.#o.logger.warn({ rollout: r.id, step: r.step + 1, source }, why)
    return next
  }

  /**
   * An operator moves the rollout to its next step now (or promotes after the last), whatever
   * the analysis says; recorded as a `step` event whose reason says so. A paused rollout resumes.
   */
  async promoteStep(source: string, reason: string | null): Promise<RolloutState> {
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
      await this.#o.controller.change({ greenBuckets: step.greenBuckets, type: 'step', source, reason: `step ${next + 1} of ${r.steps.length}: ${why}`, rollout: moved, basedOn: r })
      return moved
    }
    const last: RolloutState = { ...r, phase: 'progressing', holdLeftMs: null }
    await this.#o.controller.change({ greenBuckets: 10_000, type: 'promote', source, reason: why, rollout: last, basedOn: r })
    const done: RolloutState = { ...last, phase: 'succeeded', endedAt: new Date(now).toISOString(), reason: why }
    await this.#o.controller.record('succeeded', null, { green: 100 }, source, why, done, last)
    if (this.#o.settings().swapOnPromote && this.#o.swapColors !== undefined) await this.#o.swapColors()
    return done
  }

  /**
   * An operator lets the current step pass on its hold alone: the analysis no longer makes it
   * wait (too little traffic, evidence leaning against green, the progress deadline). A test
   * that finds green worse still aborts. Recorded as a `skip-analysis` event.
   */
  async skipAnalysis(source: string, reason: string | null): Promise<RolloutState> {
    const r = await this.#active()
    const next: RolloutState = { ...r, skipAnalysisStep: r.step }
    await this.#o.controller.record('skip-analysis', { step: r.step + 1 }, { step: r.step + 1 }, source, reason ?? 'analysis skipped by an operator', next, r)
    return next
  }

  /** New green targets: the analysis starts over, the step's hold too (retried if a check moved the rollout meanwhile). */
  async restartForNewTargets(): Promise<void> {
    await followManualChange(async () => {
      const r = this.#o.controller.rollout()
      if (r?.phase !== 'progressing' && r?.phase !== 'paused') return
      const now = Date.now()
      this.#restartAnalysis(now, r)
      const hold = r.steps[r.step]!.holdMs
      await this.#o.controller.saveRollout(
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

  /** The first step of a default (stepWeight) plan, in percent. */
  firstStepPercent(): number {
    return this.#o.settings().stepWeight
  }

  /** GET /v1/rollout. */
  view(): Record<string, unknown> | null {
    const r = this.#o.controller.rollout()
    if (r === null) return null
    const settings = this.#analysis(r)
    const evidence = this.#o.evidence()
    return {
      id: r.id,
      phase: r.phase,
      step: r.step + 1,
      steps: r.steps.map((s) => ({ green: s.greenBuckets / 100, holdMs: s.holdMs })),
      green: this.#o.controller.state().greenBuckets / 100,
      holdLeftMs: r.phase === 'progressing' ? Math.max(0, r.holdUntil - Date.now()) : r.holdLeftMs,
      startedAt: r.startedAt,
      stepStartedAt: r.stepStartedAt,
      endedAt: r.endedAt,
      reason: r.reason,
      progressDeadlineMs: this.#progressDeadline(r),
      skipAnalysis: r.skipAnalysisStep === r.step,
      analysis: {
        settings: { ...settings, ...(r.analysis == null ? {} : { overrides: r.analysis }) },
        checks: r.checks + (r.phase === 'progressing' ? this.#unstored : 0),
        failedChecks: r.failedChecks,
        consecutiveFailures: r.consecutiveFailures,
        failureThreshold: settings.failureThreshold,
        passedThisStep: r.passedThisStep,
        greenThisStep: evidence.greenSinceMark,
        last: this.#verdict ?? r.lastVerdict,
        evidence: { since: new Date(evidence.startedAt).toISOString(), ...evidence.totals() },
      },
    }
  }

  /** One look at the clock: run a check when one is due, advance when the hold is over. */
  async tick(): Promise<void> {
    if (this.#busy) return
    if (this.#o.leads?.() === false) {
      this.#holdSeen = null
      return
    }
    const r = this.#o.controller.rollout()
    if (r?.phase !== 'progressing') return
    // In a fleet the step may have begun (or resumed) on another replica, or this one may be
    // taking over as leader: either way, judge only what happens from now on.
    const hold = `${r.id}:${r.step}:${r.holdUntil}`
    if (this.#o.leads !== undefined && hold !== this.#holdSeen) {
      this.#holdSeen = hold
      this.#restartAnalysis(Date.now(), r)
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
    const analysis = this.#analysis(r)
    if (now < this.#nextCheckAt) return
    this.#nextCheckAt = now + analysis.interval
    const evidence = this.#o.evidence()
    evidence.configure(analysis)
    evidence.update()
    const window = this.#o.window()
    const ceiling = readCeiling(window.stats('green'), window.stats('blue'), analysis.maxErrorRate, 1 - analysis.confidence)
    const readings = evidence.readings()
    const skipping = r.skipAnalysisStep === r.step
    const holdOver = now >= r.holdUntil
    let decision = decideStep({
      readings,
      ceiling,
      vsBlue: this.#o.ceilingVsBlue(),
      greenThisStep: evidence.greenSinceMark,
      minRequests: analysis.minRequests,
      holdOver,
    })
    if (skipping && decision.action === 'wait') {
      decision = { ...decision, action: holdOver ? 'advance' : 'hold', reasons: [`analysis skipped for this step by an operator; ${decision.reasons.join('; ')}`] }
    }
    const verdict: RolloutVerdict = {
      at: new Date(now).toISOString(),
      result: decision.result,
      action: decision.action,
      reasons: decision.reasons,
      greenThisStep: evidence.greenSinceMark,
      minRequests: analysis.minRequests,
      tests: readings,
      ceiling,
    }
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
      await this.#o.controller.saveRollout(r, start)
    }
    if (decision.action === 'fail') {
      await save()
      await this.abort('rollout', `green is worse than blue at step ${r.step + 1}: ${decision.reasons.join('; ')}`)
      return
    }
    if (decision.action === 'pause') {
      await save()
      await this.pause('rollout', `shared degradation: ${decision.reasons.join('; ')}`)
      return
    }
    const deadline = this.#progressDeadline(r)
    if (decision.action === 'wait' && deadline > 0 && now >= r.holdUntil + deadline) {
      await save()
      await this.pause(
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
    if (next < r.steps.length) {
      const step = r.steps[next]!
      this.#restartAnalysis(now, r)
      await this.#o.controller.change({
        greenBuckets: step.greenBuckets,
        type: 'step',
        source: 'rollout',
        reason: `step ${next + 1} of ${r.steps.length}`,
        rollout: { ...r, step: next, stepStartedAt: new Date(now).toISOString(), holdUntil: now + step.holdMs, passedThisStep: false },
        basedOn: start,
      })
      return
    }
    // The phase turns to succeeded with the 'succeeded' event, so whoever sees it sees the event.
    await this.#o.controller.change({ greenBuckets: 10_000, type: 'promote', source: 'rollout', reason: 'rollout succeeded', rollout: r, basedOn: start })
    const done: RolloutState = { ...r, phase: 'succeeded', endedAt: new Date(now).toISOString() }
    await this.#o.controller.record('succeeded', null, { green: 100 }, 'rollout', `all ${r.steps.length} steps passed`, done, r)
    this.#o.logger.info({ rollout: r.id, steps: r.steps.length }, 'rollout succeeded: green is at 100%')
    if (this.#o.settings().swapOnPromote && this.#o.swapColors !== undefined) await this.#o.swapColors()
  }

  /** A new step, hold or release: the first look comes one of this rollout's own intervals later. */
  #restartAnalysis(now: number, r: RolloutState): void {
    this.#verdict = null
    this.#nextCheckAt = now + this.#analysis(r).interval
  }

  /** The config's analysis settings with this rollout's overrides. */
  #analysis(r: RolloutState): AnalysisSettings {
    return effectiveAnalysis(this.#o.settings().analysis, r.analysis)
  }

  #progressDeadline(r: RolloutState): number {
    return r.progressDeadlineMs ?? this.#o.settings().progressDeadline
  }

  /** The latest rollout, when it is progressing or paused (else 409). */
  async #active(): Promise<RolloutState> {
    // In a fleet, act on the latest rollout, not on one this replica has not caught up with.
    await this.#o.controller.adopt()
    const r = this.#o.controller.rollout()
    if (r === null || (r.phase !== 'progressing' && r.phase !== 'paused')) {
      throw stateError(`no rollout is progressing or paused${r === null ? '' : ` (the last one ${r.phase})`}`)
    }
    return r
  }

  #require(phase: 'progressing' | 'paused', action: string): RolloutState {
    const r = this.#o.controller.rollout()
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
      const r = this.#o.controller.rollout()
      if (r === null || (r.phase !== 'progressing' && r.phase !== 'paused')) return
      if (event.type === 'rollback') await this.abort(event.source, 'rolled back by an operator')
      else if (event.type === 'promote') {
        await this.#o.controller.saveRollout({ ...r, phase: 'succeeded', endedAt: new Date().toISOString(), reason: 'promoted by an operator' }, r)
      } else if (r.phase === 'progressing') {
        await this.pause(event.source, 'a manual split change paused the rollout')
      }
    }
    void followManualChange(act, this.#o.logger)
  }
}

/**
 * Runs `act` until it is not refused because a leader's check moved the rollout in between
 * (a few tries): an operator's split must pause the rollout, not lose to a routine check.
 */
async function followManualChange(act: () => Promise<void>, logger: Logger): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await act()
      return
    } catch (err) {
      const conflict = err instanceof RolloutError || err instanceof WriteConflictError
      if (conflict && attempt < 5) continue
      logger.error({ err }, 'rollout could not follow a manual change')
      return
    }
  }
}
