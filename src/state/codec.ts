import { Type } from 'typebox'
import { Compile } from 'typebox/compile'
import type { AuditEvent, PersistedState, RolloutState } from './types.js'
import { percentToBuckets } from '../routing/types.js'

/** How a state is written down (state file, Redis): split in percent, version 1. */
const StateSchema = Type.Object({
  version: Type.Literal(1),
  split: Type.Object({
    green: Type.Number({ minimum: 0, maximum: 100 }),
    generation: Type.Integer({ minimum: 0 }),
    reverted: Type.Union([
      Type.Null(),
      Type.Object({ at: Type.String(), reason: Type.String(), errorRate: Type.Number(), requests: Type.Integer() }),
    ]),
  }),
  targets: Type.Optional(
    Type.Union([
      Type.Null(),
      Type.Object({
        blue: Type.Optional(Type.Object({ targets: Type.Array(Type.String(), { minItems: 1 }), over: Type.Array(Type.String()) })),
        green: Type.Optional(Type.Object({ targets: Type.Array(Type.String(), { minItems: 1 }), over: Type.Array(Type.String()) })),
      }),
    ]),
  ),
  release: Type.Optional(Type.Union([Type.Null(), Type.String({ maxLength: 64 })])),
  mirror: Type.Optional(Type.Union([Type.Null(), Type.Object({ percent: Type.Number({ minimum: 0, maximum: 100 }) })])),
  rollout: Type.Optional(
    Type.Union([
      Type.Null(),
      Type.Object({
        id: Type.String(),
        phase: Type.Union([Type.Literal('progressing'), Type.Literal('paused'), Type.Literal('succeeded'), Type.Literal('aborted')]),
        steps: Type.Array(
          Type.Object({
            greenBuckets: Type.Integer({ minimum: 0, maximum: 10_000 }),
            holdMs: Type.Integer({ minimum: 0 }),
            mirrorBuckets: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
          }),
          { minItems: 1 },
        ),
        step: Type.Integer({ minimum: 0 }),
        startedAt: Type.String(),
        stepStartedAt: Type.String(),
        holdUntil: Type.Number(),
        holdLeftMs: Type.Union([Type.Null(), Type.Number()]),
        checks: Type.Integer({ minimum: 0 }),
        failedChecks: Type.Integer({ minimum: 0 }),
        consecutiveFailures: Type.Integer({ minimum: 0 }),
        passedThisStep: Type.Boolean(),
        lastVerdict: Type.Unknown(),
        endedAt: Type.Union([Type.Null(), Type.String()]),
        reason: Type.Union([Type.Null(), Type.String()]),
      }),
    ]),
  ),
  events: Type.Array(
    Type.Object({
      at: Type.String(),
      type: Type.String(),
      from: Type.Unknown(),
      to: Type.Unknown(),
      source: Type.String(),
      reason: Type.Union([Type.String(), Type.Null()]),
    }),
  ),
})
const validator = Compile(StateSchema)

/** The stored form of a state; `withEvents` false leaves the audit log out (Redis keeps it in a list). */
export function encodeState(state: PersistedState, withEvents: boolean): Record<string, unknown> {
  return {
    version: 1,
    split: { green: state.split.greenBuckets / 100, generation: state.split.generation, reverted: state.split.reverted },
    ...(withEvents ? { events: state.events } : {}),
    rollout: state.rollout ?? null,
    targets: state.targets ?? null,
    release: state.release ?? null,
    // Only while mirroring: a document that never mirrored reads as it always did.
    ...(state.mirror == null || state.mirror.buckets === 0 ? {} : { mirror: { percent: state.mirror.buckets / 100 } }),
  }
}

/** Checks a stored state and converts it; a string names what is wrong (" at /split/green (...)"). */
export function decodeState(data: unknown): PersistedState | string {
  if (!validator.Check(data)) {
    const first = [...validator.Errors(data)][0]
    const where = first?.instancePath === '' || first === undefined ? '' : ` at ${first.instancePath}`
    return `${where} (${first?.message ?? 'bad shape'})`
  }
  return {
    split: { greenBuckets: percentToBuckets(data.split.green), generation: data.split.generation, reverted: data.split.reverted },
    events: data.events as AuditEvent[],
    rollout: (data.rollout ?? null) as RolloutState | null,
    targets: data.targets ?? null,
    release: data.release ?? null,
    ...(data.mirror == null ? {} : { mirror: { buckets: percentToBuckets(data.mirror.percent) } }),
  }
}
