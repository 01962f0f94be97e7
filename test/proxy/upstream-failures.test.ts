import net from 'node:net'
import { gzipSync } from 'node:zlib'
import { afterEach, describe, expect, it } from 'vitest'
import { HEALTH_CHECK_OFF } from '../../src/proxy/health-checker.js'
import { Resources, send, startProxy } from '../helpers/upstream-proxy-harness.js'
import { closedPort, startUpstream } from '../helpers/upstream-server.js'

const resources = new Resources()
afterEach(() => resources.closeAll())

/** A raw TCP upstream that answers each connection with `reply` (or resets it when null). */
async function rawUpstream(reply: string | null): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>()
  const server = net.createServer((socket) => {
    sockets.add(socket)
    socket.once('data', () => {
      if (reply === null) socket.resetAndDestroy()
      else socket.end(reply)
    })
    socket.on('error', () => undefined)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

describe('upstream failures', () => {
  it('answers 502 with a JSON body when the upstream refuses connections', async () => {
    const target = `http://127.0.0.1:${await closedPort()}`
    const proxy = resources.add(await startProxy({ blue: [target], green: [target] }))
    const reply = await send(proxy.url, { headers: { 'x-user-id': 'u1' } })
    expect(reply.status).toBe(502)
    expect(reply.headers['content-type']).toBe('application/json; charset=utf-8')
    expect(reply.headers['x-switchyard-color']).toBe('blue')
    expect(JSON.parse(reply.body)).toEqual({
      statusCode: 502,
      error: 'Bad Gateway',
      message: 'The upstream could not be reached',
      code: 'SY_ERR_UPSTREAM_CONNECT',
    })
    const [outcome] = await proxy.sink.waitFor(1)
    expect(outcome).toMatchObject({ color: 'blue', status: 502, errorKind: 'connect' })
    const [health] = proxy.proxy.health().blue
    expect(health).toMatchObject({ url: target, healthy: true, consecutiveFailures: 1, inFlight: 0 })
    expect(health!.lastError).toContain('ECONNREFUSED')
    expect(Date.parse(health!.lastErrorAt ?? '')).not.toBeNaN()
  })

  it('ejects a target after consecutive failures; an answer resets the count', async () => {
    const port = await closedPort()
    const target = `http://127.0.0.1:${port}`
    const proxy = resources.add(await startProxy({ blue: [target], green: [target] }))
    proxy.proxy.setHealth(HEALTH_CHECK_OFF, { consecutiveErrors: 3, ejectionTime: 60_000 })
    for (let i = 0; i < 3; i++) expect((await send(proxy.url)).status).toBe(502)
    expect(proxy.proxy.health().blue[0]).toMatchObject({ healthy: false, consecutiveFailures: 3 })

    // Bring the target back on the same port: a lone target still gets requests (panic mode),
    // and one answer resets the count; the ejection itself lasts its time.
    resources.add(await startUpstream('revived', undefined, port))
    expect((await send(proxy.url)).status).toBe(200)
    expect(proxy.proxy.health().blue[0]).toMatchObject({ url: target, healthy: false, consecutiveFailures: 0 })
  })

  it('answers 504 when no response headers arrive within timeouts.request', async () => {
    const upstream = resources.add(await startUpstream('blue', () => undefined))
    const proxy = resources.add(await startProxy({ blue: [upstream.url], green: [upstream.url], timeouts: { request: 150 } }))
    const started = Date.now()
    const reply = await send(proxy.url, { headers: { 'x-user-id': 'u1' } })
    expect(Date.now() - started).toBeGreaterThanOrEqual(100)
    expect(reply.status).toBe(504)
    expect(reply.headers['x-switchyard-color']).toBe('blue')
    expect(JSON.parse(reply.body)).toEqual({
      statusCode: 504,
      error: 'Gateway Timeout',
      message: 'The upstream sent no response headers in time',
      code: 'SY_ERR_UPSTREAM_TIMEOUT',
    })
    const [outcome] = await proxy.sink.waitFor(1)
    expect(outcome).toMatchObject({ color: 'blue', status: 504, errorKind: 'timeout' })
    await upstream.requests[0]!.cancelled
  })

  it('answers 502 protocol when the upstream speaks garbage', async () => {
    const upstream = resources.add(await rawUpstream('this is not http\r\n\r\n'))
    const proxy = resources.add(await startProxy({ blue: [upstream.url], green: [upstream.url] }))
    const reply = await send(proxy.url)
    expect(reply.status).toBe(502)
    expect(JSON.parse(reply.body)).toMatchObject({ code: 'SY_ERR_UPSTREAM_PROTOCOL' })
    const [outcome] = await proxy.sink.waitFor(1)
    expect(outcome).toMatchObject({ status: 502, errorKind: 'protocol' })
  })

  it('answers 502 protocol when the first body bytes, read with the head, break its chunked framing: nothing of it had reached the client', async () => {
    // "5 " is not a chunk size (no whitespace before its CRLF): the answer cannot be passed on.
    const upstream = resources.add(await rawUpstream('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n'))
    const proxy = resources.add(await startProxy({ blue: [upstream.url], green: [upstream.url] }))
    const reply = await send(proxy.url)
    expect(reply.status).toBe(502)
    expect(reply.headers['x-switchyard-color']).toBe('blue')
    expect(JSON.parse(reply.body)).toMatchObject({ code: 'SY_ERR_UPSTREAM_PROTOCOL' })
    const [outcome] = await proxy.sink.waitFor(1)
    expect(outcome).toMatchObject({ status: 502, errorKind: 'protocol' })
  })

  it.each(['sockets', 'node'] as const)('answers 502 protocol to a transfer coding other than chunked, which the client would get still coded (%s engine)', async (engine) => {
    const gzipped = gzipSync('hello')
    const upstream = resources.add(await rawUpstream(`HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n${gzipped.toString('latin1')}`))
    const proxy = resources.add(await startProxy({ blue: [upstream.url], green: [upstream.url], engine }))
    const reply = await send(proxy.url)
    expect(reply.status).toBe(502)
    expect(JSON.parse(reply.body)).toMatchObject({ code: 'SY_ERR_UPSTREAM_PROTOCOL' })
  })

  it('answers 502 reset when the upstream drops the connection before headers', async () => {
    const upstream = resources.add(await rawUpstream(null))
    const proxy = resources.add(await startProxy({ blue: [upstream.url], green: [upstream.url] }))
    const reply = await send(proxy.url)
    expect(reply.status).toBe(502)
    expect(JSON.parse(reply.body)).toMatchObject({ code: 'SY_ERR_UPSTREAM_RESET' })
    const [outcome] = await proxy.sink.waitFor(1)
    expect(outcome).toMatchObject({ status: 502, errorKind: 'reset' })
  })

  it('answers 502 when a colour has no targets', async () => {
    const upstream = resources.add(await startUpstream('blue'))
    const proxy = resources.add(await startProxy({ blue: [upstream.url], green: [] }))
    const reply = await send(proxy.url, { headers: { 'x-switchyard-color': 'green' } })
    expect(reply.status).toBe(502)
    expect(reply.headers['x-switchyard-color']).toBe('green')
    expect(JSON.parse(reply.body)).toMatchObject({ code: 'SY_ERR_NO_TARGETS' })
    expect(proxy.sink.outcomes()).toEqual([{ color: 'green', status: 502, errorKind: 'connect' }])
  })

  it('keeps the sticky cookie on its own error answers', async () => {
    const target = `http://127.0.0.1:${await closedPort()}`
    const proxy = resources.add(await startProxy({ blue: [target], green: [target] }))
    const reply = await send(proxy.url)
    expect(reply.status).toBe(502)
    expect(reply.headers['set-cookie']?.[0]).toMatch(/^sy_sid=/)
  })
})
