import type { Logger } from 'pino'
import type { Config } from '../config/schema.js'
import { FileStateStore } from './file-store.js'
import { Fleet } from './redis/fleet.js'
import type { StateStore } from './types.js'

/**
 * Where the release is kept: `store` when one is given (tests), a fleet's Redis when
 * `state.redis` is set (the split, the audit log, the window counters and the rollout lease
 * are shared there), else the state file.
 */
export async function openState(config: Config, logger: Logger, store?: StateStore): Promise<{ store: StateStore; fleet: Fleet | null }> {
  if (store !== undefined) return { store, fleet: null }
  if (config.state.redis === null) return { store: new FileStateStore(config.state.file), fleet: null }
  const fleet = await Fleet.connect(config.state.redis, config.autoRevert.window, logger)
  return { store: fleet.store, fleet }
}
