/**
 * Every default of the config, resolved as the program reads it (durations in milliseconds):
 * what an empty config file would read as, before the checks that need targets. Read from the
 * schema, where each default is written once; code that runs without a config (a proxy built
 * in a test, a section left out) takes its fallbacks from here, e.g. `DEFAULTS.limits`.
 */
import { deepFreeze, resolveSchema } from './schema-kit.js'
import { RawConfigSchema } from './schema.js'
import type { DefaultedConfig } from './types.js'

export const DEFAULTS: DefaultedConfig = deepFreeze(resolveSchema(RawConfigSchema, {}))
