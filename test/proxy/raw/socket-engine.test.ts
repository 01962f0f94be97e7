/**
 * What the socket engine (proxy.engine: sockets) does at the byte level that node's engine did
 * through node:http and undici: upstream keep-alive reuse, pipelining in order, bodies passed
 * through in their own framing, close-delimited answers re-framed, half-close, stale pooled
 * connections, and the hand-over of what it does not carry itself to node's engine.
 */
import { randomBytes } from 'node:crypto'
import http from 'node:http'
import net, { type AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { parseResponses, rawConnect } from '../../helpers/raw-http.js'
import { startProxy, type TestProxy } from '../../helpers/upstream-proxy-harness.js'
import { readBody, startUpstream, type Upstream } from '../../helpers/upstream-server.js'
import { until } from '../../helpers/wait.js'

let proxy: TestProxy | undefined
let upstream: Upstream | undefined
let raw: net.Server | undefined

afterEach(async () => {
  await proxy?.close()
  await upstream?.close()
  raw?.close()
  proxy = upstream = raw = undefined
})

/** A raw TCP upstream: `answer` gets everything received so far on a connection and writes what it likes. */
async function rawUpstream(answer: (socket: net.Socket, received: string) => void): Promise<{ url: string; received: string[] }> {
  const received: string[] = []
  raw = net.createServer((socket) => {
    let text = ''
    const index = received.push('') - 1
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1')
      received[index] = text
      answer(socket, text)
    })
    socket.on('error', () => undefined)
  })
  await new Promise<void>((resolve) => raw!.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${(raw.address() as AddressInfo).port}`, received }
}

/** Reads from `conn` until `count` complete responses are in. */
async function responses(conn: Awaited<ReturnType<typeof rawConnect>>, count: number) {
  await until(() => {
    try {
      return parseResponses(conn.text()).filter((r) => r.complete).length >= count
    } catch {
      return false
    }
  })
  return parseResponses(conn.text())
}

describe('the socket engine', () => {
  it('reuses one upstream connection for sequential keep-alive requests', async () => {
    upstream = await startUpstream('blue')
    proxy = await startProxy({ blue: [upstream.url], green: [upstream.url], engine: 'sockets' })
    const conn = await rawConnect(proxy.port)
    for (let i = 0; i < 20; i++) {
      conn.socket.write(`GET /n/${i} HTTP/1.1\r\nHost: a\r\n\r\n`)
      await responses(conn, i + 1)
    }
    const all = parseResponses(conn.text())
    expect(all.map((r) => r.status)).toEqual(Array(20).fill(200))
    expect(all.map((r) => (JSON.parse(r.body) as { url: string }).url)).toEqual(Array.from({ length: 20 }, (_, i) => `/n/${i}`))
    expect(new Set(upstream.requests.map((r) => r.socketIndex)).size).toBe(1)
    conn.socket.destroy()
  })

  it('answers pipelined requests in order even when the first is slowest', async () => {
    upstream = await startUpstream('blue', async (req, res) => {
      await readBody(req)
      const wait = req.url === '/slow' ? 150 : 0
      setTimeout(() => res.end(req.url), wait)
    })
    proxy = await startProxy({ blue: [upstream.url], green: [upstream.url], engine: 'sockets' })
    const conn = await rawConnect(proxy.port, 'GET /slow HTTP/1.1\r\nHost: a\r\n\r\nPOST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET /c HTTP/1.1\r\nHost: a\r\n\r\n')
    const all = await responses(conn, 3)
    expect(all.map((r) => r.body)).toEqual(['/slow', '/b', '/c'])
    conn.socket.destroy()
  })

  it('passes a chunked request body through byte for byte, extensions and trailers included', async () => {
    const up = await rawUpstream((socket, text) => {
      if (text.endsWith('\r\n0\r\nx-sum: 9\r\n\r\n')) socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok')
    })
    proxy = await startProxy({ blue: [up.url], green: [up.url], engine: 'sockets' })
    const body = '4;name=v\r\nwiki\r\n5\r\npedia\r\n0\r\nx-sum: 9\r\n\r\n'
    const conn = await rawConnect(proxy.port, `POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n${body.slice(0, 7)}`)
    await until(() => up.received[0]?.includes('4;na') === true)
    conn.socket.write(body.slice(7))
    const [answer] = await responses(conn, 1)
    expect(answer?.body).toBe('ok')
    expect(up.received[0]).toMatch(/^POST \/up HTTP\/1\.1\r\n/)
    expect(up.received[0]!.endsWith(`\r\n\r\n${body}`)).toBe(true)
    expect(up.received[0]).toContain('transfer-encoding: chunked\r\n')
    conn.socket.destroy()
  })

  it('keeps large answers byte for byte while one client stalls and others stream (upstream reads share one buffer)', async () => {
    const big = randomBytes(12 << 20)
    const small = [randomBytes(3 << 20), randomBytes(3 << 20)]
    let blocked = false
    upstream = await startUpstream('blue', (req, res) => {
      if (req.url !== '/big') {
        res.end(small[Number(req.url!.slice(1))])
        return
      }
      let at = 0
      const pump = (): void => {
        while (at < big.length) {
          if (!res.write(big.subarray(at, (at += 64 * 1024)))) {
            blocked = true
            res.once('drain', pump)
            return
          }
        }
        res.end()
      }
      pump()
    })
    proxy = await startProxy({ blue: [upstream.url], green: [upstream.url], engine: 'sockets' })
    const get = (path: string, onResponse?: (res: http.IncomingMessage) => void) =>
      new Promise<Buffer>((resolve, reject) => {
        http.get({ host: '127.0.0.1', port: proxy!.port, path, agent: false }, (res) => {
          const chunks: Buffer[] = []
          res.on('data', (chunk: Buffer) => chunks.push(chunk))
          res.on('end', () => resolve(Buffer.concat(chunks)))
          onResponse?.(res)
        }).on('error', reject)
      })
    // Pooled upstream connections first: each was told at its last read to read next into the
    // shared buffer, the one the stalled answer's queued bytes will come from.
    await Promise.all([get('/0'), get('/1'), get('/0'), get('/1')])
    let stalled: http.IncomingMessage | undefined
    const slow = get('/big', (res) => (stalled = res.pause()))
    // The stalled client's socket is full and the proxy holds bytes for it: the upstream is held back too.
    await until(() => blocked && stalled !== undefined)
    const others = await Promise.all([get('/0'), get('/1'), get('/0'), get('/1')])
    others.forEach((body, i) => expect(body.equals(small[i % 2]!)).toBe(true))
    stalled!.resume()
    expect((await slow).equals(big)).toBe(true)
  })

  it('tunnels an Upgrade byte for byte, the bytes that came with its head included', async () => {
    const switched = new WeakSet<net.Socket>()
    const up = await rawUpstream((socket, text) => {
      const end = text.indexOf('\r\n\r\n')
      if (end === -1) return
      if (!switched.has(socket)) socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: chat\r\nConnection: Upgrade\r\n\r\n')
      switched.add(socket)
      const after = text.slice(end + 4)
      if (after.endsWith('!')) socket.write(`echo:${after}`)
    })
    proxy = await startProxy({ blue: [up.url], green: [up.url], engine: 'sockets' })
    const conn = await rawConnect(proxy.port, 'GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: chat\r\nConnection: Upgrade\r\n\r\nearly,')
    await until(() => up.received[0]?.endsWith('early,') === true)
    conn.socket.write('late!')
    await until(() => conn.text().endsWith('echo:early,late!'))
    expect(conn.text()).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\n[^]*\r\n\r\necho:early,late!$/)
    expect(up.received[0]).toMatch(/^GET \/chat HTTP\/1\.1\r\n[^]*upgrade: chat\r\n/i)
    conn.socket.destroy()
  })

  it('re-frames a close-delimited answer as chunks and keeps the client connection', async () => {
    const up = await rawUpstream((socket) => {
      socket.write('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\npart one,')
      setTimeout(() => socket.end(' part two'), 20)
    })
    proxy = await startProxy({ blue: [up.url], green: [up.url], engine: 'sockets' })
    const conn = await rawConnect(proxy.port, 'GET /a HTTP/1.1\r\nHost: a\r\n\r\n')
    const [first] = await responses(conn, 1)
    expect(first?.head['transfer-encoding']).toBe('chunked')
    expect(first?.body).toBe('part one, part two')
    conn.socket.write('GET /b HTTP/1.1\r\nHost: a\r\n\r\n')
    const all = await responses(conn, 2)
    expect(all[1]?.body).toBe('part one, part two')
    conn.socket.destroy()
  })

  it('frames HEAD, 204 and 304 answers without a body and goes on to the next request', async () => {
    upstream = await startUpstream('blue', (req, res) => {
      if (req.url === '/204') res.writeHead(204).end()
      else if (req.url === '/304') res.writeHead(304, { etag: '"x"' }).end()
      else res.writeHead(200, { 'content-length': 5 }).end(req.method === 'HEAD' ? undefined : 'hello')
    })
    proxy = await startProxy({ blue: [upstream.url], green: [upstream.url], engine: 'sockets' })
    const conn = await rawConnect(proxy.port, 'HEAD /h HTTP/1.1\r\nHost: a\r\n\r\nGET /204 HTTP/1.1\r\nHost: a\r\n\r\nGET /304 HTTP/1.1\r\nHost: a\r\n\r\nGET /last HTTP/1.1\r\nHost: a\r\n\r\n')
    await until(() => conn.text().endsWith('hello'))
    const text = conn.text()
    expect(text.match(/^HTTP\/1\.1 \d+/gm)).toEqual(['HTTP/1.1 200', 'HTTP/1.1 204', 'HTTP/1.1 304', 'HTTP/1.1 200'])
    expect(text.split('hello').length).toBe(2)
    conn.socket.destroy()
  })

  it('takes a FIN while the answer is pending as the client leaving, as node and nginx do: 499, the upstream request cancelled', async () => {
    upstream = await startUpstream('blue', () => undefined)
    proxy = await startProxy({ blue: [upstream.url], green: [upstream.url], engine: 'sockets' })
    const conn = await rawConnect(proxy.port, 'GET / HTTP/1.1\r\nHost: a\r\n\r\n')
    await until(() => upstream!.requests.length === 1)
    conn.socket.end()
    await upstream.requests[0]!.cancelled
    await proxy.sink.waitFor(1)
    expect(proxy.sink.outcomes()).toEqual([{ color: 'blue', status: 499, errorKind: 'client' }])
  })

  it('sends a body-less request again on a fresh connection when the pooled one was closed by the upstream', async () => {
    let answered = 0
    const up = await rawUpstream((socket, text) => {
      // Claims keep-alive, then closes right after the answer: the next request finds the pooled socket dead.
      if (text.endsWith('\r\n\r\n')) {
        answered++
        socket.end(`HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\n${answered % 10}`)
      }
    })
    proxy = await startProxy({ blue: [up.url], green: [up.url], engine: 'sockets' })
    const conn = await rawConnect(proxy.port)
    for (let i = 0; i < 10; i++) {
      conn.socket.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n')
      await responses(conn, i + 1)
    }
    expect(parseResponses(conn.text()).map((r) => r.status)).toEqual(Array(10).fill(200))
    conn.socket.destroy()
  })

  it('keeps obs-text bytes in header values byte for byte, both ways (heads are latin1 on the wire)', async () => {
    const up = await rawUpstream((socket, text) => {
      if (text.endsWith('\r\n\r\n')) socket.write(Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\nx-name: caf'), Buffer.from([0xe9]), Buffer.from('\r\ncontent-length: 2\r\n\r\nok')]))
    })
    proxy = await startProxy({ blue: [up.url], green: [up.url], engine: 'sockets' })
    const conn = await rawConnect(proxy.port, Buffer.concat([Buffer.from('GET / HTTP/1.1\r\nHost: a\r\nx-name: na'), Buffer.from([0xef, 0xff]), Buffer.from('ve\r\n\r\n')]))
    await until(() => conn.text().endsWith('ok'))
    expect(up.received[0]).toContain('x-name: na\u00ef\u00ffve\r\n')
    expect(conn.text()).toContain('x-name: caf\u00e9\r\n')
    conn.socket.destroy()
  })

  it('sends the client\'s field lines up as they came, less hop-by-hop ones; repeated fields go up joined', async () => {
    const up = await rawUpstream((socket, text) => {
      if (text.endsWith('\r\n\r\n')) socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok')
    })
    proxy = await startProxy({ blue: [up.url], green: [up.url], engine: 'sockets' })
    const sent = 'GET /p?q=1 HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 203.0.113.9\r\nKeep-Alive: 5\r\nZ-Last:  spaced  \r\nX-Request-Id: req-1\r\nConnection: keep-alive\r\nA-First: 1\r\n\r\n'
    const conn = await rawConnect(proxy.port, sent)
    await until(() => conn.text().endsWith('ok'))
    expect(up.received[0]).toBe(
      'GET /p?q=1 HTTP/1.1\r\nHost: a\r\nZ-Last:  spaced  \r\nX-Request-Id: req-1\r\nA-First: 1\r\n' +
        'x-forwarded-for: 127.0.0.1\r\nx-forwarded-proto: http\r\nx-forwarded-host: a\r\nconnection: keep-alive\r\n\r\n',
    )
    conn.socket.write('GET / HTTP/1.1\r\nHost: a\r\nAccept: x\r\naccept: y\r\nX-Request-Id: req-2\r\n\r\n')
    await until(() => up.received.join('').split('GET ').length === 3)
    const second = up.received.join('').split('GET ')[2]!
    expect(second).toContain('\r\naccept: x, y\r\n')
    expect(second).toContain('\r\nx-request-id: req-2\r\n')
    conn.socket.destroy()
  })

  it('with request ids off, passes a client\'s X-Request-Id on in its line, as sent', async () => {
    const up = await rawUpstream((socket, text) => {
      if (text.endsWith('\r\n\r\n')) socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok')
    })
    proxy = await startProxy({ blue: [up.url], green: [up.url], engine: 'sockets', requestId: false })
    const conn = await rawConnect(proxy.port, 'GET / HTTP/1.1\r\nHost: a\r\nX-Request-Id: not valid\r\nB-Field: 2\r\n\r\n')
    await until(() => conn.text().endsWith('ok'))
    expect(up.received[0]).toContain('\r\nHost: a\r\nX-Request-Id: not valid\r\nB-Field: 2\r\nx-forwarded-for: ')
    conn.socket.destroy()
  })

  it('refuses ambiguous framing with 400 and forwards nothing', async () => {
    const up = await rawUpstream(() => undefined)
    proxy = await startProxy({ blue: [up.url], green: [up.url], engine: 'sockets' })
    for (const head of [
      'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc',
      'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n',
      'POST / HTTP/1.1\r\nHost: a\r\nTransfer_Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc',
      'GET / HTTP/1.1\nHost: a\r\n\r\n',
      'GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n  folded\r\n\r\n',
    ]) {
      const conn = await rawConnect(proxy.port, head)
      await conn.closed
      expect(conn.text()).toMatch(/^HTTP\/1\.1 400 /)
    }
    expect(up.received).toEqual([])
  })

  it('carries HTTP/1.0 itself: keep-alive only when asked, a chunked answer de-chunked and ended by its close, Host filled in', async () => {
    upstream = await startUpstream('blue', (req, res) => {
      if (req.url === '/chunked') {
        res.write('one,')
        res.end('two')
        return
      }
      res.end(JSON.stringify({ url: req.url, host: req.headers.host }))
    })
    proxy = await startProxy({ blue: [upstream.url], green: [upstream.url], engine: 'sockets' })
    // A first request on the socket engine leaves one pooled upstream connection; each HTTP/1.0 request reuses it.
    const first = await rawConnect(proxy.port, 'GET /first HTTP/1.1\r\nHost: a\r\n\r\n')
    await responses(first, 1)
    first.socket.destroy()

    const kept = await rawConnect(proxy.port, 'GET /k1 HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n')
    await responses(kept, 1)
    kept.socket.write('GET /k2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n')
    const both = await responses(kept, 2)
    expect(both.map((r) => r.head.connection)).toEqual(['keep-alive', 'keep-alive'])
    expect(both.map((r) => JSON.parse(r.body) as unknown)).toEqual([
      { url: '/k1', host: 'a' },
      { url: '/k2', host: new URL(upstream.url).host },
    ])
    kept.socket.destroy()

    const chunked = await rawConnect(proxy.port, 'GET /chunked HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n')
    expect(await chunked.closed).toBe('fin')
    const [answer] = parseResponses(chunked.text())
    expect(answer!.head['transfer-encoding']).toBeUndefined()
    expect(answer!.head.connection).toBe('close')
    expect(answer!.body).toBe('one,two')

    const plain = await rawConnect(proxy.port, 'GET /plain HTTP/1.0\r\nHost: a\r\n\r\n')
    expect(await plain.closed).toBe('fin')
    expect(parseResponses(plain.text())[0]?.head.connection).toBe('close')
    expect(new Set(upstream.requests.map((r) => r.socketIndex))).toEqual(new Set([0]))
  })

  it('carries an absolute-form target (its path goes to our target, its authority replaces Host) dot paths and preview links itself', async () => {
    upstream = await startUpstream('blue')
    proxy = await startProxy({ blue: [upstream.url], green: [upstream.url], engine: 'sockets' })
    const conn = await rawConnect(proxy.port, 'GET /first HTTP/1.1\r\nHost: a\r\n\r\n')
    await responses(conn, 1)
    conn.socket.write('GET http://elsewhere.test:8080/x?q=1 HTTP/1.1\r\nHost: a\r\n\r\n')
    const [, answer] = await responses(conn, 2)
    expect(JSON.parse(answer!.body)).toMatchObject({ url: '/x?q=1', headers: { host: 'elsewhere.test:8080' } })
    // A dot path that is not a preview link is the application's, carried like any other.
    conn.socket.write('GET /.well-known/acme-challenge/t HTTP/1.1\r\nHost: a\r\n\r\n')
    const [, , dotted] = await responses(conn, 3)
    expect(JSON.parse(dotted!.body)).toMatchObject({ url: '/.well-known/acme-challenge/t' })
    // A preview link is answered here (previews are off in this proxy: 403 naming it), and the connection goes on.
    conn.socket.write('GET /.well-known/switchyard/preview?token=x HTTP/1.1\r\nHost: a\r\n\r\nGET /last HTTP/1.1\r\nHost: a\r\n\r\n')
    const [, , , preview, last] = await responses(conn, 5)
    expect(preview).toMatchObject({ status: 403, body: JSON.stringify({ statusCode: 403, message: 'preview links are off' }) })
    expect(JSON.parse(last!.body)).toMatchObject({ url: '/last' })
    // The same pooled upstream connection: the socket engine sent them, not node's.
    expect(upstream.requests.map((r) => r.socketIndex)).toEqual([0, 0, 0, 0])
    conn.socket.destroy()
  })

  it('closes a connection whose already-answered body goes silent for timeouts.body', async () => {
    upstream = await startUpstream('blue', (req, res) => void res.end(`answered ${req.url}`))
    proxy = await startProxy({ blue: [upstream.url], green: [upstream.url], engine: 'sockets', timeouts: { body: 200 } })
    const conn = await rawConnect(proxy.port, 'POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\nxxxx')
    expect((await responses(conn, 1))[0]).toMatchObject({ status: 200, body: 'answered /upload' })
    expect(await conn.closed).toBe('fin')
  })

  it('answers Expect: 100-continue itself, before the body, and sends the upstream no expectation', async () => {
    upstream = await startUpstream('blue')
    proxy = await startProxy({ blue: [upstream.url], green: [upstream.url], engine: 'sockets' })
    const warm = await rawConnect(proxy.port, 'GET /warm HTTP/1.1\r\nHost: a\r\n\r\n')
    await responses(warm, 1)
    warm.socket.destroy()
    const expecting = await rawConnect(proxy.port, 'POST /e HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n')
    await until(() => expecting.text().startsWith('HTTP/1.1 100 Continue\r\n\r\n'))
    expecting.socket.write('hi')
    await until(() => expecting.text().includes('"body":"hi"'))
    const echo = JSON.parse(parseResponses(expecting.text().slice('HTTP/1.1 100 Continue\r\n\r\n'.length))[0]!.body) as { headers: Record<string, string> }
    expect(echo.headers.expect).toBeUndefined()
    expect(new Set(upstream.requests.map((r) => r.socketIndex))).toEqual(new Set([0]))
    expecting.socket.destroy()
  })
})
