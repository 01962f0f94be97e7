import { ERRORS, errorCodes } from '../errors.js'

/** Error codes of the control plane, from the program's catalog; keys equal their codes. */
export const ControlErrors = errorCodes('SY_ERR_GENERATION_CONFLICT', 'SY_ERR_GREEN_UNHEALTHY', 'SY_ERR_ROLLOUT_PLAN', 'SY_ERR_ROLLOUT_STATE')

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
    return ERRORS[this.code].status
  }
}

/** A write named a generation that is no longer current. */
export class GenerationConflictError extends Error {
  override readonly name = 'GenerationConflictError'
  readonly code = ControlErrors.SY_ERR_GENERATION_CONFLICT
  readonly statusCode = ERRORS.SY_ERR_GENERATION_CONFLICT.status
  constructor(
    readonly expected: number,
    readonly actual: number,
  ) {
    super(`ifGeneration is ${expected} but the split is at generation ${actual}; read it again and retry`)
  }
}

/** Green may not take more traffic while none of its targets is healthy, unless forced (409). */
export class GreenUnhealthyError extends Error {
  override readonly name = 'GreenUnhealthyError'
  readonly code = ControlErrors.SY_ERR_GREEN_UNHEALTHY
  readonly statusCode = ERRORS.SY_ERR_GREEN_UNHEALTHY.status
  constructor(targets: readonly { readonly url: string; readonly lastError: string | null }[]) {
    super(`green has no healthy target (${targets.map((t) => `${t.url}: ${t.lastError ?? 'unhealthy'}`).join(', ')}); fix it or send "force": true`)
  }
}
