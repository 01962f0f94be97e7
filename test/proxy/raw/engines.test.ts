/**
 * `proxy.engine` from the config, both ways, through a whole switchyard: the socket engine (the
 * default) and node's (the fallback) carry the same requests the same way — split and sticky
 * cookie, a streamed chunked upload, WebSockets (which the socket engine hands to node's
 * engine), the refusal of ambiguous framing — and metrics count what each carried.
 */
import { afterEach, describe, expect, it } from 'vitest'
import WebSocket, { WebSocketServer } from 'ws'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import type { App } from '../../../src/app.js'
import { admin, startTestApp, testConfig } from '../../helpers/app.js'
import { parseResponses, rawConnect } from '../../helpers/raw-http.js'

const opened: Array<{ close(): Promise<void> | void }> = []
afterEach(async () => {
  for (const item of opened.splice(0).reverse()) await item.close()
})

/** An upstream that names its colour, echoes bodies and takes WebSockets. */
async function upstream(color: string): Promise<string> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => res.end(`${color} ${req.method} ${Buffer.concat(chunks).toString()}`))
  })
  const wss = new WebSocketServer({ server })
  wss.on('connection', (socket) => socket.on('message', (data: Buffer) => socket.send(`${color} ${data.toString()}`)))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  opened.push({
    close: () =>
      new Promise<void>((resolve) => {
        wss.close()
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  })
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

describe.each(['sockets', 'node'] as const)('proxy.engine: %s', (engine) => {
  async function start(): Promise<App> {
    const config = await testConfig([await upstream('blue')], [await upstream('green')], { proxy: { host: '127.0.0.1', port: 0, engine } })
    const app = await startTestApp(config)
    opened.push(app)
    return app
  }

  it('splits, keeps each user on one colour, streams a chunked upload, and counts it all', async () => {
    const app = await start()
    await admin(app, 'PUT', '/v1/split', { green: 50 })
    const seen = new Map<string, string>()
    for (let i = 0; i < 40; i++) {
      const res = await fetch(`${app.proxyUrl}/`, { headers: { 'x-user-id': `u${i % 20}` } })
      const color = res.headers.get('x-switchyard-color')!
      expect(await res.text()).toBe(`${color} GET `)
      const before = seen.get(`u${i % 20}`)
      if (before !== undefined) expect(color).toBe(before)
      seen.set(`u${i % 20}`, color)
    }
    expect(new Set(seen.values()).size).toBe(2)
    const conn = await rawConnect(Number(new URL(app.proxyUrl).port), 'POST /up HTTP/1.1\r\nHost: a\r\nx-switchyard-color: green\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n')
    await expect.poll(() => conn.text().includes('green POST hello')).toBe(true)
    conn.socket.destroy()
    const metrics = await (await fetch(`${app.adminUrl}/metrics`)).text()
    const total = [...metrics.matchAll(/^switchyard_requests_total\{[^}]*\} (\d+)/gm)].reduce((sum, m) => sum + Number(m[1]), 0)
    expect(total).toBe(41)
  })

  it('carries WebSockets by colour', async () => {
    const app = await start()
    const socket = new WebSocket(app.proxyUrl.replace('http', 'ws'), { headers: { 'x-switchyard-color': 'green' } })
    const reply = await new Promise<string>((resolve, reject) => {
      socket.on('open', () => socket.send('hi'))
      socket.on('message', (data: Buffer) => resolve(data.toString()))
      socket.on('error', reject)
    })
    expect(reply).toBe('green hi')
    socket.close()
  })

  it('refuses Content-Length with Transfer-Encoding with 400 and forwards nothing', async () => {
    const app = await start()
    const conn = await rawConnect(Number(new URL(app.proxyUrl).port), 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n')
    await conn.closed
    const [answer] = parseResponses(conn.text())
    expect(answer?.status).toBe(400)
    expect(answer?.head.connection).toBe('close')
  })
})
