import { ERRORS, errorCodes } from '../errors.js'

/** Error codes of the state stores, from the program's catalog; keys equal their codes. */
export const StateErrors = errorCodes('SY_ERR_STATE_FILE', 'SY_ERR_WRITE_CONFLICT', 'SY_ERR_STATE_UNAVAILABLE')

/** The state file exists but cannot be read or trusted; start-up must stop. */
export class StateFileError extends Error {
  override readonly name = 'StateFileError'
  readonly code = StateErrors.SY_ERR_STATE_FILE
  constructor(
    readonly file: string,
    problem: string,
    options?: ErrorOptions,
  ) {
    super(
      `state file ${file} ${problem}; fix it, or move it aside to start from the config's split (the audit log in it would be lost)`,
      options,
    )
  }
}

/**
 * Another replica wrote the shared state between this replica's read and its write (the
 * compare-and-set on the write version failed). Nothing was written; the admin API answers 409.
 */
export class WriteConflictError extends Error {
  override readonly name = 'WriteConflictError'
  readonly code = StateErrors.SY_ERR_WRITE_CONFLICT
  readonly statusCode = ERRORS.SY_ERR_WRITE_CONFLICT.status
  constructor(readonly generation: number) {
    super(
      `the split was changed through another replica while this write was in flight (it is now at generation ${generation}); ` +
        'nothing was written: read it again and retry',
    )
  }
}

/**
 * The shared state store (Redis) cannot be reached. The replica keeps routing with its last
 * split; changes are refused with 503 so that no admin is told a change succeeded that the
 * fleet does not hold.
 */
export class StateUnavailableError extends Error {
  override readonly name = 'StateUnavailableError'
  readonly code = StateErrors.SY_ERR_STATE_UNAVAILABLE
  readonly statusCode = ERRORS.SY_ERR_STATE_UNAVAILABLE.status
  constructor(
    /** What went wrong with the store, as the message names it. */
    readonly detail: string,
    options?: ErrorOptions,
    message?: string,
  ) {
    super(
      message ??
        `the shared state store is unavailable (${detail}); this replica keeps routing with its last known split ` +
          'but cannot change it until the store answers; retry later',
      options,
    )
  }
}

/**
 * A change that reached the shared state store but whose answer never came back (the
 * connection was lost, or the answer was too late): it may have been applied, and the fleet
 * then holds it. Still a 503 with SY_ERR_STATE_UNAVAILABLE, but saying so, so that an operator
 * reads the state back before writing again rather than taking it as refused.
 */
export class StateUnconfirmedError extends StateUnavailableError {
  constructor(detail: string, options?: ErrorOptions) {
    super(
      detail,
      options,
      `the shared state store did not confirm this change (${detail}): it may have been applied before the connection was lost; ` +
        'read the state back (GET /v1/split, GET /v1/status) before changing it again',
    )
  }
}
