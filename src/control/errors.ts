/** Error codes of the control plane; keys equal their codes. */
export const ControlErrors = Object.freeze({
  SY_ERR_GENERATION_CONFLICT: 'SY_ERR_GENERATION_CONFLICT',
  SY_ERR_ROLLOUT_PLAN: 'SY_ERR_ROLLOUT_PLAN',
  SY_ERR_ROLLOUT_STATE: 'SY_ERR_ROLLOUT_STATE',
} as const)

/** A rollout request that cannot be carried out: a bad plan (400) or the wrong phase (409). */
export class RolloutError extends Error {
  override readonly name = 'RolloutError'
  constructor(
    readonly code: typeof ControlErrors.SY_ERR_ROLLOUT_PLAN | typeof ControlErrors.SY_ERR_ROLLOUT_STATE,
    message: string,
  ) {
    super(message)
  }

  get statusCode(): 400 | 409 {
    return this.code === ControlErrors.SY_ERR_ROLLOUT_PLAN ? 400 : 409
  }
}

/** A write named a generation that is no longer current. */
export class GenerationConflictError extends Error {
  override readonly name = 'GenerationConflictError'
  readonly code = ControlErrors.SY_ERR_GENERATION_CONFLICT
  constructor(
    readonly expected: number,
    readonly actual: number,
  ) {
    super(`ifGeneration is ${expected} but the split is at generation ${actual}; read it again and retry`)
  }
}
