import type { RolloutView, TestReading, VerdictView } from './api-types.js'
import { cut, duration, localTime, pct } from './format.js'
import type { Style } from './style.js'

// The rollout as text, as a pure function of one GET /v1/rollout answer and the clock: the
// live view (`rollout get --watch` on a terminal) redraws these lines in place; on a pipe and
// in CI (`--wait`) one summary line is appended per change. Tested without a server.

export interface RenderOptions {
  /** The clock now. */
  readonly now: number
  /** When the view was read: a progressing hold counts down from then. */
  readonly readAt: number
  readonly style: Style
  /** Box-drawing characters (a terminal); plain ASCII otherwise. */
  readonly unicode: boolean
  /** Cut every line to this many characters (a terminal's width). */
  readonly width?: number | undefined
  /** Characters of the split bar. */
  readonly barWidth?: number
}

/** The hold left at `now`: counting down while progressing, frozen while paused, null once over or ended. */
export function holdLeft(view: RolloutView, now: number, readAt: number): number | null {
  if (view.holdLeftMs === null) return null
  return view.phase === 'progressing' ? Math.max(0, view.holdLeftMs - Math.max(0, now - readAt)) : view.holdLeftMs
}

/** `[#####-----]`: green's share filled from the left, blue's the rest. */
export function splitBar(green: number, width: number, style: Style, unicode: boolean): string {
  const filled = Math.round((Math.min(100, Math.max(0, green)) / 100) * width)
  const [on, off] = unicode ? ['█', '░'] : ['#', '-']
  return `[${style.green(on.repeat(filled))}${style.blue(off.repeat(width - filled))}]`
}

function phaseText(view: RolloutView, style: Style): string {
  if (view.phase === 'succeeded') return style.green('succeeded')
  if (view.phase === 'aborted') return style.red('aborted')
  if (view.phase === 'paused') return style.yellow('paused')
  return view.phase
}

function resultText(verdict: VerdictView, style: Style): string {
  const paint = verdict.result === 'pass' ? style.green : verdict.result === 'fail' ? style.red : style.yellow
  return `${paint(verdict.result)} → ${verdict.action}`
}

/** A step as its share: `25 %`, or `mirror 100 %` for a mirror step (green gets copies of blue's requests, no users). */
export function stepShare(step: RolloutView['steps'][number]): string {
  return typeof step.mirror === 'number' ? `mirror ${pct(step.mirror)}` : pct(step.green)
}

/** ` · mirror 100 %` while the rollout holds at a mirror step; '' otherwise. */
function mirrorNow(view: RolloutView): string {
  const mirror = view.phase === 'progressing' || view.phase === 'paused' ? view.steps[view.step - 1]?.mirror : undefined
  return typeof mirror === 'number' ? ` · mirror ${pct(mirror)}` : ''
}

function stepsText(view: RolloutView, style: Style, unicode: boolean): string {
  const done = unicode ? '✓' : '+'
  return view.steps
    .map((s, i) => {
      const n = i + 1
      if (n < view.step || (n === view.step && view.phase === 'succeeded')) return style.dim(`${stepShare(s)}${done}`)
      if (n === view.step) return style.bold(`[${stepShare(s)}]`)
      return stepShare(s)
    })
    .join(unicode ? ' → ' : ' > ')
}

/** `errors ok 1.0/250`: one test's state and how far its evidence is from failing green. */
function testText(t: TestReading, style: Style): string {
  const name = t.test === 'route' && t.route !== undefined ? `route ${t.route}` : t.test
  const state = t.state === 'fail' ? style.red(t.state) : t.state === 'leaning' ? style.yellow(t.state) : t.state
  const numbers = t.evidence === undefined || t.threshold === undefined ? '' : ` ${Number(t.evidence.toPrecision(3))}/${t.threshold}`
  return `${name} ${state}${numbers}`
}

function holdText(view: RolloutView, o: RenderOptions): string {
  const step = view.steps[view.step - 1]
  const left = holdLeft(view, o.now, o.readAt)
  const of = step === undefined ? '' : ` of ${duration(step.holdMs)}`
  if (view.phase === 'paused') return `hold: paused with ${duration(left ?? 0)}${of} left`
  if (left === null) return 'hold: -'
  if (left > 0) return `hold: ${duration(left)} left${of}`
  return `hold: over${of}; the step moves on once the analysis passes`
}

/** The latest verdict, when it is about the current step (the one before a step belongs to the step before). */
export function stepVerdict(view: RolloutView): VerdictView | null {
  const last = view.analysis?.last ?? null
  if (last === null) return null
  return Date.parse(last.at) < Date.parse(view.stepStartedAt) && !(view.phase === 'succeeded' || view.phase === 'aborted') ? null : last
}

function analysisText(view: RolloutView, style: Style): string[] {
  const a = view.analysis
  const last = stepVerdict(view)
  const checks = a?.checks === undefined ? '' : ` · ${a.checks} checks, ${a.failedChecks ?? 0} failed`
  const min = last?.minRequests ?? a?.settings?.minRequests
  const seen = last?.greenThisStep ?? a?.greenThisStep
  const traffic = seen === undefined ? '' : ` · green served ${seen} requests this step${min === undefined ? '' : ` (needs ${min})`}`
  const skip = view.skipAnalysis === true ? ' · analysis skipped for this step' : ''
  if (last === null) return [`analysis: no verdict yet${checks}${traffic}${skip}`]
  const lines = [`analysis: ${resultText(last, style)}${checks}${traffic}${skip}`]
  for (const reason of last.reasons) lines.push(`  ${reason}`)
  if (last.tests !== undefined && last.tests.length > 0) lines.push(`  tests: ${last.tests.map((t) => testText(t, style)).join(' · ')}`)
  return lines
}

/** The live view: step i/n, the split as a bar, the steps, the hold's countdown, the verdict with its numbers. */
export function renderRollout(view: RolloutView, o: RenderOptions): string[] {
  const { style } = o
  const lines = [
    `rollout ${view.id.slice(0, 8)} · ${phaseText(view, style)} · step ${view.step}/${view.steps.length} · green ${pct(view.green)}${mirrorNow(view)}`,
    `${splitBar(view.green, o.barWidth ?? 40, style, o.unicode)} ${style.blue(`blue ${pct(100 - view.green)}`)} · ${style.green(`green ${pct(view.green)}`)}`,
    `steps: ${stepsText(view, style, o.unicode)}`,
  ]
  if (view.phase === 'progressing' || view.phase === 'paused') lines.push(holdText(view, o))
  else if (view.endedAt !== null) lines.push(`ended: ${localTime(view.endedAt)} after ${duration(Date.parse(view.endedAt) - Date.parse(view.startedAt))}`)
  lines.push(...analysisText(view, style))
  if (view.reason !== null) lines.push(`reason: ${view.reason}`)
  return o.width === undefined ? lines : lines.map((line) => cutStyled(line, o.width!))
}

/** Cuts a line that may hold colour codes to `width` visible characters. */
function cutStyled(line: string, width: number): string {
  // eslint-disable-next-line no-control-regex
  const visible = line.replace(/\x1b\[[0-9;]*m/g, '')
  if (visible.length <= width) return line
  // Rare (a long verdict): drop the colours rather than count around them.
  return cut(visible, width)
}

/** One line per change, for pipes and CI logs: `step 2/4 · green 25 % · progressing · hold 1m04s left · analysis pass → hold`. */
export function rolloutSummary(view: RolloutView, now: number, readAt: number, style: Style): string {
  const parts = [`step ${view.step}/${view.steps.length}`, `green ${pct(view.green)}${mirrorNow(view)}`, phaseText(view, style)]
  const left = holdLeft(view, now, readAt)
  if (view.phase === 'progressing' || view.phase === 'paused') parts.push(left === null || left === 0 ? 'hold over' : `hold ${duration(left)} left`)
  const last = stepVerdict(view)
  if (last !== null) parts.push(`analysis ${resultText(last, style)}`)
  return parts.join(' · ')
}

/** What makes a summary line worth printing again: the hold's countdown alone is not. */
export function summaryKey(view: RolloutView): string {
  const last = stepVerdict(view)
  return [view.id, view.phase, view.step, view.green, last?.result, last?.action].join('|')
}

/** The end of a rollout for a log: the outcome, its reason and the last verdict's words. */
export function outcomeLines(view: RolloutView, style: Style): string[] {
  const took = view.endedAt === null ? '' : ` after ${duration(Date.parse(view.endedAt) - Date.parse(view.startedAt))}`
  if (view.phase === 'succeeded') return [`rollout ${style.green('succeeded')}: green ${pct(view.green)}${took}`]
  const lines = [`rollout ${phaseText(view, style)} at step ${view.step}/${view.steps.length}${took}${view.reason === null ? '' : `: ${view.reason}`}`]
  const last = view.analysis?.last ?? null
  if (last !== null) {
    lines.push(`verdict: ${resultText(last, style)}`)
    for (const reason of last.reasons) lines.push(`  ${reason}`)
  }
  return lines
}
