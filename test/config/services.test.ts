/**
 * `services` in the config (issue #15): each service's sections deep-merged over the top-level
 * ones and resolved by the same schema, every refusal naming its key; and how a reload treats
 * services (live when they come and go, restart for one ↔ several).
 */
import { describe, expect, it } from 'vitest'
import { ConfigError, resolveConfig } from '../../src/config/load.js'
import { restartOnlyChanges } from '../../src/config/reload.js'
import { deepMerge, servicesOf } from '../../src/config/services.js'

const UP = { blue: { targets: ['http://127.0.0.1:3001'] }, green: { targets: ['http://127.0.0.1:3002'] } }
const refusal = (raw: unknown): string => {
  try {
    resolveConfig(raw)
  } catch (err) {
    if (err instanceof ConfigError) return err.message
    throw err
  }
  throw new Error('accepted')
}

describe('services in the config', () => {
  it('without services: one service, default, matching every request, with the whole config', () => {
    const config = resolveConfig({ upstreams: UP, split: { green: 5 } })
    expect(config.services).toBeNull()
    const [only, ...rest] = servicesOf(config)
    expect(rest).toEqual([])
    expect(only).toMatchObject({ name: 'default', match: { hosts: [], pathPrefixes: [] } })
    expect(only!.config).toBe(config)
  })

  it("merges each service's sections over the top level: objects key by key, lists replaced", () => {
    const config = resolveConfig({
      upstreams: UP,
      autoRevert: { maxErrorRate: 0.05, minRequests: 50 },
      sticky: { keys: ['header:x-user-id'] },
      services: {
        api: { match: { hosts: ['api.example.com'] }, autoRevert: { maxErrorRate: 0.01 }, sticky: { keys: ['cookie:sid'] }, split: { green: 10 } },
        web: { upstreams: { green: { targets: ['http://127.0.0.1:4002'] } } },
      },
    })
    const [api, web] = config.services!
    expect(api!.config.autoRevert).toMatchObject({ maxErrorRate: 0.01, minRequests: 50 })
    expect(api!.config.sticky.keys).toEqual(['cookie:sid'])
    expect(api!.config.split.green).toBe(10)
    expect(web!.config.split.green).toBe(0)
    expect(web!.config.upstreams.blue.targets).toEqual(UP.blue.targets)
    expect(web!.config.upstreams.green.targets).toEqual(['http://127.0.0.1:4002'])
    // One process, one preview secret: a drawn one is the same in every service.
    expect(api!.config.override.previewSecret).toBe(config.override.previewSecret)
    expect(web!.config.override.previewSecret).toBe(config.override.previewSecret)
    expect(deepMerge({ a: { b: 1, c: [1, 2] } }, { a: { c: [3] } })).toEqual({ a: { b: 1, c: [3] } })
  })

  it('names the service and the key of every refusal', () => {
    expect(refusal({ services: { api: { upstreams: UP, split: { green: 150 } } } })).toBe('services.api.split.green must be between 0 and 100')
    expect(refusal({ services: { api: { split: { green: 1 } } } })).toMatch(/^services\.api\.upstreams\.blue\.targets is required/)
    expect(refusal({ services: { api: { upstreams: UP, proxy: { port: 1 } } } })).toMatch(/^services\.api\.proxy is not a key a service may set/)
    expect(refusal({ services: { api: { upstreams: UP, match: { host: ['a'] } } } })).toMatch(/^services\.api\.match\.host is not a key of a service match/)
    expect(refusal({ services: { API: { upstreams: UP } } })).toMatch(/^services\.API: a service name must be/)
    expect(refusal({ services: {} })).toMatch(/^services must be a mapping/)
    expect(refusal({ services: { a: { upstreams: UP, match: { hosts: ['x.test'] } }, b: { upstreams: UP, match: { hosts: ['X.test'] } } } })).toBe(
      'services.b.match: path prefix "/" on this host is also services.a\'s',
    )
    expect(refusal({ services: { a: { upstreams: UP, match: { pathPrefixes: ['api'] } } } })).toMatch(/^services\.a\.match: "api" must start with "\/"/)
    expect(refusal({ services: { a: { upstreams: UP } }, proxy: { defaultService: 'b' } })).toBe('proxy.defaultService "b" is not one of the services (a)')
    expect(refusal({ upstreams: UP, proxy: { defaultService: 'b' } })).toMatch(/^proxy\.defaultService names one of `services`/)
    expect(refusal({ services: { a: { upstreams: UP, timeouts: { header: '1s' } } } })).toMatch(/^services\.a\.timeouts\.header: .* the listener's/)
  })

  it('scoped tokens name configured services, with a token long enough to be a secret', () => {
    const tokens = (services: string[], token = 'a-token-of-sixteen-chars') => ({ admin: { tokens: [{ token, services }] } })
    expect(resolveConfig({ services: { api: { upstreams: UP } }, ...tokens(['api']) }).admin.tokens).toHaveLength(1)
    expect(refusal({ services: { api: { upstreams: UP } }, ...tokens(['web']) })).toBe('admin.tokens[0].services[0] "web" is not one of the services (api)')
    expect(refusal({ upstreams: UP, ...tokens(['api']) })).toMatch(/^admin\.tokens\[0\]\.services\[0\] "api" is not a service/)
    expect(resolveConfig({ upstreams: UP, ...tokens(['default']) }).admin.tokens).toHaveLength(1)
    expect(refusal({ upstreams: UP, ...tokens(['default'], 'short') })).toMatch(/^admin\.tokens\[0\]\.token/)
  })

  it('reload: services come and go live; a service section follows its own rule; one to several takes a restart', () => {
    const at = (host: string) => ({ upstreams: UP, match: { hosts: [host] } })
    // A fixed preview secret: a drawn one differs at each read (a reload carries the running one over).
    const resolve = (raw: Record<string, unknown>) => resolveConfig({ override: { previewSecret: 'a-preview-secret-for-tests' }, ...raw })
    const two = resolve({ services: { api: at('api.test'), web: at('web.test') } })
    const three = resolve({ services: { api: at('api.test'), web: at('web.test'), extra: at('extra.test') } })
    expect(restartOnlyChanges(two, three)).toEqual([])
    expect(restartOnlyChanges(three, two)).toEqual([])
    const sticky = resolve({ services: { api: { ...at('api.test'), sticky: { keys: ['ip'] } }, web: at('web.test') } })
    expect(restartOnlyChanges(two, sticky)).toEqual(['services.api.sticky'])
    const split = resolve({ services: { api: { ...at('api.test'), split: { green: 50 } }, web: at('web.test') } })
    expect(restartOnlyChanges(two, split)).toEqual([])
    expect(restartOnlyChanges(resolve({ upstreams: UP }), two)).toContain('services')
  })
})
