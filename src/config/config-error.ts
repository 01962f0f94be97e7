import type { ErrorCode } from '../errors.js'

/** A config problem; the message names the key, e.g. `split.green must be between 0 and 100`. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError'
  readonly code = 'SY_ERR_CONFIG' satisfies ErrorCode
}
