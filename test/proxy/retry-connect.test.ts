import { Writable } from 'node:stream'
import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { createProxyServer } from '../../src/proxy/proxy-server.js'
import { Router } from '../../src/routing/router.js'
import { makeTable } from '../../src/routing/types.js'
import { POLICY, RecordingSink, Resources, send, TIMEOUTS } from '../helpers/upstream-proxy-harness.js'
import { closedPort, startUpstream } from '../helpers/upstream-server.js'

const resources = new Resources()
afterEach(() => resources.closeAll())

/** A proxy whose debug log lines are kept, to count retries. */
async function startLoggedProxy(blue: string[], green: string[], greenBuckets = 0) {
  const lines: Array<Record<string, unknown>> = []
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>)
      done()
    },
  })
  const sink = new RecordingSink()
  const table = makeTable(1, greenBuckets)
  const proxy = createProxyServer({
    tables: { current: () => table },
    router: new Router(POLICY),
    sink,
    upstreams: { blue, green },
    timeouts: TIMEOUTS,
    logger: pino({ level: 'debug' }, stream),
    accessLog: false,
    // Ejection would hide the dead target after a few failures; this test wants it picked.
    outlier: { consecutiveErrors: 0, ejectionTime: 0 },
  })
  const { port } = await proxy.listen(0, '127.0.0.1')
  return resources.add({ proxy, sink, lines, url: `http://127.0.0.1:${port}`, close: () => proxy.close(0) })
}

describe('bounded retry of connect failures', () => {
  it('retries a body-less request once on another target of the same colour: every GET succeeds', async () => {
    const live = resources.add(await startUpstream('blue-live'))
    const green = resources.add(await startUpstream('green'))
    const dead = `http://127.0.0.1:${await closedPort()}`
    const proxy = await startLoggedProxy([dead, live.url], [green.url])
    for (let i = 0; i < 10; i++) {
      for (const method of ['GET', 'HEAD', 'OPTIONS', 'DELETE']) {
        const reply = await send(proxy.url, { method, path: `/r${i}`, headers: { 'x-user-id': `u${i}` } })
        expect(reply.status).toBe(200)
        expect(reply.headers['x-switchyard-color']).toBe('blue')
      }
    }
    // Round-robin sent half of them to the dead target first; each retried once, on blue only.
    expect(green.requests).toHaveLength(0)
    expect(live.requests).toHaveLength(40)
    const retries = proxy.lines.filter((line) => line.msg === 'connect failed; retrying once on another target')
    expect(retries).toHaveLength(20)
    expect(retries[0]).toMatchObject({ level: 20, color: 'blue', from: dead, to: live.url })
    expect(proxy.sink.outcomes().every((o) => o.status === 200 && o.errorKind === undefined)).toBe(true)
    expect(proxy.proxy.health().blue.find((t) => t.url === dead)).toMatchObject({ consecutiveFailures: 20, inFlight: 0 })
    expect(proxy.proxy.health().blue.find((t) => t.url === live.url)).toMatchObject({ inFlight: 0 })
  })

  it('does not retry a request with a body: a POST to the dead target gets 502', async () => {
    const live = resources.add(await startUpstream('blue-live'))
    const dead = `http://127.0.0.1:${await closedPort()}`
    const proxy = await startLoggedProxy([dead, live.url], [live.url])
    const statuses: number[] = []
    for (let i = 0; i < 4; i++) {
      statuses.push((await send(proxy.url, { method: 'POST', body: 'payload', headers: { 'x-user-id': 'u1' } })).status)
    }
    expect(statuses.sort()).toEqual([200, 200, 502, 502])
    expect(live.requests).toHaveLength(2)
    expect(proxy.lines.filter((line) => line.msg === 'connect failed; retrying once on another target')).toHaveLength(0)
  })

  it('retries at most once and never on the other colour: two dead blue targets give 502', async () => {
    const green = resources.add(await startUpstream('green'))
    const deadA = `http://127.0.0.1:${await closedPort()}`
    const deadB = `http://127.0.0.1:${await closedPort()}`
    const proxy = await startLoggedProxy([deadA, deadB], [green.url])
    const reply = await send(proxy.url, { headers: { 'x-user-id': 'u1' } })
    expect(reply.status).toBe(502)
    expect(JSON.parse(reply.body)).toMatchObject({ code: 'SY_ERR_UPSTREAM_CONNECT' })
    expect(green.requests).toHaveLength(0)
    expect(proxy.lines.filter((line) => line.msg === 'connect failed; retrying once on another target')).toHaveLength(1)
    const [outcome] = await proxy.sink.waitFor(1)
    expect(outcome).toMatchObject({ color: 'blue', status: 502, errorKind: 'connect' })
    expect(proxy.proxy.inFlight()).toEqual({ blue: 0, green: 0 })
  })
})

describe('DNS failures', () => {
  it('answers 502 naming the host that does not resolve', async () => {
    const proxy = await startLoggedProxy(['http://does-not-exist.invalid:80'], ['http://does-not-exist.invalid:80'])
    const reply = await send(proxy.url, { headers: { 'x-user-id': 'u1' } })
    expect(reply.status).toBe(502)
    const body = JSON.parse(reply.body) as { code: string; message: string }
    expect(body.code).toBe('SY_ERR_UPSTREAM_CONNECT')
    expect(body.message).toContain('does-not-exist.invalid')
    expect(body.message).toMatch(/could not be resolved/)
    const [outcome] = await proxy.sink.waitFor(1)
    expect(outcome).toMatchObject({ status: 502, errorKind: 'connect' })
  })
})
