import { randomUUID } from 'node:crypto'
import type { Logger } from 'pino'
import { parseDuration } from '../config/duration.js'
import type { RolloutSettings } from '../config/schema.js'
import type { Tally } from './error-window.js'
import { ControlErrors, GenerationConflictError, RolloutError, WriteConflictError } from './errors.js'
import type { ChangeOrigin, SplitController } from './split-controller.js'
import { judge } from './statistics.js'
import type { AuditEvent, RolloutState, RolloutStep } from './types.js'

/** POST /v1/rollout: explicit steps, or a step weight plan (defaults from the `rollout` config). */
export interface RolloutPlan {
  readonly steps?: readonly { readonly green: number; readonly hold: string | number }[]
  readonly stepWeight?: number
  readonly maxWeight?: number
  readonly interval?: string | number
}

/** How often the controller looks at the clock; checks run every `rollout.analysis.interval`. */
const TICK_MS = 50

const planError = (message: string) => new RolloutError(ControlErrors.SY_ERR_ROLLOUT_PLAN, message)
const stateError = (message: string) => new RolloutError(ControlErrors.SY_ERR_ROLLOUT_STATE, message)

function toBuckets(field: string, green: number): number {
  const buckets = Math.round(green * 100)
  if (Math.abs(buckets - green * 100) > 1e-6) throw planError(`${field} must have at most two decimals (0.01 resolution)`)
  if (buckets < 1 || buckets > 10_000) throw planError(`${field} must be above 0 and at most 100`)
  return buckets
}

/** Turns a plan into steps; throws a 400 RolloutError naming the field. */
export function planSteps(plan: RolloutPlan, defaults: RolloutSettings): RolloutStep[] {
  if (plan.steps !== undefined) {
    if (plan.stepWeight !== undefined || plan.maxWeight !== undefined || plan.interval !== undefined) {
      throw planError('give either "steps" or "stepWeight"/"maxWeight"/"interval", not both')
    }
    if (plan.steps.length === 0) throw planError('"steps" must list at least one step')
    let previous = 0
    return plan.steps.map((step, i) => {
      const greenBuckets = toBuckets(`steps[${i}].green`, step.green)
      if (greenBuckets <= previous) throw planError(`steps[${i}].green must be above the step before it`)
      previous = greenBuckets
      const holdMs = parseDuration(step.hold)
      if (holdMs === undefined) throw planError(`steps[${i}].hold must be a duration such as 500ms, 30s, 5m or an integer of milliseconds`)
      return { greenBuckets, holdMs }
    })
  }
  const stepBuckets = toBuckets('stepWeight', plan.stepWeight ?? defaults.stepWeight)
  const maxBuckets = toBuckets('maxWeight', plan.maxWeight ?? defaults.maxWeight)
  if (stepBuckets > maxBuckets) throw planError('stepWeight must not exceed maxWeight')
  const holdMs = plan.interval === undefined ? defaults.interval : parseDuration(plan.interval)
  if (holdMs === undefined) throw planError('interval must be a duration such as 500ms, 30s, 5m or an integer of milliseconds')
  const steps: RolloutStep[] = []
  for (let g = stepBuckets; g < maxBuckets; g += stepBuckets) steps.push({ greenBuckets: g, holdMs })
  steps.push({ greenBuckets: maxBuckets, holdMs })
  if (steps.length > 1000) throw planError('the plan has more than 1000 steps; raise stepWeight')
  return steps
}

export interface RolloutControllerOptions {
  readonly controller: SplitController
  /** Outcomes since the last conclusive check, per colour. */
  readonly tally: Tally
  readonly settings: () => RolloutSettings
  readonly logger: Logger
  /** Called once a rollout reached 100 % when `rollout.swapOnPromote` is on. */
  readonly swapColors?: () => Promise<void>
  /** In a fleet, only the replica holding the lease drives the rollout; alone, always true. */
  readonly leads?: () => boolean
}

/**
 * Walks green through a plan's steps, judging green against blue at every step, and aborts
 * to green 0 after `failureThreshold` failing checks in a row. Runs on a timer, off the
 * request path; its state is stored with the split so a restart continues at the same step.
 */
export class RolloutController {
  readonly #o: RolloutControllerOptions
  #timer: NodeJS.Timeout | undefined
  #nextCheckAt = 0
  #busy = false
  /** The hold this replica last started judging (fleet mode). */
  #holdSeen: string | null = null

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
    }
    this.#restartAnalysis(now)
    await this.#o.controller.change({
      greenBuckets: first.greenBuckets,
      type: 'step',
      source,
      reason: `rollout started: step 1 of ${steps.length}${reason === null ? '' : ` (${reason})`}`,
      rollout,
      basedOn: current,
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
    this.#restartAnalysis(now)
    await this.#o.controller.record('resume', 'paused', 'progressing', source, reason, next, r)
    return next
  }

  /**
   * Green to 0; the rollout ends as aborted and green stays at 0 until an operator acts.
   * When green is already at 0 (a revert or a rollback did it), only the rollout ends, so
   * the revert's latch and numbers stay as they are.
   */
  async abort(source: string, reason: string): Promise<RolloutState> {
    await this.#o.controller.adopt()
    const r = this.#o.controller.rollout()
    if (r === null || (r.phase !== 'progressing' && r.phase !== 'paused')) {
      throw stateError(`no rollout is progressing or paused${r === null ? '' : ` (the last one ${r.phase})`}`)
    }
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

  /** New green targets: the analysis starts over, the step's hold too (retried if a check moved the rollout meanwhile). */
  async restartForNewTargets(): Promise<void> {
    await followManualChange(async () => {
      const r = this.#o.controller.rollout()
      if (r?.phase !== 'progressing' && r?.phase !== 'paused') return
      const now = Date.now()
      this.#restartAnalysis(now)
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
    const settings = this.#o.settings().analysis
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
      analysis: {
        checks: r.checks,
        failedChecks: r.failedChecks,
        consecutiveFailures: r.consecutiveFailures,
        failureThreshold: settings.failureThreshold,
        passedThisStep: r.passedThisStep,
        last: r.lastVerdict,
        pending: { green: this.#o.tally.stats('green'), blue: this.#o.tally.stats('blue') },
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
      this.#restartAnalysis(Date.now())
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
    const settings = this.#o.settings()
    if (now >= this.#nextCheckAt) {
      this.#nextCheckAt = now + settings.analysis.interval
      const tally = this.#o.tally
      const verdict = judge(tally.stats('green'), tally.stats('blue'), settings.analysis)
      if (verdict.result !== 'inconclusive') tally.reset()
      r = {
        ...r,
        checks: r.checks + 1,
        failedChecks: r.failedChecks + (verdict.result === 'fail' ? 1 : 0),
        consecutiveFailures: verdict.result === 'fail' ? r.consecutiveFailures + 1 : verdict.result === 'pass' ? 0 : r.consecutiveFailures,
        passedThisStep: r.passedThisStep || verdict.result === 'pass',
        lastVerdict: { ...verdict, at: new Date(now).toISOString() },
      }
      if (verdict.result === 'fail' && r.consecutiveFailures >= settings.analysis.failureThreshold) {
        await this.#o.controller.saveRollout(r, start)
        await this.abort('rollout', `${r.consecutiveFailures} failing checks in a row at step ${r.step + 1}: ${verdict.reasons.join('; ')}`)
        return
      }
      await this.#o.controller.saveRollout(r, start)
    }
    if (now < r.holdUntil || !r.passedThisStep || r.consecutiveFailures !== 0) return
    const next = r.step + 1
    if (next < r.steps.length) {
      const step = r.steps[next]!
      this.#restartAnalysis(now)
      await this.#o.controller.change({
        greenBuckets: step.greenBuckets,
        type: 'step',
        source: 'rollout',
        reason: `step ${next + 1} of ${r.steps.length}`,
        rollout: { ...r, step: next, stepStartedAt: new Date(now).toISOString(), holdUntil: now + step.holdMs, passedThisStep: false },
        basedOn: r,
      })
      return
    }
    // The phase turns to succeeded with the 'succeeded' event, so whoever sees it sees the event.
    await this.#o.controller.change({ greenBuckets: 10_000, type: 'promote', source: 'rollout', reason: 'rollout succeeded', rollout: r, basedOn: r })
    const done: RolloutState = { ...r, phase: 'succeeded', endedAt: new Date(now).toISOString() }
    await this.#o.controller.record('succeeded', null, { green: 100 }, 'rollout', `all ${r.steps.length} steps passed`, done, r)
    this.#o.logger.info({ rollout: r.id, steps: r.steps.length }, 'rollout succeeded: green is at 100%')
    if (settings.swapOnPromote && this.#o.swapColors !== undefined) await this.#o.swapColors()
  }

  #restartAnalysis(now: number): void {
    this.#o.tally.reset()
    this.#nextCheckAt = now + this.#o.settings().analysis.interval
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
