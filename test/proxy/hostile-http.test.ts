import net from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ProxyLimits } from '../../src/proxy/types.js'
import { HOSTILE_HEADS, HOST_LINE } from '../helpers/hostile-heads.js'
import { send, startProxy, type TestProxy } from '../helpers/upstream-proxy-harness.js'
import { startUpstream, type Upstream } from '../helpers/upstream-server.js'

/** What came back on a raw connection: the bytes, the parsed status and head, and whether it closed. */
interface RawReply {
  readonly text: string
  readonly status: number
  readonly head: Record<string, string>
  readonly body: string
  readonly closed: boolean
}

/**
 * Writes `bytes` on a fresh TCP connection exactly as given (no client library to fix them) and
 * collects what comes back until the proxy closes the connection or `waitMs` passes.
 */
function raw(port: number, bytes: string | Buffer, waitMs = 5_000): Promise<RawReply> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    const socket = net.connect(port, '127.0.0.1', () => socket.write(bytes))
    let closed = false
    const done = () => {
      clearTimeout(timer)
      const text = Buffer.concat(chunks).toString('latin1')
      const [headText = '', ...rest] = text.split('\r\n\r\n')
      const [statusLine = '', ...lines] = headText.split('\r\n')
      const head: Record<string, string> = {}
      for (const line of lines) {
        const colon = line.indexOf(':')
        if (colon > 0) head[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim()
      }
      resolve({ text, status: Number(statusLine.split(' ')[1] ?? 0), head, body: rest.join('\r\n\r\n'), closed })
    }
    const timer = setTimeout(() => {
      socket.destroy()
      done()
    }, waitMs)
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    socket.on('error', () => undefined)
    socket.on('close', () => {
      closed = true
      done()
    })
  })
}

/** The harness proxy with the limits (and header timeout) a hostile case needs. */
function startHostileProxy(upstream: string, limits: Partial<ProxyLimits>, header?: number): Promise<TestProxy> {
  return startProxy({ blue: [upstream], green: [upstream], limits, ...(header === undefined ? {} : { timeouts: { header } }) })
}

const H = HOST_LINE

describe('hostile HTTP: refused with a 4xx, Connection: close, a short body, never forwarded', () => {
  let upstream: Upstream
  /** A second upstream that absolute-form and CONNECT requests name; it must never see a request. */
  let elsewhere: Upstream
  let proxy: Awaited<ReturnType<typeof startHostileProxy>>

  beforeAll(async () => {
    upstream = await startUpstream('blue')
    elsewhere = await startUpstream('elsewhere')
    proxy = await startHostileProxy(upstream.url, { maxBodySize: 1024, maxHeaderSize: 8192 })
  })
  afterAll(async () => {
    await proxy.proxy.close(0)
    await upstream.close()
    await elsewhere.close()
  })

  /** `ELSEWHERE` stands for the second upstream's port, filled in once it listens. */
  const corpus: Array<readonly [string, string, number]> = [
    ...HOSTILE_HEADS,
    ['a chunk size that is not hex', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n`, 400],
    ['a chunk size that overflows', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\nhello\r\n0\r\n\r\n`, 400],
    ['asterisk-form', `OPTIONS * HTTP/1.1\r\n${H}\r\n`, 400],
    ['absolute-form with another scheme', `GET ftp://127.0.0.1:ELSEWHERE/x HTTP/1.1\r\n${H}\r\n`, 400],
    ['CONNECT', 'CONNECT 127.0.0.1:ELSEWHERE HTTP/1.1\r\nHost: 127.0.0.1:ELSEWHERE\r\n\r\n', 405],
    ['a Content-Length over limits.maxBodySize', `POST / HTTP/1.1\r\n${H}Content-Length: 5000\r\n\r\n`, 413],
    [
      'Expect: 100-continue over limits.maxBodySize',
      `POST / HTTP/1.1\r\n${H}Content-Length: 5000\r\nExpect: 100-continue\r\n\r\n`,
      413,
    ],
  ]

  it.each(corpus)('%s', async (_name, bytes, status) => {
    const before = upstream.requests.length
    const reply = await raw(proxy.port, bytes.replaceAll('ELSEWHERE', String(elsewhere.port)))
    expect(reply.status).toBe(status)
    expect(reply.head.connection).toBe('close')
    expect(reply.closed).toBe(true)
    expect(reply.text).not.toContain('100 Continue')
    const body = JSON.parse(reply.body) as { statusCode: number; code: string; message: string }
    expect(body.statusCode).toBe(status)
    expect(body.code).toMatch(/^SY_ERR_/)
    expect(reply.body.length).toBeLessThan(300)
    if (status === 405) expect(reply.head.allow).toContain('GET')
    // Nothing was forwarded, not even the start of a request.
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(upstream.requests.length).toBe(before)
    expect(elsewhere.requests).toHaveLength(0)
  })

  it('routes absolute-form to our target (its path only), never to the host the client names', async () => {
    const before = upstream.requests.length
    const reply = await raw(proxy.port, `GET http://127.0.0.1:${elsewhere.port}/secret?q=1 HTTP/1.1\r\n${H}Connection: close\r\n\r\n`)
    expect(reply.status).toBe(200)
    expect(upstream.requests).toHaveLength(before + 1)
    expect(upstream.requests.at(-1)).toMatchObject({ method: 'GET', url: '/secret?q=1' })
    expect(elsewhere.requests).toHaveLength(0)
  })

  it('still serves an ordinary request after the corpus', async () => {
    const reply = await send(proxy.url, { path: '/ok', headers: { 'x-user-id': 'u1' } })
    expect(reply.status).toBe(200)
    expect(reply.headers['x-switchyard-color']).toBe('blue')
  })
})

describe('limits.maxBodySize on streamed bodies', () => {
  it('cuts a chunked body that passes the limit and answers 413 (or closes); the upstream never gets it whole', async () => {
    const bodies: number[] = []
    const upstream = await startUpstream('blue', async (req, res) => {
      let seen = 0
      req.on('data', (chunk: Buffer) => (seen += chunk.length))
      req.on('error', () => undefined)
      req.on('close', () => bodies.push(seen))
      await new Promise((resolve) => req.on('end', resolve))
      res.end('took it all')
    })
    const proxy = await startHostileProxy(upstream.url, { maxBodySize: 1000 })
    try {
      const chunk = `${(600).toString(16)}\r\n${'x'.repeat(600)}\r\n`
      const reply = await raw(proxy.port, `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n${chunk}${chunk}${chunk}0\r\n\r\n`)
      expect(reply.closed).toBe(true)
      if (reply.status !== 0) {
        expect(reply.status).toBe(413)
        expect(reply.head.connection).toBe('close')
      }
      expect(reply.text).not.toContain('took it all')
      expect(proxy.sink.outcomes()[0]).toEqual({ color: 'blue', status: 413, errorKind: undefined })
      await new Promise((resolve) => setTimeout(resolve, 100))
      for (const seen of bodies) expect(seen).toBeLessThan(1800)
      // A body under the limit still streams through.
      const ok = await send(proxy.url, { method: 'POST', body: 'x'.repeat(900), headers: { 'transfer-encoding': 'chunked' } })
      expect(ok.status).toBe(200)
    } finally {
      await proxy.proxy.close(0)
      await upstream.close()
    }
  })
})

describe('timeouts.header', () => {
  it('disconnects a client that trickles its headers (slow-loris) with 408', async () => {
    const upstream = await startUpstream('blue')
    const proxy = await startHostileProxy(upstream.url, {}, 400)
    try {
      const started = Date.now()
      const socket = net.connect(proxy.port, '127.0.0.1')
      socket.on('error', () => undefined)
      const chunks: Buffer[] = []
      socket.on('data', (chunk: Buffer) => chunks.push(chunk))
      socket.write(`GET / HTTP/1.1\r\n${H}`)
      const trickle = setInterval(() => socket.write('X-Slow: 1\r\n'), 100)
      const closed = await new Promise<boolean>((resolve) => {
        socket.on('close', () => resolve(true))
        setTimeout(() => resolve(false), 10_000)
      })
      clearInterval(trickle)
      expect(closed).toBe(true)
      expect(Date.now() - started).toBeLessThan(8_000)
      const text = Buffer.concat(chunks).toString('latin1')
      expect(text).toMatch(/^HTTP\/1\.1 408 /)
      expect(text).toContain('Connection: close')
      expect(upstream.requests).toHaveLength(0)
    } finally {
      await proxy.proxy.close(0)
      await upstream.close()
    }
  })
})
