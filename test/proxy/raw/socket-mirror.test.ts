/**
 * Mirroring on the socket engine: a sampled request stays on the client's connection and on
 * blue's pooled upstream socket (no hand-over to node's engine); blue's answer is captured as it
 * streams, a chunked one by its data, so it compares with green's however either was framed.
 */
import type { ServerResponse } from 'node:http'
import { afterEach, describe, expect, it } from 'vitest'
import { admin, startTestApp, testConfig } from '../../helpers/app.js'
import { parseResponses, rawConnect } from '../../helpers/raw-http.js'
import { readBody, startUpstream, type UpstreamHandler } from '../../helpers/upstream-server.js'
import { eventually, until } from '../../helpers/wait.js'
import { metric, pairsAtLeast, SHADOW } from '../../mirror/helpers.js'

const opened: { close(): Promise<void> }[] = []
afterEach(async () => {
  for (const thing of opened.splice(0).reverse()) await thing.close()
})

/** An order; `chunked`: written in pieces (no length), else in one with its length. */
function order(total: number, chunked: boolean): UpstreamHandler {
  return async (req, res: ServerResponse) => {
    const sent = req.method === 'POST' ? (await readBody(req)).toString() : null
    const body = JSON.stringify({ id: 42, total, path: req.url, sent })
    res.setHeader('content-type', 'application/json')
    res.setHeader('set-cookie', ['a=1', 'b=2'])
    if (!chunked) {
      res.setHeader('content-length', Buffer.byteLength(body))
      res.end(body)
      return
    }
    const third = Math.floor(body.length / 3)
    res.write(body.slice(0, third))
    res.write(body.slice(third, 2 * third))
    res.end(body.slice(2 * third))
  }
}

describe('mirroring on the socket engine', () => {
  it('keeps the client connection and blue pooled socket, compares a chunked answer by its data, and sends green the body', async () => {
    const blue = await startUpstream('blue', order(10, true))
    // Green differs only on /differs.
    const green = await startUpstream('green', (req, res, up) => order(req.url === '/differs' ? 11 : 10, false)(req, res, up))
    opened.push(blue, green)
    const config = await testConfig([blue.url], [green.url], {
      proxy: { host: '127.0.0.1', port: 0, engine: 'sockets' },
      sticky: { keys: ['header:x-user-id'], cookie: '' },
      mirror: { percent: 0, methods: ['GET', 'POST'], compare: { latencyFactor: 1000 } },
      autoRevert: { enabled: false },
    })
    const app = await startTestApp(config)
    opened.push(app)
    const port = Number(new URL(app.proxyUrl).port)

    // A request before mirroring starts leaves blue one pooled upstream connection.
    const conn = await rawConnect(port, 'GET /warm HTTP/1.1\r\nHost: a\r\nx-user-id: u1\r\n\r\n')
    await until(() => parseResponses(conn.text()).some((r) => r.complete))
    expect((await admin(app, 'PUT', '/v1/mirror', { percent: 100 })).status).toBe(200)
    const requests = [
      'GET /same HTTP/1.1\r\nHost: a\r\nx-user-id: u1\r\n\r\n',
      'POST /pay HTTP/1.1\r\nHost: a\r\nx-user-id: u1\r\nContent-Length: 11\r\n\r\nhello=world',
      'GET /differs HTTP/1.1\r\nHost: a\r\nx-user-id: u1\r\n\r\n',
    ]
    for (const [i, request] of requests.entries()) {
      conn.socket.write(request)
      await until(() => parseResponses(conn.text()).filter((r) => r.complete).length > i + 1)
    }
    const answers = parseResponses(conn.text()).slice(1)
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200])
    expect(answers.map((r) => r.head['transfer-encoding'])).toEqual(['chunked', 'chunked', 'chunked'])
    expect(JSON.parse(answers[1]!.body)).toMatchObject({ total: 10, sent: 'hello=world' })
    conn.socket.destroy()

    // HTTP/1.0: blue's chunks are unwrapped for the client and for the capture alike.
    const old = await rawConnect(port, 'GET /same HTTP/1.0\r\nHost: a\r\nx-user-id: u1\r\n\r\n')
    expect(await old.closed).toBe('fin')
    expect(JSON.parse(parseResponses(old.text())[0]!.body)).toMatchObject({ total: 10, path: '/same' })

    const report = await pairsAtLeast(app, 4)
    expect(report).toMatchObject({ pairs: 4, differing: 1 })
    expect(report.routes[0]!.paths.map((p) => p.path)).toEqual(['$.total'])
    expect(await metric(app, 'switchyard_mirror_requests_total', 'result="compared"')).toBe(4)
    // Carried here, not by node's engine (whose undici pool would open its own upstream connection).
    expect(new Set(blue.requests.map((r) => r.socketIndex))).toEqual(new Set([0]))
    const shadows = green.requests.filter((r) => r.headers[SHADOW] === '1')
    // Green echoed the body it got: had it not been 'hello=world', $.sent would differ too.
    expect(shadows.map((r) => `${r.method} ${r.url}`)).toEqual(['GET /same', 'POST /pay', 'GET /differs', 'GET /same'])
  })

  it('drops the shadow of a client that leaves mid-answer, and counts it cancelled', async () => {
    let started!: () => void
    const streaming = new Promise<void>((resolve) => (started = resolve))
    const blue = await startUpstream('blue', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.write('{"id":')
      started()
    })
    const green = await startUpstream('green', order(1, false))
    opened.push(blue, green)
    const config = await testConfig([blue.url], [green.url], {
      proxy: { host: '127.0.0.1', port: 0, engine: 'sockets' },
      sticky: { keys: ['header:x-user-id'], cookie: '' },
      mirror: { percent: 100 },
      autoRevert: { enabled: false },
    })
    const app = await startTestApp(config)
    opened.push(app)
    const conn = await rawConnect(Number(new URL(app.proxyUrl).port), 'GET /slow HTTP/1.1\r\nHost: a\r\nx-user-id: u2\r\n\r\n')
    await streaming
    await until(() => conn.text().includes('{"id":'))
    conn.socket.destroy()
    await eventually(async () => (await metric(app, 'switchyard_mirror_requests_total', 'result="cancelled"')) === 1)
    expect((await admin(app, 'GET', '/v1/mirror/report')).body).toMatchObject({ pairs: 0 })
  })
})
