import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import WebSocket, { WebSocketServer } from 'ws'
import { admin, startTestApp, testConfig } from '../helpers/app.js'
import { startColorUpstream } from '../helpers/color-upstream.js'

const opened: { close(): Promise<void> }[] = []
afterEach(async () => {
  for (const thing of opened.splice(0).reverse()) await thing.close()
})

async function wsUpstream(name: string): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((_req, res) => res.end(name))
  const wss = new WebSocketServer({ server })
  wss.on('connection', (socket) => socket.on('message', (data) => socket.send(`${name}:${(data as Buffer).toString()}`)))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      for (const client of wss.clients) client.terminate()
      wss.close()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

describe('draining a colour', () => {
  it('a WebSocket on blue survives a switch to green 100 % until drain.deadline, then closes with 1001', async () => {
    const blue = await wsUpstream('blue')
    const green = await startColorUpstream('green')
    opened.push(blue, green)
    const app = await startTestApp(await testConfig([blue.url], [green.url], { drain: { deadline: '600ms' } }))
    opened.push(app)

    const ws = new WebSocket(`${app.proxyUrl.replace('http', 'ws')}/socket`)
    const upgraded = new Promise<string | undefined>((resolve) => ws.on('upgrade', (res) => resolve(res.headers['x-switchyard-color'] as string)))
    await new Promise<void>((resolve, reject) => {
      ws.on('open', () => resolve())
      ws.on('error', reject)
    })
    expect(await upgraded).toBe('blue')
    const messages: string[] = []
    ws.on('message', (data) => messages.push((data as Buffer).toString()))
    const closed = new Promise<{ code: number; at: number }>((resolve) => ws.on('close', (code) => resolve({ code, at: Date.now() })))

    const switchedAt = Date.now()
    expect((await admin(app, 'POST', '/v1/promote')).status).toBe(200)
    const status = (await admin(app, 'GET', '/v1/status')).body as { connections: { blue: { websockets: number } } }
    expect(status.connections.blue.websockets).toBe(1)
    ws.send('still here')
    await new Promise((r) => setTimeout(r, 300))
    expect(messages).toEqual(['blue:still here'])

    const { code, at } = await closed
    expect(code).toBe(1001)
    expect(at - switchedAt).toBeGreaterThanOrEqual(550)
    expect(at - switchedAt).toBeLessThan(3000)
    const after = (await admin(app, 'GET', '/v1/status')).body as { connections: { blue: { websockets: number } } }
    expect(after.connections.blue.websockets).toBe(0)
  })
})

describe('readiness', () => {
  it('/readyz is 200 while serving and 503 naming the reason once stopping, while /healthz stays 200', async () => {
    const blue = await wsUpstream('blue')
    const green = await startColorUpstream('green')
    opened.push(blue, green)
    const app = await startTestApp(await testConfig([blue.url], [green.url], { drain: { deadline: '800ms' } }))
    opened.push(app)
    expect(await admin(app, 'GET', '/readyz')).toMatchObject({ status: 200, body: { status: 'ready' } })

    // A WebSocket keeps the drain going, so the admin API is still up to be asked.
    const ws = new WebSocket(`${app.proxyUrl.replace('http', 'ws')}/socket`)
    await new Promise<void>((resolve, reject) => {
      ws.on('open', () => resolve())
      ws.on('error', reject)
    })
    const closed = app.close()
    expect(await admin(app, 'GET', '/readyz')).toMatchObject({ status: 503, body: { status: 'not ready', reason: expect.stringMatching(/stopping/) as unknown } })
    expect((await admin(app, 'GET', '/healthz')).status).toBe(200)
    await closed
    ws.terminate()
  })
})
