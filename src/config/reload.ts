import { isDeepStrictEqual } from 'node:util'
import type { Config } from './schema.js'
import { SERVICE_SECTIONS } from './services.js'

/**
 * How each top-level config key takes a reload (SIGHUP): `live` applies at once, `restart`
 * on the next start, `seed` is only read on the first start (the stored state wins after), or
 * a function that names the parts of the key that need a restart. Typed over every key, so a
 * new key does not compile until it is given its rule here.
 */
type ReloadRule = 'live' | 'restart' | 'seed' | ((before: Config, after: Config) => string[])

/** TLS certificate files reload live; turning TLS on or off takes a restart. */
const tlsOnOff =
  (key: 'proxy' | 'admin') =>
  (before: Config, after: Config): string[] => {
    const view = (c: Config) => ({ ...c[key], tls: c[key].tls !== null })
    return isDeepStrictEqual(view(before), view(after)) ? [] : [key]
  }

export const RELOAD_RULES: { readonly [K in keyof Config]: ReloadRule } = {
  proxy: tlsOnOff('proxy'),
  admin: tlsOnOff('admin'),
  // Targets follow the file live; how https targets are verified is read when the proxy starts.
  upstreams: (before, after) => (isDeepStrictEqual(before.upstreams.tls, after.upstreams.tls) ? [] : ['upstreams.tls']),
  split: 'seed',
  sticky: 'restart',
  override: 'restart',
  autoRevert: 'live',
  state: 'restart',
  timeouts: 'live',
  drain: 'live',
  limits: 'restart',
  healthCheck: 'live',
  outlierDetection: 'live',
  webhooks: 'live',
  rollout: 'live',
  // The share is state (seeded once); how a shadow is sent is built into the proxy at start;
  // how answers are compared and reported applies live.
  mirror: (before, after) => {
    const sending = (c: Config) => ({ ...c.mirror, percent: 0, compare: null, noise: { ...c.mirror.noise, minDiffs: 0 }, report: null })
    return isDeepStrictEqual(sending(before), sending(after)) ? [] : ['mirror']
  },
  // Services come and go live (each its own release); within one, its sections follow the rules
  // above; going from one service to several (or back) changes the metrics' labels: a restart.
  services: (before, after) => {
    if ((before.services === null) !== (after.services === null)) return ['services']
    const old = new Map((before.services ?? []).map((s) => [s.name, s.config]))
    return (after.services ?? []).flatMap((s) => {
      const was = old.get(s.name)
      if (was === undefined) return []
      const sections: readonly string[] = SERVICE_SECTIONS
      return restartOnlyChanges(was, s.config)
        .filter((key) => sections.includes(key.split('.')[0]!))
        .map((key) => `services.${s.name}.${key}`)
    })
  },
  // The logger (level, format) and the proxy's access log and request ids are built once at start.
  log: 'restart',
  workers: 'restart',
  demo: 'restart',
}

/** The keys (or parts of keys) whose new values in `after` only take effect on restart. */
export function restartOnlyChanges(before: Config, after: Config): string[] {
  const keys: string[] = []
  for (const [key, rule] of Object.entries(RELOAD_RULES) as [keyof Config, ReloadRule][]) {
    if (typeof rule === 'function') keys.push(...rule(before, after))
    else if (rule === 'restart' && !isDeepStrictEqual(before[key], after[key])) keys.push(key)
  }
  return keys
}

/** What a reload changes: where the configs differ, and which of those only apply on restart. */
export interface ConfigChanges {
  readonly changed: readonly string[]
  readonly restartRequired: readonly string[]
}

/** Where two configs differ: top-level keys, or their parts down to three levels (`upstreams.green.targets`). */
export function changedKeys(before: unknown, after: unknown, path = '', depth = 3): string[] {
  if (isDeepStrictEqual(before, after)) return []
  const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
  if (depth === 0 || !isRecord(before) || !isRecord(after)) return [path]
  const keys = new Set([...Object.keys(before), ...Object.keys(after)])
  return [...keys].flatMap((key) => changedKeys(before[key], after[key], path === '' ? key : `${path}.${key}`, depth - 1))
}

/**
 * `next` as a reload applies it over `running`: a preview secret drawn at random (none
 * configured) is new at every read, so the running one stays and its links keep opening.
 */
export function carryRandomSecret(running: Config, next: Config): Config {
  if (!running.override.previewSecretRandom || !next.override.previewSecretRandom) return next
  return Object.freeze({ ...next, override: Object.freeze({ ...next.override, previewSecret: running.override.previewSecret }) })
}
