import http from 'node:http'
import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { readBody, startUpstream, type Echo } from '../helpers/upstream-server.js'
import { Resources, send, startProxy } from '../helpers/upstream-proxy-harness.js'

const resources = new Resources()
afterEach(() => resources.closeAll())

async function blueAndGreen(greenBuckets = 0) {
  const blue = resources.add(await startUpstream('blue'))
  const green = resources.add(await startUpstream('green'))
  const proxy = resources.add(await startProxy({ blue: [blue.url], green: [green.url], greenBuckets }))
  return { blue, green, proxy }
}

describe('HTTP proxying', () => {
  it('forwards every method with its body and answers with the upstream status', async () => {
    const { proxy, blue } = await blueAndGreen()
    const cases = [
      { method: 'GET', body: undefined },
      { method: 'POST', body: '{"a":1}' },
      { method: 'PUT', body: 'put body' },
      { method: 'PATCH', body: 'patch body' },
      { method: 'DELETE', body: 'delete body' },
      { method: 'OPTIONS', body: undefined },
    ]
    for (const { method, body } of cases) {
      const headers = body === undefined ? {} : { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) }
      const reply = await send(proxy.url, { method, path: `/m/${method}?q=1`, headers, body })
      expect(reply.status).toBe(200)
      const echo = JSON.parse(reply.body) as Echo
      expect(echo).toMatchObject({ upstream: 'blue', method, url: `/m/${method}?q=1`, body: body ?? '' })
    }

    const head = await send(proxy.url, { method: 'HEAD', path: '/head' })
    expect(head.status).toBe(200)
    expect(head.body).toBe('')
    expect(Number(head.headers['content-length'])).toBeGreaterThan(0)
    expect(blue.requests.map((r) => r.method)).toEqual(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD'])
    expect(proxy.sink.records).toHaveLength(7)
  })

  it('streams a chunked request body upstream', async () => {
    const { proxy } = await blueAndGreen()
    const reply = await new Promise<string>((resolve, reject) => {
      const req = http.request(`${proxy.url}/chunked`, { method: 'POST', agent: false })
      req.on('error', reject)
      req.on('response', (res) => void readBody(res).then((b) => resolve(b.toString()), reject))
      req.write('part one, ')
      setTimeout(() => req.end('part two'), 20)
    })
    const echo = JSON.parse(reply) as Echo
    expect(echo.body).toBe('part one, part two')
    // Chunked while the body is still arriving. On a loaded machine the whole body can be in
    // before the proxy dispatches it; undici then frames that ended stream by its length.
    const framing = echo.headers['transfer-encoding'] ?? `content-length: ${echo.headers['content-length']}`
    expect(['chunked', `content-length: ${'part one, part two'.length}`]).toContain(framing)
  })

  it('passes status, reason and headers through, keeping every Set-Cookie', async () => {
    const upstream = resources.add(
      await startUpstream('blue', (_req, res) => {
        res.setHeader('set-cookie', ['a=1; Path=/', 'b=2; Path=/'])
        res.setHeader('x-custom', 'yes')
        // An upstream's own colour header is not passed on: the proxy's says who answered.
        res.setHeader('x-switchyard-color', 'green')
        res.writeHead(418, 'Short And Stout')
        res.end('teapot')
      }),
    )
    const proxy = resources.add(await startProxy({ blue: [upstream.url], green: [upstream.url] }))
    const reply = await send(proxy.url, { headers: { 'x-user-id': 'u1' } })
    expect(reply.status).toBe(418)
    expect(reply.body).toBe('teapot')
    expect(reply.headers['x-custom']).toBe('yes')
    expect(reply.headers['set-cookie']).toEqual(['a=1; Path=/', 'b=2; Path=/'])
    expect(reply.statusMessage).toBe('Short And Stout')
    expect(reply.rawHeaders.filter((name) => name.toLowerCase() === 'x-switchyard-color')).toEqual(['x-switchyard-color'])
    expect(reply.headers['x-switchyard-color']).toBe('blue')
    expect(proxy.sink.outcomes()).toEqual([{ color: 'blue', status: 418, errorKind: undefined }])
  })

  it('drops hop-by-hop request headers, including those named in Connection', async () => {
    const { proxy, blue } = await blueAndGreen()
    const reply = await new Promise<string>((resolve, reject) => {
      const req = http.request(`${proxy.url}/hop`, {
        method: 'POST',
        agent: false,
        headers: {
          connection: 'keep-alive, X-Hop-Req',
          'x-hop-req': 'secret',
          'keep-alive': 'timeout=5',
          te: 'trailers',
          'proxy-connection': 'keep-alive',
          upgrade: 'foo/1',
          'transfer-encoding': 'chunked',
          'x-end-to-end': 'kept',
        },
      })
      req.on('error', reject)
      req.on('response', (res) => void readBody(res).then((b) => resolve(b.toString()), reject))
      req.end('hop body')
    })
    const echo = JSON.parse(reply) as Echo
    expect(echo.body).toBe('hop body')
    const seen = blue.requests[0]!.headers
    expect(seen['x-hop-req']).toBeUndefined()
    expect(seen['keep-alive']).toBeUndefined()
    expect(seen.te).toBeUndefined()
    expect(seen['proxy-connection']).toBeUndefined()
    expect(seen.upgrade).toBeUndefined()
    expect(seen.connection).toBe('keep-alive')
    expect(seen['x-end-to-end']).toBe('kept')
  })

  it('drops hop-by-hop response headers, including those named in Connection', async () => {
    const upstream = resources.add(
      await startUpstream('blue', (_req, res) => {
        res.writeHead(200, {
          connection: 'keep-alive, X-Hop-Resp',
          'x-hop-resp': 'secret',
          'keep-alive': 'timeout=5, max=1000',
          'proxy-connection': 'keep-alive',
          te: 'trailers',
          trailer: 'x-checksum',
          'x-end-to-end': 'kept',
        })
        res.end('ok')
      }),
    )
    const proxy = resources.add(await startProxy({ blue: [upstream.url], green: [upstream.url] }))
    const reply = await send(proxy.url, { headers: { connection: 'close' } })
    expect(reply.status).toBe(200)
    expect(reply.body).toBe('ok')
    expect(reply.headers['x-hop-resp']).toBeUndefined()
    expect(reply.headers['keep-alive']).toBeUndefined()
    expect(reply.headers['proxy-connection']).toBeUndefined()
    expect(reply.headers.te).toBeUndefined()
    expect(reply.headers.trailer).toBeUndefined()
    expect(reply.headers.connection).toBe('close')
    expect(reply.headers['x-end-to-end']).toBe('kept')
    // Upstream chunked, re-framed by the proxy: never two Transfer-Encoding headers.
    expect(reply.rawHeaders.filter((h) => h.toLowerCase() === 'transfer-encoding').length).toBeLessThanOrEqual(1)
  })

  it('sets X-Forwarded-* and keeps the original Host', async () => {
    const { proxy, blue } = await blueAndGreen()
    await send(proxy.url, { headers: { host: 'shop.example:8443', 'x-forwarded-for': '203.0.113.7' } })
    await send(proxy.url, { headers: { host: 'shop.example' } })
    const [chained, fresh] = blue.requests
    expect(chained!.headers.host).toBe('shop.example:8443')
    // No trusted proxies: a client's own X-Forwarded-For is replaced, never believed.
    expect(chained!.headers['x-forwarded-for']).toBe('127.0.0.1')
    expect(chained!.headers['x-forwarded-proto']).toBe('http')
    expect(chained!.headers['x-forwarded-host']).toBe('shop.example:8443')
    expect(fresh!.headers['x-forwarded-for']).toBe('127.0.0.1')
    expect(fresh!.headers['x-forwarded-host']).toBe('shop.example')
  })

  it('reuses one upstream connection for sequential requests', async () => {
    const { proxy, blue } = await blueAndGreen()
    for (let i = 0; i < 20; i++) {
      const reply = await send(proxy.url, { path: `/${i}` })
      expect(reply.status).toBe(200)
    }
    expect(blue.requests).toHaveLength(20)
    expect(blue.sockets).toHaveLength(1)
    expect(new Set(blue.requests.map((r) => r.socketIndex))).toEqual(new Set([0]))
  })

  it('alternates exactly between two targets of a colour', async () => {
    const first = resources.add(await startUpstream('blue-1'))
    const second = resources.add(await startUpstream('blue-2'))
    const proxy = resources.add(await startProxy({ blue: [first.url, second.url], green: [first.url] }))
    const served: string[] = []
    for (let i = 0; i < 10; i++) {
      const reply = await send(proxy.url, { headers: { 'x-user-id': 'same-user' } })
      served.push((JSON.parse(reply.body) as Echo).upstream)
    }
    expect(served).toEqual(['blue-1', 'blue-2', 'blue-1', 'blue-2', 'blue-1', 'blue-2', 'blue-1', 'blue-2', 'blue-1', 'blue-2'])
  })
})

describe('routing', () => {
  it('follows the table: 0 green buckets → blue, 10000 → green, read per request', async () => {
    const { proxy } = await blueAndGreen(0)
    for (let i = 0; i < 5; i++) {
      const reply = await send(proxy.url, { headers: { 'x-user-id': `user-${i}` } })
      expect(reply.headers['x-switchyard-color']).toBe('blue')
      expect((JSON.parse(reply.body) as Echo).upstream).toBe('blue')
    }
    proxy.setGreenBuckets(10_000)
    for (let i = 0; i < 5; i++) {
      const reply = await send(proxy.url, { headers: { 'x-user-id': `user-${i}` } })
      expect(reply.headers['x-switchyard-color']).toBe('green')
      expect((JSON.parse(reply.body) as Echo).upstream).toBe('green')
    }
    expect(proxy.sink.records.map((r) => r.color)).toEqual([...Array<string>(5).fill('blue'), ...Array<string>(5).fill('green')])
  })

  it('lets the override header force a colour', async () => {
    const { proxy } = await blueAndGreen(0)
    const forced = await send(proxy.url, { headers: { 'x-user-id': 'u', 'x-switchyard-color': 'green' } })
    expect(forced.headers['x-switchyard-color']).toBe('green')
    expect((JSON.parse(forced.body) as Echo).upstream).toBe('green')
    const ignored = await send(proxy.url, { headers: { 'x-user-id': 'u', 'x-switchyard-color': 'purple' } })
    expect(ignored.headers['x-switchyard-color']).toBe('blue')
  })

  it('assigns the sticky cookie next to the upstream Set-Cookie values', async () => {
    const upstream = resources.add(
      await startUpstream('blue', (_req, res) => {
        res.setHeader('set-cookie', ['theme=dark; Path=/', 'lang=en; Path=/'])
        res.end('ok')
      }),
    )
    const proxy = resources.add(await startProxy({ blue: [upstream.url], green: [upstream.url] }))
    const keyless = await send(proxy.url)
    const cookies = keyless.headers['set-cookie'] ?? []
    expect(cookies).toHaveLength(3)
    expect(cookies.slice(0, 2)).toEqual(['theme=dark; Path=/', 'lang=en; Path=/'])
    expect(cookies[2]).toMatch(/^sy_sid=[0-9a-f-]{36}\.[0-9a-z]+; Path=\/; Max-Age=86400; HttpOnly; SameSite=Lax$/)

    const keyed = await send(proxy.url, { headers: { 'x-user-id': 'u1' } })
    expect(keyed.headers['set-cookie']).toEqual(['theme=dark; Path=/', 'lang=en; Path=/'])
    // A returning client with a recent cookie gets no new one; an old one slides (same id).
    const returning = await send(proxy.url, { headers: { cookie: `sy_sid=abc.${Math.floor(Date.now() / 1000).toString(36)}` } })
    expect(returning.headers['set-cookie']).toHaveLength(2)
    const legacy = await send(proxy.url, { headers: { cookie: 'sy_sid=abc' } })
    expect(legacy.headers['set-cookie']?.[2]).toMatch(/^sy_sid=abc\.[0-9a-z]+; /)
  })

  it('records exactly one outcome per request with colour, status and duration', async () => {
    const { proxy } = await blueAndGreen(0)
    await send(proxy.url, { headers: { 'x-user-id': 'a' } })
    await send(proxy.url, { headers: { 'x-user-id': 'b', 'x-switchyard-color': 'green' } })
    await send(proxy.url, { method: 'POST', headers: { 'x-user-id': 'c', 'content-length': 2 }, body: 'hi' })
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(proxy.sink.outcomes()).toEqual([
      { color: 'blue', status: 200, errorKind: undefined },
      { color: 'green', status: 200, errorKind: undefined },
      { color: 'blue', status: 200, errorKind: undefined },
    ])
    for (const record of proxy.sink.records) {
      expect(record.durationMs).toBeGreaterThanOrEqual(0)
      expect(record.durationMs).toBeLessThan(5_000)
    }
    expect(proxy.proxy.inFlight()).toEqual({ blue: 0, green: 0 })
  })
})

describe('access log', () => {
  function capture(): { lines: Array<Record<string, unknown>>; logger: pino.Logger } {
    const lines: Array<Record<string, unknown>> = []
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) })
    return { lines, logger }
  }

  it('writes one info line per request when on', async () => {
    const upstream = resources.add(await startUpstream('blue'))
    const { lines, logger } = capture()
    const proxy = resources.add(await startProxy({ blue: [upstream.url], green: [upstream.url], logger, accessLog: true }))
    await send(proxy.url, { method: 'POST', path: '/orders?id=7', headers: { 'x-user-id': 'u', 'content-length': 2 }, body: 'hi' })
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatchObject({ level: 30, method: 'POST', url: '/orders?id=7', status: 200, color: 'blue' })
    expect(typeof lines[0]?.ms).toBe('number')
  })

  it('logs nothing on the request path when off', async () => {
    const upstream = resources.add(await startUpstream('blue'))
    const { lines, logger } = capture()
    const proxy = resources.add(await startProxy({ blue: [upstream.url], green: [upstream.url], logger, accessLog: false }))
    await send(proxy.url)
    await send(proxy.url, { path: '/missing', headers: { 'x-switchyard-color': 'green' } })
    expect(lines).toHaveLength(0)
  })
})
