import { Compile } from 'typebox/compile'
import { describe, expect, expectTypeOf, it } from 'vitest'
import { DEFAULTS } from '../../src/config/defaults.js'
import { resolveConfig } from '../../src/config/load.js'
import { RawConfigSchema, type Config, type HealthCheckSettings, type RedisSettings, type WebhookSettings } from '../../src/config/schema.js'

const base = { upstreams: { blue: { targets: ['http://127.0.0.1:3001'] }, green: { targets: ['http://127.0.0.1:3002'] } } }

interface Node {
  type?: string
  default?: unknown
  properties?: Record<string, Node>
  items?: Node
}

/** Every `default` the schema holds, by key. */
function defaultsIn(node: Node, key = ''): [string, Node][] {
  const here: [string, Node][] = node.default === undefined ? [] : [[key, node]]
  const children = Object.entries(node.properties ?? {}).flatMap(([name, child]) => defaultsIn(child, key === '' ? name : `${key}.${name}`))
  const items = node.items === undefined ? [] : defaultsIn(node.items, `${key}[]`)
  return [...here, ...children, ...items]
}

describe('the schema carries the defaults', () => {
  it('DEFAULTS is what a config that leaves every key out resolves to', () => {
    const config = resolveConfig(base)
    const { upstreams, override, state, ...rest } = DEFAULTS
    expect(config).toMatchObject(rest)
    expect(config.upstreams.tls).toEqual(upstreams.tls)
    expect(config.override).toMatchObject({ header: override.header, previewCookie: override.previewCookie, publicUrl: override.publicUrl })
    expect(config.state).toEqual({ file: state.file, redis: null })
    expect(Object.isFrozen(DEFAULTS.limits) && Object.isFrozen(DEFAULTS.sticky.keys)).toBe(true)
  })

  it('each default is a value its key accepts, but for the two that only mean "absent"', () => {
    // An absent colour reads as no targets (the demo fills them in), an absent publicUrl as "" (the proxy's own address).
    const absentOnly = new Set(['upstreams.blue', 'upstreams.green', 'override.publicUrl'])
    const found = defaultsIn(RawConfigSchema)
    expect(found.length).toBeGreaterThan(60)
    for (const [key, node] of found) {
      if (node.default === null || absentOnly.has(key)) continue
      expect(Compile(node as never).Check(node.default), key).toBe(true)
    }
  })

  it('a duration too large to be a number of ms names its key', () => {
    expect(() => resolveConfig({ ...base, timeouts: { request: 2 ** 53 } })).toThrow(
      /^timeouts\.request must be a duration such as 500ms, 30s, 5m or an integer of milliseconds$/,
    )
    expect(() => resolveConfig({ ...base, webhooks: [{ url: 'http://h/x', timeout: '1e400s' }] })).toThrow(/^webhooks\[0\]\.timeout must be a duration/)
  })
})

describe('Config is derived from the schema', () => {
  it('reads durations as milliseconds, TLS fronts as lists, computed keys with their own types', () => {
    expectTypeOf<Config['timeouts']['connect']>().toEqualTypeOf<number>()
    expectTypeOf<Config['rollout']['analysis']['maxLatencyIncrease']>().toEqualTypeOf<{ readonly percent: number; readonly ms: number }>()
    expectTypeOf<Config['sticky']['cookieSameSite']>().toEqualTypeOf<'auto' | 'Lax' | 'Strict' | 'None'>()
    expectTypeOf<Config['upstreams']['tls']['ca']>().toEqualTypeOf<string | null>()
    expectTypeOf<Config['admin']['token']>().toEqualTypeOf<string | undefined>()
    expectTypeOf<Config['override']['previewSecret']>().toEqualTypeOf<string>()
    expectTypeOf<Config['state']['redis']>().toEqualTypeOf<RedisSettings | null>()
    expectTypeOf<Config['demo']>().toEqualTypeOf<{ readonly blue: number; readonly green: number } | null>()
    expectTypeOf<Config['workers']>().toEqualTypeOf<number>()
    expectTypeOf<Config['proxy']['tls']>().toExtend<readonly { readonly cert: string; readonly key: string; readonly servername?: string }[] | null>()
    expectTypeOf<WebhookSettings['secret']>().toEqualTypeOf<string | undefined>()
    expectTypeOf<HealthCheckSettings>().toEqualTypeOf<Config['healthCheck']>()
    expectTypeOf(DEFAULTS.limits).toEqualTypeOf<Config['limits']>()
  })
})
