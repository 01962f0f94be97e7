/**
 * Plain client connections of the socket engine read into the one buffer every plain socket
 * reads into (raw/read-buffer.ts), so the next read anywhere overwrites it. What a connection
 * keeps past its read must be a copy: a head not whole yet, a pipelined request waiting its
 * turn, a body waiting for an upstream socket, the first bytes after a hand-over. Each case
 * has other connections read (and upstream answers come in) in between, then checks that what
 * reached the upstream is what the client sent.
 */
import { createHash } from 'node:crypto'
import http from 'node:http'
import type { Duplex } from 'node:stream'
import { afterEach, describe, expect, it } from 'vitest'
import { parseResponses, rawConnect, type RawConnection } from '../../helpers/raw-http.js'
import { startProxy, type TestProxy } from '../../helpers/upstream-proxy-harness.js'
import { echo, gate, startUpstream, type Echo, type Upstream } from '../../helpers/upstream-server.js'
import { until } from '../../helpers/wait.js'

let proxy: TestProxy | undefined
const upstreams: Upstream[] = []
const clients: RawConnection[] = []

afterEach(async () => {
  for (const client of clients.splice(0)) client.socket.destroy()
  await proxy?.close()
  for (const upstream of upstreams.splice(0)) await upstream.close()
  proxy = undefined
})

/** A value long enough to fill what another read would overwrite. */
const MARK = 'm'.repeat(300)

async function connect(port: number, bytes?: string): Promise<RawConnection> {
  const client = await rawConnect(port, bytes)
  clients.push(client)
  return client
}

/** The echoed requests of the first `count` complete answers on `client`. */
async function echoes(client: RawConnection, count: number): Promise<Echo[]> {
  const complete = (): ReturnType<typeof parseResponses> => {
    try {
      return parseResponses(client.text()).filter((r) => r.complete)
    } catch {
      return []
    }
  }
  await until(() => complete().length >= count)
  return complete()
    .slice(0, count)
    .map((r) => {
      expect(r.status).toBe(200)
      return JSON.parse(r.body) as Echo
    })
}

/**
 * Whole requests on their own connections, answered: their reads (and their answers') land in
 * the shared buffer. Their bodies (70 kB) fill all of it.
 */
async function otherTraffic(port: number, color = 'blue'): Promise<void> {
  const body = 'o'.repeat(70_000)
  for (let i = 0; i < 3; i++) {
    const other = await connect(port, `POST /other-${i} HTTP/1.1\r\nHost: b\r\nx-switchyard-color: ${color}\r\nContent-Length: ${body.length}\r\n\r\n${body}`)
    const [answer] = await echoes(other, 1)
    expect(answer!.url).toBe(`/other-${i}`)
    expect(answer!.body).toBe(body)
  }
}

describe('client reads into the shared buffer (socket engine)', () => {
  it('keeps a head that is not whole yet while other connections are read', async () => {
    const upstream = await startUpstream('blue')
    upstreams.push(upstream)
    proxy = await startProxy({ blue: [upstream.url], green: [upstream.url], engine: 'sockets' })
    const client = await connect(proxy.port, `GET /the-first-part HTTP/1.1\r\nHost: a\r\nx-mark: ${MARK}\r\n`)
    await otherTraffic(proxy.port)
    client.socket.write(`x-last: end\r\n\r\n`)
    const [answer] = await echoes(client, 1)
    expect(answer!.url).toBe('/the-first-part')
    expect(answer!.headers['x-mark']).toBe(MARK)
    expect(answer!.headers['x-last']).toBe('end')
  })

  it('keeps a pipelined request while the answer before it is out', async () => {
    const slow = gate()
    const upstream = await startUpstream('blue', async (req, res, self) => {
      if (req.url === '/slow') await slow.promise
      await echo(req, res, self)
    })
    upstreams.push(upstream)
    proxy = await startProxy({ blue: [upstream.url], green: [upstream.url], engine: 'sockets' })
    const client = await connect(proxy.port, `GET /slow HTTP/1.1\r\nHost: a\r\n\r\nGET /next-in-line HTTP/1.1\r\nHost: a\r\nx-mark: ${MARK}\r\n\r\n`)
    await until(() => upstream.requests.some((r) => r.url === '/slow'))
    await otherTraffic(proxy.port)
    slow.open()
    const [first, second] = await echoes(client, 2)
    expect(first!.url).toBe('/slow')
    expect(second!.url).toBe('/next-in-line')
    expect(second!.headers['x-mark']).toBe(MARK)
  })

  it('keeps a body that waits for an upstream connection', async () => {
    const slow = gate()
    const blue = await startUpstream('blue', async (req, res, self) => {
      if (req.url === '/slow') await slow.promise
      await echo(req, res, self)
    })
    const green = await startUpstream('green')
    upstreams.push(blue, green)
    // One connection to blue, held by /slow: the upload's body waits in the proxy for it.
    proxy = await startProxy({ blue: [blue.url], green: [green.url], engine: 'sockets', limits: { maxConnectionsPerTarget: 1 } })
    await connect(proxy.port, 'GET /slow HTTP/1.1\r\nHost: a\r\nx-switchyard-color: blue\r\n\r\n')
    await until(() => blue.requests.some((r) => r.url === '/slow'))
    const body = Array.from({ length: 40 }, (_, i) => `line ${i} of the upload;`).join('')
    const client = await connect(proxy.port, `POST /upload HTTP/1.1\r\nHost: a\r\nx-switchyard-color: blue\r\nContent-Length: ${body.length}\r\n\r\n${body}`)
    // Green answers: these reads come while the upload waits.
    await otherTraffic(proxy.port, 'green')
    expect(blue.requests.some((r) => r.url === '/upload')).toBe(false)
    slow.open()
    const [answer] = await echoes(client, 1)
    expect(answer!.url).toBe('/upload')
    expect(answer!.body).toBe(body)
  })

  it('keeps the bytes that followed an Upgrade head until the upstream switched', async () => {
    const switched = gate()
    const upstream = await startUpstream('blue')
    upstreams.push(upstream)
    let received = ''
    let asked = false
    upstream.server.on('upgrade', (_req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      asked = true
      received += head.toString('latin1')
      socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')))
      void switched.promise.then(() => socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: byte-echo\r\n\r\n'))
    })
    proxy = await startProxy({ blue: [upstream.url], green: [upstream.url], engine: 'sockets' })
    // Not a WebSocket: the tunnel passes the bytes as they are, without reading frames.
    const first = `the first bytes of the tunnel ${MARK}`
    const client = await connect(proxy.port, `GET /tunnel HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: byte-echo\r\n\r\n${first}`)
    await until(() => asked)
    await otherTraffic(proxy.port)
    switched.open()
    await until(() => client.text().startsWith('HTTP/1.1 101') && received === first)
    expect(received).toBe(first)
  })

  it('passes an upload through whole while its writes upstream wait', async () => {
    const reading = gate()
    const upstream = await startUpstream('blue', async (req, res, self) => {
      if (req.url !== '/big') return echo(req, res, self)
      // Nothing is read until the gate opens: the proxy's writes upstream back up and wait.
      req.pause()
      await reading.promise
      const hash = createHash('sha256')
      let length = 0
      for await (const chunk of req) {
        hash.update(chunk as Buffer)
        length += (chunk as Buffer).length
      }
      res.end(JSON.stringify({ length, sha256: hash.digest('hex') }))
    })
    upstreams.push(upstream)
    proxy = await startProxy({ blue: [upstream.url], green: [upstream.url], engine: 'sockets' })
    // More than the socket buffers on the way hold (the kernel's own limits: ~6 MiB to read, ~4 MiB to write, per socket).
    const body = Buffer.alloc(32 * 1024 * 1024)
    for (let i = 0; i < body.length; i++) body[i] = (i * 7 + (i >> 9)) & 0xff
    const expected = createHash('sha256').update(body).digest('hex')
    const req = http.request(`${proxy.url}/big`, { method: 'POST', headers: { 'content-length': body.length } })
    const answer = new Promise<string>((resolve, reject) => {
      req.on('response', (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (piece: string) => (text += piece))
        res.on('end', () => resolve(text))
      })
      req.on('error', reject)
    })
    req.end(body)
    // The client is held back: the proxy stopped reading it, its last write upstream waiting.
    await until(() => upstream.requests.some((r) => r.url === '/big') && (req.socket?.writableLength ?? 0) > 0, 10_000)
    await otherTraffic(proxy.port)
    reading.open()
    expect(JSON.parse(await answer)).toEqual({ length: body.length, sha256: expected })
  }, 30_000)
})
