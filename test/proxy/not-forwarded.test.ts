/**
 * Requests every parser takes but a reverse proxy must not forward, on both engines and as
 * WebSocket handshakes too: TRACE (405 with Allow, as nginx: the upstream would echo cookies back
 * to a script), a target with a `#fragment` (400, as Envoy: the path routed on and the path
 * served could differ), and on a handshake the head checks requests get (Host, Connection).
 * A raw upstream records every byte, so "never forwarded" is checked, not assumed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseResponses, rawConnect, recordingUpstream, type RecordingUpstream } from '../helpers/raw-http.js'
import { startProxy, type TestProxy } from '../helpers/upstream-proxy-harness.js'

interface Reply {
  readonly status: number
  readonly head: Readonly<Record<string, string>>
  readonly body: string
  readonly text: string
}

/** Sends `bytes` on a fresh connection; the first answer once the proxy closed it (or, after a 101, once one came). */
async function exchange(port: number, bytes: string): Promise<Reply> {
  const connection = await rawConnect(port, Buffer.from(bytes, 'latin1'))
  const switched = new Promise<void>((resolve) => {
    connection.socket.on('data', () => {
      if (/^HTTP\/1\.1 101 [^]*\r\n\r\n/.test(connection.text())) resolve()
    })
  })
  const timer = setTimeout(() => connection.socket.destroy(), 10_000)
  await Promise.race([connection.closed, switched])
  clearTimeout(timer)
  connection.socket.destroy()
  const text = connection.text()
  if (text.startsWith('HTTP/1.1 101 ')) return { status: 101, head: {}, body: '', text }
  const [first] = parseResponses(text)
  return { status: first?.status ?? 0, head: first?.head ?? {}, body: first?.body ?? '', text }
}

const UPGRADE = 'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n'

describe.each(['sockets', 'node'] as const)('what no parser refuses but a proxy must not forward (%s engine)', (engine) => {
  let proxy: TestProxy
  let upstream: RecordingUpstream
  /** Every request head the upstream got, in order. */
  let heads: string[]

  beforeAll(async () => {
    upstream = await recordingUpstream((head, socket) => {
      if (/^upgrade: websocket/im.test(head)) socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n')
      else socket.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')
    })
    heads = upstream.heads
    proxy = await startProxy({ blue: [upstream.url], green: [upstream.url], engine })
  })

  afterAll(async () => {
    await proxy?.close()
    await upstream?.close()
  })

  it('TRACE: 405 naming it, with Allow, never forwarded; as a request and as a handshake', async () => {
    heads.length = 0
    for (const bytes of ['TRACE / HTTP/1.1\r\nHost: app.test\r\nCookie: session=secret\r\n\r\n', `TRACE /ws HTTP/1.1\r\nHost: app.test\r\n${UPGRADE}\r\n`]) {
      const reply = await exchange(proxy.port, bytes)
      expect(reply.status, bytes).toBe(405)
      expect(reply.head.allow).toMatch(/^GET, HEAD, POST/)
      expect(reply.head.allow).not.toMatch(/TRACE|CONNECT/)
      const body = JSON.parse(reply.body) as { code: string; message: string }
      expect(body.code).toBe('SY_ERR_METHOD_NOT_ALLOWED')
      expect(body.message).toContain('TRACE')
    }
    expect(heads).toEqual([])
  })

  it('a target with a fragment: 400 naming it, never forwarded; in origin- and absolute-form, with a body, as a handshake', async () => {
    heads.length = 0
    const cases = [
      'GET /a#b HTTP/1.1\r\nHost: app.test\r\n\r\n',
      'GET /#/../admin HTTP/1.1\r\nHost: app.test\r\n\r\n',
      'GET /a?q=1#b HTTP/1.1\r\nHost: app.test\r\n\r\n',
      'GET http://app.test/a#b HTTP/1.1\r\nHost: app.test\r\n\r\n',
      'POST /a# HTTP/1.1\r\nHost: app.test\r\nContent-Length: 5\r\n\r\nhello',
      `GET /ws#x HTTP/1.1\r\nHost: app.test\r\n${UPGRADE}\r\n`,
    ]
    for (const bytes of cases) {
      const reply = await exchange(proxy.port, bytes)
      expect(reply.status, bytes).toBe(400)
      const body = JSON.parse(reply.body) as { code: string; message: string }
      expect(body.code, bytes).toBe('SY_ERR_MALFORMED_REQUEST')
      expect(body.message, bytes).toContain('fragment')
    }
    expect(heads).toEqual([])
  })

  it('a handshake gets the head checks a request gets: 400, never forwarded', async () => {
    heads.length = 0
    const cases = [
      `GET /ws HTTP/1.1\r\nHost: app.test\r\nHost: internal\r\n${UPGRADE}\r\n`,
      `GET /ws HTTP/1.1\r\nHost: a b\r\n${UPGRADE}\r\n`,
      `GET /ws HTTP/1.1\r\n${UPGRADE}\r\n`,
      `GET /ws HTTP/1.1\r\nHost: app.test\r\nConnection: Host\r\n${UPGRADE}\r\n`,
      `GET /ws HTTP/1.1\r\nHost: app.test\r\nContent_Length: 5\r\n${UPGRADE}\r\n`,
    ]
    for (const bytes of cases) expect((await exchange(proxy.port, bytes)).status, bytes).toBe(400)
    expect(heads).toEqual([])
  })

  it('what is valid still goes through: a query, an encoded #, a handshake, an absolute-form handshake by its path', async () => {
    heads.length = 0
    expect((await exchange(proxy.port, 'GET /a?q=%23b HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n')).status).toBe(200)
    expect((await exchange(proxy.port, 'OPTIONS /a HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n')).status).toBe(200)
    expect((await exchange(proxy.port, `GET /ws?room=1 HTTP/1.1\r\nHost: app.test\r\n${UPGRADE}\r\n`)).status).toBe(101)
    expect((await exchange(proxy.port, `GET http://other.test/ws HTTP/1.1\r\nHost: app.test\r\n${UPGRADE}\r\n`)).status).toBe(101)
    // HTTP/1.0 needs no Host: the named authority is the only one.
    expect((await exchange(proxy.port, `GET http://other.test/ws HTTP/1.0\r\n${UPGRADE}\r\n`)).status).toBe(101)
    expect(heads.map((head) => head.slice(0, head.indexOf('\r\n')))).toEqual(['GET /a?q=%23b HTTP/1.1', 'OPTIONS /a HTTP/1.1', 'GET /ws?room=1 HTTP/1.1', 'GET /ws HTTP/1.1', 'GET /ws HTTP/1.1'])
    // The authority an absolute-form target names replaces Host, as for any request (RFC 9112 §3.2.2).
    for (const head of heads.slice(3)) expect(head.match(/^host: .*$/gim)).toEqual(['host: other.test'])
  })
})
