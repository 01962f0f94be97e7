import type { Logger } from 'pino'
import type { AuditEvent } from '../../state/types.js'

/** An audit event as the log line of its action reads it. */
export type ActionEvent = Pick<AuditEvent, 'type' | 'from' | 'to' | 'source' | 'reason'>

/** What the log line says beside the event: who asked, and the action's name when the event type alone does not say it. */
export interface ActionNote {
  /** `token@10.0.0.7` or `anonymous@127.0.0.1` for an admin call; `rollout`, `auto-revert`, `sighup`, ...; the event's source when absent. */
  readonly who?: string | undefined
  /** E.g. `rollout.start` for the first step of a rollout; by default from the event type. */
  readonly action?: string | undefined
}

/** Event types that belong to a rollout: their actions are named `rollout.<type>`. */
const ROLLOUT_TYPES: ReadonlySet<string> = new Set(['step', 'pause', 'resume', 'abort', 'succeeded', 'skip-analysis'])
/** Actions an operator should notice: logged as warnings. */
const WARN_TYPES: ReadonlySet<string> = new Set(['revert', 'abort', 'degradation'])

const HEADLINES: Readonly<Record<string, string>> = {
  split: 'split changed',
  promote: 'promoted',
  rollback: 'rolled back',
  revert: 'auto-revert',
  'rollout.start': 'rollout started',
  'rollout.step': 'rollout step',
  'rollout.promote-step': 'rollout step promoted by an operator',
  'rollout.abort': 'rollout aborted',
  'rollout.pause': 'rollout paused',
  'rollout.resume': 'rollout resumed',
  'rollout.succeeded': 'rollout succeeded: green is at 100%',
  'rollout.skip-analysis': 'rollout step passes on its hold (analysis skipped)',
  degradation: 'shared degradation: both colours fail, green is not blamed',
}

/** `green 10% -> 25%` when the event moved the split, else undefined. */
function splitMove(event: ActionEvent): string | undefined {
  const green = (v: unknown) => (typeof v === 'object' && v !== null && typeof (v as { green?: unknown }).green === 'number' ? (v as { green: number }).green : undefined)
  const from = green(event.from)
  const to = green(event.to)
  return from === undefined || to === undefined ? undefined : `green ${from}% -> ${to}%`
}

/** `0% -> 10% of blue's requests` for a mirror event. */
function mirrorMove(event: ActionEvent): string {
  const percent = (v: unknown) => (typeof v === 'object' && v !== null ? (v as { percent?: unknown }).percent : undefined)
  return `${String(percent(event.from))}% -> ${String(percent(event.to))}% of blue's requests`
}

/**
 * The one log line of a control action (split, promote, rollback, rollout start, step, pause,
 * resume, abort, promote-step, succeeded, targets, revert, ...), in one shape:
 * `{action, who, why, event, source, from, to, generation}` and a message a person can read,
 * e.g. `split changed: green 10% -> 25%`. Info, or warn for a revert, an abort and a shared
 * degradation. `extra` adds fields of that action (a revert's numbers).
 */
export function logAction(logger: Logger, event: ActionEvent, note: ActionNote, generation: number, extra: Record<string, unknown> = {}): void {
  const action = note.action ?? (ROLLOUT_TYPES.has(event.type) ? `rollout.${event.type}` : event.type)
  const fields = { action, who: note.who ?? event.source, why: event.reason, event: event.type, source: event.source, from: event.from, to: event.to, generation, ...extra }
  const move = splitMove(event)
  const headline = event.type === 'targets' ? `${(event.to as { color?: string } | null)?.color ?? ''} targets changed`.trim() : (HEADLINES[action] ?? action)
  const mirror = event.type === 'mirror' ? mirrorMove(event) : undefined
  const msg = mirror !== undefined ? `mirroring changed: ${mirror}` : move === undefined || action === 'rollout.succeeded' ? headline : `${headline}: ${move}`
  if (WARN_TYPES.has(event.type)) logger.warn(fields, msg)
  else logger.info(fields, msg)
}
