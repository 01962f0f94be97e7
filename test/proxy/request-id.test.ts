import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { forwardRequestId, MAX_REQUEST_ID_LENGTH, RequestIds, validRequestId } from '../../src/proxy/request-id.js'
import { memoryLogger } from '../helpers/logs.js'
import { send, startProxy, type TestProxy } from '../helpers/upstream-proxy-harness.js'
import { startUpstream, type Upstream } from '../helpers/upstream-server.js'
import { until } from '../helpers/wait.js'

/** A request id made by switchyard: a 12-character random prefix, a dash, a base-36 counter. */
const GENERATED = /^[A-Za-z0-9_-]{12}-[0-9a-z]+$/

describe('request ids', () => {
  it('keeps 1 to 128 visible ASCII characters and nothing else', () => {
    for (const good of ['a', '0f8fad5b-d9cb-469f-a165-70867728950e', 'x'.repeat(MAX_REQUEST_ID_LENGTH), 'Root=1-5759e988;Parent=53995c3f;Sampled=1']) {
      expect(validRequestId(good), good).toBe(true)
    }
    for (const bad of ['', 'x'.repeat(MAX_REQUEST_ID_LENGTH + 1), 'two words', 'a, b', 'tab\there', 'caf\u00e9', 'nul\u0000']) {
      expect(validRequestId(bad), JSON.stringify(bad)).toBe(false)
    }
  })

  it('makes distinct ids from a per-process prefix and a counter, and keeps a valid one', () => {
    const ids = new RequestIds()
    const made = Array.from({ length: 1000 }, () => ids.of(undefined))
    expect(new Set(made).size).toBe(1000)
    for (const id of made) expect(id).toMatch(GENERATED)
    expect(made[0]!.slice(0, 13)).toBe(made[999]!.slice(0, 13))
    expect(new RequestIds().of(undefined).slice(0, 13)).not.toBe(made[0]!.slice(0, 13))
    expect(ids.of('trace-1')).toBe('trace-1')
    expect(ids.of('bad id')).toMatch(GENERATED)
  })

  it('appends a new id, replaces a refused one in place, and leaves a kept one alone', () => {
    const appended = ['host', 'a']
    forwardRequestId(appended, 'new-1', undefined)
    expect(appended).toEqual(['host', 'a', 'x-request-id', 'new-1'])
    const replaced = ['host', 'a', 'x-request-id', 'bad id', 'accept', '*/*']
    forwardRequestId(replaced, 'new-2', 'bad id')
    expect(replaced).toEqual(['host', 'a', 'x-request-id', 'new-2', 'accept', '*/*'])
    const kept = ['x-request-id', 'trace-1']
    forwardRequestId(kept, 'trace-1', 'trace-1')
    expect(kept).toEqual(['x-request-id', 'trace-1'])
  })
})

describe('x-request-id through the proxy', () => {
  let upstream: Upstream
  let on: TestProxy
  let off: TestProxy
  const logs = memoryLogger()
  beforeAll(async () => {
    upstream = await startUpstream('blue')
    on = await startProxy({ blue: [upstream.url], green: [upstream.url], logger: logs.logger, accessLog: true })
    off = await startProxy({ blue: [upstream.url], green: [upstream.url], requestId: false })
  })
  afterAll(async () => {
    await Promise.all([on.close(), off.close()])
    await upstream.close()
  })

  /** The x-request-id values the upstream got with the request to `path`. */
  const seen = (path: string) => {
    const raw = upstream.requests.find((r) => r.url === path)!.rawHeaders
    return raw.filter((_, i) => i % 2 === 1 && raw[i - 1]!.toLowerCase() === 'x-request-id')
  }
  const logged = (path: string) => logs.lines().find((l) => l.msg === 'request' && l.url === path)

  it('gives a request without one a new id, sent upstream and logged', async () => {
    expect((await send(on.url, { path: '/none' })).status).toBe(200)
    const [id] = seen('/none')
    expect(seen('/none')).toHaveLength(1)
    expect(id).toMatch(GENERATED)
    await until(() => logged('/none') !== undefined)
    expect(logged('/none')).toMatchObject({ requestId: id, client: '127.0.0.1', target: upstream.url, status: 200, color: 'blue' })
  })

  it("keeps the client's valid id and replaces an invalid one", async () => {
    await send(on.url, { path: '/valid', headers: { 'x-request-id': 'trace-abc-123' } })
    expect(seen('/valid')).toEqual(['trace-abc-123'])
    await send(on.url, { path: '/spaces', headers: { 'x-request-id': 'not an id' } })
    await send(on.url, { path: '/long', headers: { 'x-request-id': 'x'.repeat(MAX_REQUEST_ID_LENGTH + 1) } })
    for (const path of ['/spaces', '/long']) {
      expect(seen(path)).toHaveLength(1)
      expect(seen(path)[0]).toMatch(GENERATED)
    }
    await until(() => logged('/long') !== undefined)
    expect(logged('/valid')?.requestId).toBe('trace-abc-123')
    expect(logged('/spaces')?.requestId).toBe(seen('/spaces')[0])
  })

  it('with log.requestId off, adds none and passes the client’s through untouched', async () => {
    await send(off.url, { path: '/off-none' })
    await send(off.url, { path: '/off-bad', headers: { 'x-request-id': 'not an id' } })
    expect(seen('/off-none')).toEqual([])
    expect(seen('/off-bad')).toEqual(['not an id'])
  })
})
