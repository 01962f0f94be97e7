import type { Color } from '../../routing/types.js'
import { sameData } from '../../state/same-data.js'
import { ControlErrors, RolloutError } from '../errors.js'
import type { ActionNote } from './action-log.js'
import type { PendingWrite, Transition } from '../../state/replica.js'
import type {
  AuditEvent,
  EventType,
  PersistedState,
  RevertInfo,
  RolloutState,
  SplitPercent,
  SplitState,
  TargetOverride,
  TargetOverrides,
  MirrorState,
} from '../../state/types.js'

/**
 * The release's transitions: pure functions from the persisted document (split, generation,
 * revert latch, rollout, target overrides, sticky salt, audit log) to the next one and its
 * audit event. The writer (release.ts) runs them against the freshest document; a simulation
 * or a test can run them alone.
 */

/** Green's share in buckets of 0.01 %: all of the traffic. */
export const ALL = 10_000

/** Percentages of a green share in buckets, e.g. 1000 -> {blue: 90, green: 10}. */
export function toPercent(greenBuckets: number): SplitPercent {
  return { blue: (ALL - greenBuckets) / 100, green: greenBuckets / 100 }
}

/** The GET /v1/split shape. */
export function splitView(state: SplitState): { blue: number; green: number; generation: number; reverted: SplitState['reverted'] } {
  return { ...toPercent(state.greenBuckets), generation: state.generation, reverted: state.reverted }
}

/**
 * Who changed the release and why, as the audit log keeps it (`source`, `reason`); `who` and
 * `action` go to the change's log line only (action-log.ts), never into the stored event.
 */
export interface Cause extends ActionNote {
  readonly source: string
  readonly reason?: string | null
}

/** What a write stores beside its event: the rollout, and the rollout it was computed from. */
export interface RolloutCarriage {
  /** The rollout state to store with this change, in the same write; undefined leaves it. */
  readonly rollout?: RolloutState | null
  /** The rollout `rollout` was computed from: refused (409) if it is no longer the current one. */
  readonly basedOn?: RolloutState | null
}

/** The first document of a release that was never stored. */
export function seedDocument(greenBuckets: number, mirrorBuckets = 0): PersistedState {
  return { split: { greenBuckets, generation: 1, reverted: null }, events: [], rollout: null, ...mirrorPart({ buckets: mirrorBuckets }) }
}

/** The document's `mirror` key: present only while something is mirrored, as the store keeps it. */
function mirrorPart(mirror: MirrorState | null | undefined): { mirror?: MirrorState } {
  return mirror == null || mirror.buckets === 0 ? {} : { mirror }
}

export function auditEvent(at: number, type: EventType, from: unknown, to: unknown, cause: Cause): AuditEvent {
  return Object.freeze({ at: new Date(at).toISOString(), type, from, to, source: cause.source, reason: cause.reason ?? null })
}

/**
 * The next document with `event` first in its log (at most `maxEvents`) and the given parts
 * replaced; what is not given stays.
 */
export function withEvent(
  doc: PersistedState,
  event: AuditEvent,
  maxEvents: number,
  parts: { split?: SplitState; rollout?: RolloutState | null | undefined; targets?: TargetOverrides; release?: string; mirror?: MirrorState } = {},
): Transition<AuditEvent> {
  const stamped = stampEvent(event, doc.events)
  const next: PersistedState = {
    split: parts.split ?? doc.split,
    events: [stamped, ...doc.events].slice(0, maxEvents),
    rollout: parts.rollout === undefined ? (doc.rollout ?? null) : parts.rollout,
    targets: parts.targets ?? doc.targets ?? {},
    release: parts.release ?? doc.release ?? '',
    ...mirrorPart(parts.mirror ?? doc.mirror),
  }
  return { next, event: stamped, result: stamped }
}

/** `event` with the id after the newest in `log` (newest first): ids rise by one per event of the release. */
export function stampEvent(event: AuditEvent, log: readonly AuditEvent[]): AuditEvent {
  return Object.freeze({ ...event, id: (log[0]?.id ?? log.length) + 1 })
}

/**
 * The split moves to `greenBuckets`: a new generation, the revert latch cleared. With
 * `mirrorBuckets` (a rollout entering or leaving its mirror stage) the mirror share moves in
 * the same write; the event then carries both shares.
 */
export function splitTo(
  doc: PersistedState,
  change: { readonly greenBuckets: number; readonly type: EventType; readonly salt?: string; readonly mirrorBuckets?: number } & Cause & RolloutCarriage,
  at: number,
  maxEvents: number,
): Transition<AuditEvent> {
  const before = doc.split
  const split: SplitState = { greenBuckets: change.greenBuckets, generation: before.generation + 1, reverted: null }
  const mirrorBefore = doc.mirror?.buckets ?? 0
  const moves = change.mirrorBuckets !== undefined && change.mirrorBuckets !== mirrorBefore
  const from = moves ? { ...toPercent(before.greenBuckets), mirror: mirrorBefore / 100 } : toPercent(before.greenBuckets)
  const to = moves ? { ...toPercent(split.greenBuckets), mirror: change.mirrorBuckets / 100 } : toPercent(split.greenBuckets)
  const event = auditEvent(at, change.type, from, to, change)
  return withEvent(doc, event, maxEvents, {
    split,
    rollout: change.rollout,
    ...(change.salt === undefined ? {} : { release: change.salt }),
    ...(moves ? { mirror: { buckets: change.mirrorBuckets } } : {}),
  })
}

/** Mirroring moves to `buckets` of blue's requests: a `mirror` event; the split stays. */
export function mirrorTo(doc: PersistedState, buckets: number, cause: Cause, at: number, maxEvents: number): Transition<AuditEvent> {
  const event = auditEvent(at, 'mirror', { percent: (doc.mirror?.buckets ?? 0) / 100 }, { percent: buckets / 100 }, cause)
  return withEvent(doc, event, maxEvents, { mirror: { buckets } })
}

/**
 * Green goes to 0 and the revert is latched; a rollout in progress ends with it, in the same
 * write, so no replica may step green up again. Null when green is already at 0. The pending
 * write re-bases the revert on a document stored meanwhile by others.
 */
export function revertTo(
  doc: PersistedState,
  reason: Omit<RevertInfo, 'at'>,
  at: number,
  maxEvents: number,
): (Transition<PendingWrite> & { readonly event: AuditEvent }) | null {
  const before = doc.split
  if (before.greenBuckets === 0) return null
  const info: RevertInfo = { at: new Date(at).toISOString(), ...reason }
  const event = auditEvent(at, 'revert', toPercent(before.greenBuckets), toPercent(0), { source: 'auto-revert', reason: reason.reason })
  const split: SplitState = { greenBuckets: 0, generation: before.generation + 1, reverted: info }
  const { next, result: stamped } = withEvent(doc, event, maxEvents, { split, rollout: abortedBy(doc.rollout ?? null, info) })
  const greenThen = doc.targets?.green
  const pending: PendingWrite = {
    event: stamped,
    // Judged on green's release of then: if the split or green's targets moved meanwhile, it does not apply.
    rebase: (stored) => {
      const greenMoved = !sameOverride(stored.targets?.green, greenThen)
      if (stored.split.generation !== before.generation || stored.split.greenBuckets === 0 || greenMoved) return null
      return {
        split: { greenBuckets: 0, generation: stored.split.generation + 1, reverted: info },
        events: [stampEvent(event, stored.events), ...stored.events].slice(0, maxEvents),
        rollout: abortedBy(stored.rollout ?? null, info),
        targets: stored.targets ?? null,
        release: stored.release ?? null,
        ...mirrorPart(stored.mirror),
      }
    },
  }
  return { next, event: stamped, result: pending }
}

/** A colour follows other targets (`override`), or its config's again (null). */
export function targetsTo(
  doc: PersistedState,
  change: { readonly color: Color; readonly override: TargetOverride | null; readonly from: readonly string[]; readonly to: readonly string[]; readonly salt?: string } & Cause,
  at: number,
  maxEvents: number,
): Transition<AuditEvent> {
  const targets: { -readonly [C in Color]?: TargetOverride } = { ...doc.targets }
  if (change.override === null) delete targets[change.color]
  else targets[change.color] = change.override
  const event = auditEvent(at, 'targets', { color: change.color, targets: [...change.from] }, { color: change.color, targets: [...change.to] }, change)
  return withEvent(doc, event, maxEvents, { targets, ...(change.salt === undefined ? {} : { release: change.salt }) })
}

/** The rollout alone moves on (checks, counters): no audit event. */
export function rolloutTo(doc: PersistedState, rollout: RolloutState | null): Transition {
  return { next: { ...doc, rollout, targets: doc.targets ?? {}, release: doc.release ?? '' }, event: null, result: undefined }
}

/** A rollout that a revert ends: aborted when it was progressing or paused, else as it is. */
export function abortedBy(rollout: RolloutState | null, info: RevertInfo): RolloutState | null {
  if (rollout === null || (rollout.phase !== 'progressing' && rollout.phase !== 'paused')) return rollout
  return { ...rollout, phase: 'aborted', endedAt: info.at, holdLeftMs: null, reason: `auto-revert: ${info.reason}` }
}

function sameOverride(a: TargetOverride | undefined, b: TargetOverride | undefined): boolean {
  if (a === undefined || b === undefined) return a === b
  return sameList(a.targets, b.targets) && sameList(a.over, b.over)
}

export function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i])
}

/**
 * A rollout write is computed from the rollout its writer read. When that is no longer the
 * current one (another replica's leader checked or stepped, an operator paused it), the write
 * would undo that: refused (409). Compared by content: adopting an unrelated write of another
 * replica makes a new but equal object.
 */
export function checkBasis(doc: PersistedState, basedOn: RolloutState | null | undefined): void {
  const now = doc.rollout ?? null
  if (basedOn === undefined || basedOn === now || sameData(basedOn, now)) return
  throw new RolloutError(
    ControlErrors.SY_ERR_ROLLOUT_STATE,
    `the rollout changed while this request was in flight (it is now ${now === null ? 'gone' : `${now.phase} at step ${now.step + 1}`}); read it again and retry`,
  )
}
