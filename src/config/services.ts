/**
 * `services`: several services behind one switchyard, each with its own release. A service is
 * told apart by `match` (hosts, path prefixes) and holds only the sections that belong to one
 * release; its effective config is the top-level raw config with those sections deep-merged
 * over it, resolved by the same schema, so every default, conversion and error message is the
 * single-service one (named `services.api.split.green`). Without `services` the config is one
 * service named `default` that matches every request.
 */
import { Type } from 'typebox'
import { Compile } from 'typebox/compile'
import { ConfigError } from './config-error.js'
import { strict } from './fields.js'
import { ServiceMatcher, ServiceMatchError, type ServiceMatch } from '../routing/services.js'
import type { Config } from './types.js'

/** The name of today's single service, and of the one unscoped admin routes address. */
export const DEFAULT_SERVICE = 'default'

/** The sections a service may set: what one release of one service is made of. */
export const SERVICE_SECTIONS = ['upstreams', 'split', 'sticky', 'autoRevert', 'rollout', 'healthCheck', 'outlierDetection', 'mirror', 'drain', 'timeouts'] as const

/** Service names: they appear in URLs, Redis keys and metric labels. */
export const SERVICE_NAME = /^[a-z0-9][a-z0-9-]{0,39}$/

/** A section's own keys are checked after the merge, by the config's schema. */
const Section = Type.Object({}, { additionalProperties: true })

const ServiceSchema = Type.Object(
  {
    match: Type.Optional(
      Type.Object({ hosts: Type.Optional(Type.Array(Type.String({ minLength: 1 }))), pathPrefixes: Type.Optional(Type.Array(Type.String({ minLength: 1 }))) }, strict),
    ),
    ...Object.fromEntries(SERVICE_SECTIONS.map((key) => [key, Type.Optional(Section)])),
  },
  strict,
)
const serviceValidator = Compile(ServiceSchema)

/** One service as the config resolves it: its name, how requests find it, and its whole effective config. */
export interface ServiceSpec {
  readonly name: string
  readonly match: ServiceMatch
  /** The top-level config with this service's sections merged in (its `services` is null). */
  readonly config: Config
}

/** The services a config fronts: its `services`, or the one `default` service that matches everything. */
export function servicesOf(config: Config): readonly ServiceSpec[] {
  return config.services ?? [{ name: DEFAULT_SERVICE, match: { hosts: [], pathPrefixes: [] }, config }]
}

type Resolve = (raw: Record<string, unknown>, options: { readonly targetsRequired: boolean }) => Config

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** `over` merged into `base`: objects key by key, everything else (lists included) replaced. Never mutates either. */
export function deepMerge(base: unknown, over: unknown): unknown {
  if (!isRecord(base) || !isRecord(over)) return over
  const merged: Record<string, unknown> = { ...base }
  for (const [key, value] of Object.entries(over)) merged[key] = key in base ? deepMerge(base[key], value) : value
  return merged
}

/** Puts a service's name in front of what its resolution refused: `services.api.split.green must ...`. */
function named(name: string, err: unknown): never {
  if (!(err instanceof ConfigError)) throw err
  const section = SERVICE_SECTIONS.find((key) => err.message.startsWith(`${key}.`) || err.message.startsWith(`${key} `))
  throw new ConfigError(section === undefined ? `services.${name}: ${err.message}` : `services.${name}.${err.message}`)
}

/**
 * Resolves `raw.services` (already taken out of `rest`) against the top-level config `top`:
 * each service's sections over `rest`, through `resolve`. Checks names, match rules (two
 * services claiming one host and prefix name both) and proxy.defaultService.
 */
export function resolveServices(rawServices: unknown, rest: Record<string, unknown>, top: Omit<Config, 'services'>, resolve: Resolve): readonly ServiceSpec[] {
  if (!isRecord(rawServices) || Object.keys(rawServices).length === 0) {
    throw new ConfigError('services must be a mapping of service names to their settings (at least one)')
  }
  const specs: ServiceSpec[] = []
  for (const [name, raw] of Object.entries(rawServices)) {
    if (!SERVICE_NAME.test(name)) throw new ConfigError(`services.${name}: a service name must be 1-40 of a-z, 0-9 and "-", starting with a letter or digit`)
    const allowed: readonly string[] = ['match', ...SERVICE_SECTIONS]
    const stray = isRecord(raw) ? Object.keys(raw).find((key) => !allowed.includes(key)) : undefined
    if (stray !== undefined) throw new ConfigError(`services.${name}.${stray} is not a key a service may set (a service sets ${allowed.join(', ')})`)
    if (!serviceValidator.Check(raw)) {
      const error = [...serviceValidator.Errors(raw)][0]
      const where = error?.instancePath.split('/').filter((p) => p !== '') ?? []
      const key = ['services', name, ...where].join('.')
      throw new ConfigError(`${key} ${error?.keyword === 'additionalProperties' || error?.message === 'schema is false' ? 'is not a key of a service match (it takes hosts, pathPrefixes)' : (error?.message ?? 'is not valid')}`)
    }
    const { match, ...sections } = raw as { match?: { hosts?: string[]; pathPrefixes?: string[] } } & Record<string, unknown>
    let config: Config
    try {
      config = resolve(deepMerge(rest, sections) as Record<string, unknown>, { targetsRequired: true })
    } catch (err) {
      named(name, err)
    }
    if (config.timeouts.header !== top.timeouts.header) {
      throw new ConfigError(`services.${name}.timeouts.header: how long a client may take over its headers is the listener's, before any service is known; set timeouts.header at the top level`)
    }
    // One process, one preview secret and one admin: a drawn secret is the top-level one.
    config = { ...config, override: top.override, admin: top.admin }
    specs.push({ name, match: { hosts: match?.hosts ?? [], pathPrefixes: match?.pathPrefixes ?? [] }, config })
  }
  try {
    new ServiceMatcher(specs.map((s) => ({ name: s.name, match: s.match, service: s.name })))
  } catch (err) {
    if (err instanceof ServiceMatchError) throw new ConfigError(err.message)
    throw err
  }
  const fallback = top.proxy.defaultService
  if (fallback !== null && !specs.some((s) => s.name === fallback)) {
    throw new ConfigError(`proxy.defaultService "${fallback}" is not one of the services (${specs.map((s) => s.name).join(', ')})`)
  }
  const names = new Set(specs.map((s) => s.name))
  top.admin.tokens.forEach((scoped, i) => {
    scoped.services.forEach((service, j) => {
      if (!names.has(service)) throw new ConfigError(`admin.tokens[${i}].services[${j}] "${service}" is not one of the services (${[...names].join(', ')})`)
    })
  })
  return specs
}
