import type { IncomingMessage } from 'node:http'
import { afterEach, describe, expect, it } from 'vitest'
import { WebSocket, WebSocketServer, type RawData } from 'ws'
import { Resources, startProxy } from '../helpers/upstream-proxy-harness.js'
import { closedPort, readBody, startUpstream, type Upstream } from '../helpers/upstream-server.js'
import { sleep, until } from '../helpers/wait.js'

const resources = new Resources()
afterEach(() => resources.closeAll())

/** An upstream whose WebSocket server echoes each message prefixed with its name. */
async function wsUpstream(name: string): Promise<Upstream & { wss: WebSocketServer; headers: IncomingMessage['headers'][] }> {
  const upstream = await startUpstream(name)
  const wss = new WebSocketServer({ server: upstream.server })
  const headers: IncomingMessage['headers'][] = []
  wss.on('connection', (socket, req) => {
    headers.push(req.headers)
    socket.on('message', (data, isBinary) => socket.send(isBinary ? data : `${name}:${text(data)}`))
  })
  return {
    ...upstream,
    wss,
    headers,
    close: async () => {
      for (const client of wss.clients) client.terminate()
      await new Promise<void>((resolve) => wss.close(() => resolve()))
      await upstream.close()
    },
  }
}

interface Opened {
  readonly socket: WebSocket
  readonly upgrade: IncomingMessage
}

function open(url: string, headers: Record<string, string> = {}): Promise<Opened> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers })
    let upgrade: IncomingMessage | undefined
    socket.on('upgrade', (res) => (upgrade = res))
    socket.on('open', () => resolve({ socket, upgrade: upgrade! }))
    socket.on('error', reject)
    socket.on('unexpected-response', (_req, res) => reject(new Error(`unexpected ${res.statusCode}`)))
  })
}

function unexpected(url: string, headers: Record<string, string> = {}): Promise<{ res: IncomingMessage; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers })
    socket.on('open', () => reject(new Error('opened')))
    socket.on('error', () => undefined)
    socket.on('unexpected-response', (_req, res) => {
      void readBody(res).then((body) => resolve({ res, body: body.toString('utf8') }), reject)
    })
  })
}

function text(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8')
  return Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.from(new Uint8Array(data)).toString('utf8')
}

function nextMessage(socket: WebSocket): Promise<string> {
  return new Promise((resolve) => socket.once('message', (data: RawData) => resolve(text(data))))
}

function closed(socket: WebSocket): Promise<number> {
  return new Promise((resolve) => socket.once('close', (code) => resolve(code)))
}

describe('WebSocket', () => {
  it('tunnels to the overridden colour and marks the 101 with it', async () => {
    const blue = resources.add(await wsUpstream('blue'))
    const green = resources.add(await wsUpstream('green'))
    const proxy = resources.add(await startProxy({ blue: [blue.url], green: [green.url] }))
    const wsUrl = `ws://127.0.0.1:${proxy.port}/chat?room=1`

    const { socket, upgrade } = await open(wsUrl, { 'x-switchyard-color': 'green', 'x-user-id': 'u1' })
    expect(upgrade.statusCode).toBe(101)
    expect(upgrade.headers['x-switchyard-color']).toBe('green')
    expect(upgrade.headers.upgrade?.toLowerCase()).toBe('websocket')
    expect(upgrade.headers['sec-websocket-accept']).toBeDefined()
    expect(green.headers[0]?.['x-forwarded-for']).toBe('127.0.0.1')

    socket.send('hello')
    expect(await nextMessage(socket)).toBe('green:hello')
    socket.send('again')
    expect(await nextMessage(socket)).toBe('green:again')
    expect(proxy.proxy.inFlight()).toEqual({ blue: 0, green: 1 })
    expect(proxy.sink.outcomes()).toEqual([{ color: 'green', status: 101, errorKind: undefined }])
    // A handshake has no first byte of a body.
    expect(proxy.sink.records[0]!.ttfbMs).toBe(-1)

    socket.close(1000, 'bye')
    expect(await closed(socket)).toBe(1000)
    const deadline = Date.now() + 2_000
    while (proxy.proxy.inFlight().green !== 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5))
    expect(proxy.proxy.inFlight()).toEqual({ blue: 0, green: 0 })
    expect(proxy.sink.records).toHaveLength(1)
  })

  it('routes by the table like HTTP and assigns the sticky cookie on the 101', async () => {
    const blue = resources.add(await wsUpstream('blue'))
    const green = resources.add(await wsUpstream('green'))
    const proxy = resources.add(await startProxy({ blue: [blue.url], green: [green.url], greenBuckets: 0 }))
    const wsUrl = `ws://127.0.0.1:${proxy.port}/`

    const first = await open(wsUrl)
    expect(first.upgrade.headers['x-switchyard-color']).toBe('blue')
    expect(first.upgrade.headers['set-cookie']?.[0]).toMatch(/^sy_sid=.+; Path=\/; Max-Age=86400; HttpOnly; SameSite=Lax$/)
    first.socket.send('x')
    expect(await nextMessage(first.socket)).toBe('blue:x')
    first.socket.terminate()

    proxy.setGreenBuckets(10_000)
    const second = await open(wsUrl, { 'x-user-id': 'u2' })
    expect(second.upgrade.headers['x-switchyard-color']).toBe('green')
    expect(second.upgrade.headers['set-cookie']).toBeUndefined()
    second.socket.send('y')
    expect(await nextMessage(second.socket)).toBe('green:y')
    second.socket.terminate()
  })

  it('forwards an upstream refusal as a plain response', async () => {
    const upstream = resources.add(
      await startUpstream('blue', (_req, res) => {
        res.writeHead(403, { 'content-type': 'text/plain' })
        res.end('no sockets for you')
      }),
    )
    const proxy = resources.add(await startProxy({ blue: [upstream.url], green: [upstream.url] }))
    const { res, body } = await unexpected(`ws://127.0.0.1:${proxy.port}/`, { 'x-user-id': 'u' })
    expect(res.statusCode).toBe(403)
    expect(res.headers['x-switchyard-color']).toBe('blue')
    expect(body).toBe('no sockets for you')
    const [outcome] = await proxy.sink.waitFor(1)
    expect(outcome).toMatchObject({ color: 'blue', status: 403, errorKind: undefined })
  })

  it('answers 502 on the raw socket when the upstream is unreachable', async () => {
    const target = `http://127.0.0.1:${await closedPort()}`
    const proxy = resources.add(await startProxy({ blue: [target], green: [target] }))
    const { res, body } = await unexpected(`ws://127.0.0.1:${proxy.port}/`, { 'x-user-id': 'u' })
    expect(res.statusCode).toBe(502)
    expect(res.headers['x-switchyard-color']).toBe('blue')
    expect(JSON.parse(body)).toMatchObject({ statusCode: 502, error: 'Bad Gateway', code: 'SY_ERR_UPSTREAM_CONNECT' })
    const [outcome] = await proxy.sink.waitFor(1)
    expect(outcome).toMatchObject({ color: 'blue', status: 502, errorKind: 'connect' })
    expect(proxy.proxy.health().blue[0]?.consecutiveFailures).toBe(1)
  })

  it('closes the client side when the upstream closes', async () => {
    const upstream = resources.add(await wsUpstream('blue'))
    const proxy = resources.add(await startProxy({ blue: [upstream.url], green: [upstream.url] }))
    const { socket } = await open(`ws://127.0.0.1:${proxy.port}/`, { 'x-user-id': 'u' })
    const code = closed(socket)
    for (const client of upstream.wss.clients) client.close(4000, 'done')
    expect(await code).toBe(4000)
  })

  it('cuts a tunnel whose client leaves what it is sent unread for timeouts.send; one that reads keeps it', async () => {
    const upstream = resources.add(await wsUpstream('blue'))
    const proxy = resources.add(await startProxy({ blue: [upstream.url], green: [upstream.url], timeouts: { send: 800 } }))
    // Each connection is sent 1 MiB messages for as long as it lasts, each once the last is out.
    const closes: Promise<void>[] = []
    upstream.wss.on('connection', (server) => {
      const piece = Buffer.alloc(1024 * 1024, 1)
      const more = (): void => {
        if (server.readyState === WebSocket.OPEN) server.send(piece, more)
      }
      more()
      closes.push(new Promise((resolve) => server.once('close', () => resolve())))
    })
    const { socket } = await open(`ws://127.0.0.1:${proxy.port}/`, { 'x-user-id': 'u' })
    socket.pause()
    // The proxy's buffers towards the client fill; no drain within 800 ms: both sides are cut.
    await until(() => closes.length === 1)
    await closes[0]
    socket.terminate()

    // A client that reads keeps its tunnel past twice the timeout, however much it is sent.
    const { socket: reader } = await open(`ws://127.0.0.1:${proxy.port}/`, { 'x-user-id': 'u' })
    let received = 0
    reader.on('message', (data: RawData) => (received += (data as Buffer).length))
    await sleep(1_800)
    expect(reader.readyState).toBe(WebSocket.OPEN)
    expect(received).toBeGreaterThan(8 * 1024 * 1024)
    reader.terminate()
  })

  it('closes with 1001 (Going Away) when a shutdown drain runs past its deadline', async () => {
    const upstream = resources.add(await wsUpstream('blue'))
    const proxy = await startProxy({ blue: [upstream.url], green: [upstream.url] })
    const { socket } = await open(`ws://127.0.0.1:${proxy.port}/`, { 'x-user-id': 'u' })
    const code = closed(socket)
    const started = Date.now()
    await proxy.proxy.close(150)
    expect(Date.now() - started).toBeGreaterThanOrEqual(100)
    expect(await code).toBe(1001)
    expect(proxy.proxy.inFlight()).toEqual({ blue: 0, green: 0 })
  })
})
