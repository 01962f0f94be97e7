import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parse as parseYaml, parseAllDocuments } from 'yaml'
import { ConfigError, loadConfigFile, resolveConfig } from '../../src/config/load.js'
import { parseDuration } from '../../src/config/duration.js'

const base = { upstreams: { blue: { targets: ['http://127.0.0.1:3001'] }, green: { targets: ['http://127.0.0.1:3002'] } } }

describe('parseDuration', () => {
  it('reads ms, s, m, h, d and integers of milliseconds', () => {
    expect(parseDuration('500ms')).toBe(500)
    expect(parseDuration('30s')).toBe(30_000)
    expect(parseDuration('5m')).toBe(300_000)
    expect(parseDuration('1h')).toBe(3_600_000)
    expect(parseDuration('1d')).toBe(86_400_000)
    expect(parseDuration('1.5s')).toBe(1500)
    expect(parseDuration(250)).toBe(250)
    expect(parseDuration('250')).toBe(250)
    expect(parseDuration(0)).toBe(0)
  })
  it('refuses everything else', () => {
    for (const bad of ['5x', '-1s', '', 's', '1 s', -5, 1.5, null, true]) expect(parseDuration(bad)).toBeUndefined()
  })
})

describe('resolveConfig', () => {
  it('fills every default and freezes the result', () => {
    const config = resolveConfig(base)
    expect(config.proxy).toEqual({ host: '0.0.0.0', port: 8080, tls: null, redirectHttp: 0, trustedProxies: [], engine: 'sockets', defaultService: null })
    expect(config.admin).toEqual({ host: '127.0.0.1', port: 9090, token: undefined, tls: null, failedAuthLimit: 10, tokens: [] })
    expect(config.upstreams.tls).toEqual({ ca: null, insecureSkipVerify: false, servername: null })
    expect(config.split.green).toBe(0)
    expect(config.sticky).toEqual({
      keys: ['header:x-user-id'],
      cookie: 'sy_sid',
      cookieMaxAge: 86_400_000,
      cookieSameSite: 'auto',
      cookieSecure: 'auto',
      reshuffle: 'perRelease',
    })
    expect(config.override).toMatchObject({ header: 'x-switchyard-color', previewSecretRandom: true, previewCookie: 'sy_preview', publicUrl: '' })
    expect(config.override.previewSecret.length).toBeGreaterThanOrEqual(32)
    expect(config.autoRevert).toEqual({ enabled: true, window: 30_000, minRequests: 20, maxErrorRate: 0.05, ceilingVsBlue: true })
    expect(config.rollout).toEqual({
      stepWeight: 10,
      maxWeight: 100,
      interval: 60_000,
      swapOnPromote: false,
      progressDeadline: 600_000,
      analysis: {
        interval: 1_000,
        minRequests: 50,
        confidence: 0.99,
        maxErrorRate: 0.05,
        maxP99Ratio: 1.5,
        maxP99: 0,
        failureThreshold: 3,
        maxLatencyIncrease: { percent: 10, ms: 5 },
        latencyQuantile: 0.9,
        abandonAfter: 5_000,
        routes: { depth: 1, max: 10, prefixes: [] },
      },
    })
    expect(config.timeouts).toEqual({ connect: 5000, request: 300_000, idle: 0, header: 30_000, body: 60_000, send: 60_000, upstreamKeepAlive: 4_000 })
    expect(config.limits).toEqual({ maxBodySize: 0, maxHeaderSize: 16_384, maxConnectionsPerTarget: 0, maxPending: 1000 })
    expect(Object.isFrozen(config) && Object.isFrozen(config.upstreams.blue.targets)).toBe(true)
    expect(() => {
      ;(config.split as { green: number }).green = 5
    }).toThrow()
  })

  it('reads timeouts.upstreamKeepAlive as a duration, 0 (no connection kept) included', () => {
    expect(resolveConfig({ ...base, timeouts: { upstreamKeepAlive: '1500ms' } }).timeouts.upstreamKeepAlive).toBe(1500)
    expect(resolveConfig({ ...base, timeouts: { upstreamKeepAlive: 0 } }).timeouts.upstreamKeepAlive).toBe(0)
  })

  it('reads the release judgement keys, and still accepts the deprecated ones', () => {
    const config = resolveConfig({
      ...base,
      autoRevert: { ceilingVsBlue: false },
      webhooks: [{ url: 'http://127.0.0.1:9/hook', events: ['degradation', 'skip-analysis'] }],
      rollout: {
        progressDeadline: '2m',
        analysis: {
          maxLatencyIncrease: { percent: 25, ms: '20ms' },
          latencyQuantile: 0.95,
          abandonAfter: '2s',
          routes: { depth: 2, max: 20, prefixes: ['/v1/models/:id/chat', '/api'] },
          // Deprecated: kept so that old configs load; the judgement no longer reads them.
          maxP99Ratio: 2,
          failureThreshold: 5,
        },
      },
    })
    expect(config.autoRevert.ceilingVsBlue).toBe(false)
    expect(config.webhooks[0]!.events).toEqual(['degradation', 'skip-analysis'])
    expect(config.rollout.progressDeadline).toBe(120_000)
    expect(config.rollout.analysis).toMatchObject({
      maxLatencyIncrease: { percent: 25, ms: 20 },
      latencyQuantile: 0.95,
      abandonAfter: 2_000,
      routes: { depth: 2, max: 20, prefixes: ['/v1/models/:id/chat', '/api'] },
      maxP99Ratio: 2,
      failureThreshold: 5,
    })
    // Half a key is the other half's default.
    expect(resolveConfig({ ...base, rollout: { analysis: { maxLatencyIncrease: { ms: 50 }, routes: { max: 0 } } } }).rollout.analysis).toMatchObject({
      maxLatencyIncrease: { percent: 10, ms: 50 },
      routes: { depth: 1, max: 0, prefixes: [] },
    })
    expect(resolveConfig({ ...base, rollout: { progressDeadline: 0, analysis: { abandonAfter: 0 } } }).rollout).toMatchObject({
      progressDeadline: 0,
      analysis: { abandonAfter: 0 },
    })
  })

  it('does not mutate its input', () => {
    const input = structuredClone(base)
    resolveConfig(input)
    expect(input).toEqual(base)
  })

  it('workers: auto is one per core, default 1', async () => {
    const { availableParallelism } = await import('node:os')
    expect(resolveConfig(base).workers).toBe(1)
    expect(resolveConfig({ ...base, workers: 'auto' }).workers).toBe(availableParallelism())
    expect(resolveConfig({ ...base, workers: 3 }).workers).toBe(3)
  })

  it('SWITCHYARD_ADMIN_TOKEN overrides admin.token', () => {
    const config = resolveConfig({ ...base, admin: { token: 'from-file' } }, { SWITCHYARD_ADMIN_TOKEN: 'from-env' })
    expect(config.admin.token).toBe('from-env')
  })

  it('state.redis selects the fleet store; SWITCHYARD_REDIS_URL overrides its url; a password never shows in errors', () => {
    expect(resolveConfig(base).state.redis).toBeNull()
    expect(resolveConfig({ ...base, state: { redis: { sentinels: ['10.0.0.5:26379', '[::1]:26380'], name: 'mymaster' } } }).state.redis).toEqual({
      url: 'redis://localhost',
      keyPrefix: 'switchyard:',
      sentinel: { name: 'mymaster', hosts: [{ host: '10.0.0.5', port: 26379 }, { host: '::1', port: 26380 }] },
    })
    expect(resolveConfig({ ...base, state: { redis: { url: 'redis://127.0.0.1:6379/2' } } }).state.redis).toEqual({
      url: 'redis://127.0.0.1:6379/2',
      keyPrefix: 'switchyard:',
      sentinel: null,
    })
    expect(resolveConfig(base, { SWITCHYARD_REDIS_URL: 'rediss://:pw@redis.internal:6380' }).state.redis).toEqual({
      url: 'rediss://:pw@redis.internal:6380',
      keyPrefix: 'switchyard:',
      sentinel: null,
    })
    const err = (() => {
      try {
        resolveConfig({ ...base, state: { redis: { url: 'http://:hunter2@h:6379' } } })
      } catch (e) {
        return e as Error
      }
      return undefined
    })()
    expect(err?.message).toContain('http://:***@h:6379')
    expect(err?.message).not.toContain('hunter2')
  })

  it('allows a non-loopback admin host with a token from the environment', () => {
    const config = resolveConfig({ ...base, admin: { host: '0.0.0.0' } }, { SWITCHYARD_ADMIN_TOKEN: 's3cret' })
    expect(config.admin).toMatchObject({ host: '0.0.0.0', token: 's3cret' })
  })

  const bad: [string, unknown, RegExp][] = [
    ['split.green above 100', { split: { green: 150 } }, /^split\.green must be between 0 and 100$/],
    ['split.green below 0', { split: { green: -1 } }, /^split\.green must be between 0 and 100$/],
    ['split.green a string', { split: { green: '10' } }, /^split\.green must be a number$/],
    ['split.green finer than 0.01', { split: { green: 10.005 } }, /^split\.green must have at most two decimals/],
    ['unknown section', { splitt: {} }, /^splitt is not a known config key$/],
    ['unknown nested key', { proxy: { prot: 80 } }, /^proxy\.prot is not a known config key$/],
    ['proxy.port out of range', { proxy: { port: 70000 } }, /^proxy\.port must be between 0 and 65535$/],
    ['admin.port not an integer', { admin: { port: 'x' } }, /^admin\.port must be an integer$/],
    ['same port twice', { proxy: { port: 9000 }, admin: { port: 9000 } }, /^admin\.port must differ from proxy\.port/],
    ['admin on 0.0.0.0 without token', { admin: { host: '0.0.0.0' } }, /^admin\.token is required when admin\.host \(0\.0\.0\.0\)/],
    ['empty target list', { upstreams: { blue: { targets: [] }, green: base.upstreams.green } }, /^upstreams\.blue\.targets must list at least one entry$/],
    ['missing colour', { upstreams: { blue: base.upstreams.blue } }, /^upstreams\.green\.targets is required/],
    ['target not a URL', { upstreams: { ...base.upstreams, green: { targets: ['nope'] } } }, /^upstreams\.green\.targets\[0\] must be an http/],
    ['target with a path', { upstreams: { ...base.upstreams, blue: { targets: ['http://h:1/api'] } } }, /^upstreams\.blue\.targets\[0\] must be an origin/],
    ['sticky key of unknown form', { sticky: { keys: ['ip', 'query:user'] } }, /^sticky\.keys\[1\] "query:user" is not a sticky key/],
    ['cookie name with a space', { sticky: { cookie: 'a b' } }, /^sticky\.cookie /],
    ['autoRevert.maxErrorRate above 1', { autoRevert: { maxErrorRate: 5 } }, /^autoRevert\.maxErrorRate must be between 0 and 1$/],
    ['autoRevert.minRequests zero', { autoRevert: { minRequests: 0 } }, /^autoRevert\.minRequests must be >= 1$/],
    ['autoRevert.window junk', { autoRevert: { window: 'soon' } }, /^autoRevert\.window must be a duration/],
    ['autoRevert.window too short', { autoRevert: { window: '500ms' } }, /^autoRevert\.window must be at least 1s/],
    ['autoRevert.enabled a string', { autoRevert: { enabled: 'yes' } }, /^autoRevert\.enabled must be a boolean$/],
    ['timeouts.request junk', { timeouts: { request: '5 minutes' } }, /^timeouts\.request must be a duration/],
    ['timeouts.connect zero', { timeouts: { connect: 0 } }, /^timeouts\.connect must be greater than 0$/],
    ['timeouts.header zero', { timeouts: { header: 0 } }, /^timeouts\.header must be greater than 0/],
    ['timeouts.upstreamKeepAlive junk', { timeouts: { upstreamKeepAlive: '2 seconds' } }, /^timeouts\.upstreamKeepAlive must be a duration/],
    ['timeouts.upstreamKeepAlive negative', { timeouts: { upstreamKeepAlive: -1 } }, /^timeouts\.upstreamKeepAlive /],
    ['limits.maxHeaderSize too small', { limits: { maxHeaderSize: 10 } }, /^limits\.maxHeaderSize must be between 1024 and 1048576$/],
    ['limits.maxBodySize negative', { limits: { maxBodySize: -1 } }, /^limits\.maxBodySize /],
    ['limits unknown key', { limits: { maxBody: 5 } }, /^limits\.maxBody is not a known config key$/],
    ['log.level unknown', { log: { level: 'loud' } }, /^log\.level must be one of "fatal"/],
    ['state.file empty', { state: { file: '' } }, /^state\.file /],
    ['workers zero', { workers: 0 }, /^workers must be "auto" \(one per core\) or an integer from 1 to 256$/],
    ['workers a word', { workers: 'many' }, /^workers must be "auto" \(one per core\) or an integer from 1 to 256$/],
    ['rollout.stepWeight above maxWeight', { rollout: { stepWeight: 60, maxWeight: 50 } }, /^rollout\.stepWeight \(60\) must not exceed rollout\.maxWeight \(50\)$/],
    ['rollout.analysis.confidence out of range', { rollout: { analysis: { confidence: 2 } } }, /^rollout\.analysis\.confidence must be between 0\.5 and 0\.9999$/],
    ['rollout.analysis.interval junk', { rollout: { analysis: { interval: 'often' } } }, /^rollout\.analysis\.interval must be a duration/],
    ['autoRevert.ceilingVsBlue a string', { autoRevert: { ceilingVsBlue: 'yes' } }, /^autoRevert\.ceilingVsBlue must be a boolean$/],
    ['rollout.progressDeadline junk', { rollout: { progressDeadline: 'later' } }, /^rollout\.progressDeadline must be a duration/],
    ['rollout.analysis.maxLatencyIncrease.percent negative', { rollout: { analysis: { maxLatencyIncrease: { percent: -1 } } } }, /^rollout\.analysis\.maxLatencyIncrease\.percent must be between 0 and 1000$/],
    ['rollout.analysis.maxLatencyIncrease.ms junk', { rollout: { analysis: { maxLatencyIncrease: { ms: 'x' } } } }, /^rollout\.analysis\.maxLatencyIncrease\.ms must be a duration/],
    ['rollout.analysis.maxLatencyIncrease unknown key', { rollout: { analysis: { maxLatencyIncrease: { pct: 1 } } } }, /^rollout\.analysis\.maxLatencyIncrease\.pct is not a known config key$/],
    ['rollout.analysis.latencyQuantile below 0.5', { rollout: { analysis: { latencyQuantile: 0.2 } } }, /^rollout\.analysis\.latencyQuantile must be between 0\.5 and 0\.999$/],
    ['rollout.analysis.abandonAfter junk', { rollout: { analysis: { abandonAfter: 'soon' } } }, /^rollout\.analysis\.abandonAfter must be a duration/],
    ['rollout.analysis.routes.depth above 8', { rollout: { analysis: { routes: { depth: 9 } } } }, /^rollout\.analysis\.routes\.depth must be between 0 and 8$/],
    ['rollout.analysis.routes.max negative', { rollout: { analysis: { routes: { max: -1 } } } }, /^rollout\.analysis\.routes\.max must be between 0 and 100$/],
    ['rollout.analysis.routes.prefixes entry without slash', { rollout: { analysis: { routes: { prefixes: ['v1'] } } } }, /^rollout\.analysis\.routes\.prefixes\[0\] /],
    ['rollout.analysis.routes unknown key', { rollout: { analysis: { routes: { deep: 1 } } } }, /^rollout\.analysis\.routes\.deep is not a known config key$/],
    ['webhooks url not http', { webhooks: [{ url: 'ftp://x' }] }, /^webhooks\[0\]\.url must be an http/],
    ['webhooks unknown event', { webhooks: [{ url: 'http://h/x', events: ['step', 'explode'] }] }, /^webhooks\[0\]\.events\[1\] must be one of step, /],
    ['healthCheck.unhealthyThreshold zero', { healthCheck: { unhealthyThreshold: 0 } }, /^healthCheck\.unhealthyThreshold must be between 1 and 100$/],
    ['healthCheck.path without slash', { healthCheck: { path: 'health' } }, /^healthCheck\.path /],
    ['outlierDetection.ejectionTime junk', { outlierDetection: { ejectionTime: 'long' } }, /^outlierDetection\.ejectionTime must be a duration/],
    ['state.redis.url not redis', { state: { redis: { url: 'http://127.0.0.1:6379' } } }, /^state\.redis\.url must be a redis:\/\/ or rediss:\/\/ URL/],
    ['state.redis without url', { state: { redis: { keyPrefix: 'a:' } } }, /^state\.redis\.url is required/],
    ['state.redis.url with a db name', { state: { redis: { url: 'redis://127.0.0.1:6379/main' } } }, /^state\.redis\.url path must be a database number/],
    ['state.redis unknown key', { state: { redis: { url: 'redis://h', host: 'h' } } }, /^state\.redis\.host is not a known config key$/],
    ['state.redis.keyPrefix empty', { state: { redis: { url: 'redis://h', keyPrefix: '' } } }, /^state\.redis\.keyPrefix /],
    ['state.redis.sentinels without name', { state: { redis: { sentinels: ['h:26379'] } } }, /^state\.redis\.name is required with state\.redis\.sentinels/],
    ['state.redis.name without sentinels', { state: { redis: { url: 'redis://h', name: 'm' } } }, /^state\.redis\.name needs state\.redis\.sentinels$/],
    ['state.redis.sentinels entry without port', { state: { redis: { sentinels: ['h'], name: 'm' } } }, /^state\.redis\.sentinels\[0\] must be host:port/],
    ['state.redis.sentinels empty', { state: { redis: { sentinels: [], name: 'm' } } }, /^state\.redis\.sentinels must list at least one entry$/],
    ['mirror.percent three decimals', { mirror: { percent: 1.234 } }, /^mirror\.percent must have at most two decimals/],
    ['mirror.percent over 100', { mirror: { percent: 101 } }, /^mirror\.percent /],
    ['mirror.noise.percent three decimals', { mirror: { noise: { percent: 0.001 } } }, /^mirror\.noise\.percent must have at most two decimals/],
    ['mirror.compare.ignore not a path', { mirror: { compare: { ignore: ['$.ok', 'items.id'] } } }, /^mirror\.compare\.ignore\[1\] not a JSON path pattern/],
    ['mirror.report.redactFields not a path', { mirror: { report: { redactFields: ['$[x'] } } }, /^mirror\.report\.redactFields\[0\] not a JSON path pattern/],
    ['mirror.compare.mode unknown', { mirror: { compare: { mode: 'fuzzy' } } }, /^mirror\.compare\.mode /],
    ['mirror.methods empty', { mirror: { methods: [] } }, /^mirror\.methods /],
    ['mirror.methods not a method', { mirror: { methods: ['GET /'] } }, /^mirror\.methods\[0\] /],
    ['mirror.header not a token', { mirror: { header: 'x shadow' } }, /^mirror\.header /],
    ['mirror.concurrency 0', { mirror: { concurrency: 0 } }, /^mirror\.concurrency /],
    ['mirror unknown key', { mirror: { sample: 10 } }, /^mirror\.sample is not a known config key$/],
    ['proxy.engine unknown', { proxy: { engine: 'uring' } }, /^proxy\.engine must be "sockets" or "node"/],
    ['not a mapping', ['a'], /YAML mapping/],
  ]
  for (const [name, patch, message] of bad) {
    it(`names the key: ${name}`, () => {
      const raw = Array.isArray(patch) ? patch : { ...base, ...(patch as object) }
      expect(() => resolveConfig(raw)).toThrow(ConfigError)
      expect(() => resolveConfig(raw)).toThrow(message)
    })
  }
})

describe('loadConfigFile', () => {
  it('reads YAML, and JSON as YAML', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sy-config-'))
    await writeFile(join(dir, 'a.yaml'), 'upstreams:\n  blue: { targets: ["http://127.0.0.1:1"] }\n  green: { targets: ["http://127.0.0.1:2"] }\nsplit: { green: 12.5 }\n')
    await writeFile(join(dir, 'b.json'), JSON.stringify({ ...base, split: { green: 33 } }))
    expect((await loadConfigFile(join(dir, 'a.yaml'), {})).split.green).toBe(12.5)
    expect((await loadConfigFile(join(dir, 'b.json'), {})).split.green).toBe(33)
  })

  it('names a missing file and a YAML syntax error', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sy-config-'))
    await expect(loadConfigFile(join(dir, 'none.yaml'), {})).rejects.toThrow(/config file .*none\.yaml does not exist/)
    await writeFile(join(dir, 'bad.yaml'), 'proxy: { port: 80\n')
    await expect(loadConfigFile(join(dir, 'bad.yaml'), {})).rejects.toThrow(/is not valid YAML/)
  })

  it('the example Kubernetes manifest holds a valid fleet config, with a grace period past the drain', async () => {
    interface Manifest {
      kind: string
      data?: Record<string, string>
      spec?: { template: { spec: { terminationGracePeriodSeconds: number; containers: { readinessProbe: { httpGet: { path: string } } }[] } } }
    }
    const docs = parseAllDocuments(await readFile('config/kubernetes.yaml', 'utf8')).map((d) => d.toJS() as Manifest)
    const fleetConfig = docs.find((d) => d.kind === 'ConfigMap')!.data!['switchyard.yaml']!
    const config = resolveConfig(parseYaml(fleetConfig), {
      SWITCHYARD_ADMIN_TOKEN: 'from-the-secret',
      SWITCHYARD_REDIS_URL: 'redis://:pw@redis:6379/0',
    })
    expect(config.state.redis).toEqual({ url: 'redis://:pw@redis:6379/0', keyPrefix: 'switchyard:prod:', sentinel: null })
    expect(config.admin.token).toBe('from-the-secret')
    const pod = docs.find((d) => d.kind === 'Deployment')!.spec!.template.spec
    expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThan(config.drain.deadline + 5_000)
    expect(pod.containers[0]!.readinessProbe.httpGet.path).toBe('/readyz')
    // Without the Secret's URL the config names what is missing.
    expect(() => resolveConfig(parseYaml(fleetConfig), { SWITCHYARD_ADMIN_TOKEN: 't' })).toThrow(
      /^state\.redis\.url is required/,
    )
  })

  it('accepts the shipped config/default.yaml', async () => {
    const config = await loadConfigFile('config/default.yaml', {})
    expect(config.demo).toEqual({ blue: 3001, green: 3002 })
    expect(config.split.green).toBe(10)
  })
})
