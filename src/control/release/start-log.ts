import type { Logger } from 'pino'
import { COLORS } from '../../routing/types.js'
import type { Release } from './release.js'
import { sameList } from './transitions.js'

/**
 * Says at start where the release came from (restored, seeded from the config, or the config's
 * split while the shared store cannot be read) and which colours follow targets set through the
 * API rather than the config's.
 */
export function logRelease(logger: Logger, init: { restored: boolean; offline?: string }, release: Release, link: { where: unknown; connected: boolean } | undefined): void {
  const split = release.state()
  if (init.offline !== undefined) {
    logger.warn(
      { green: split.greenBuckets / 100, redis: link?.where, reason: init.offline },
      link?.connected === true
        ? 'the shared state in Redis cannot be read at start: routing with the config split until it can (see /healthz)'
        : 'Redis is unreachable at start: routing with the config split until it answers, then adopting the stored split',
    )
  } else {
    logger.info(
      { green: split.greenBuckets / 100, generation: split.generation, restored: init.restored, store: link === undefined ? 'file' : 'redis' },
      init.restored ? 'split restored from the state (config split.green is only the first-start value)' : 'split seeded from config',
    )
  }
  const overrides = release.targetOverrides()
  for (const color of COLORS) {
    const override = overrides[color]
    if (override !== undefined && sameList(release.targets()[color], override.targets) && !sameList(override.targets, override.over)) {
      logger.info({ color, targets: override.targets, config: override.over }, `${color} follows the targets set through the admin API, not the config's`)
    }
  }
}

