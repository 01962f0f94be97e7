import { createHash } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import net from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { WebSocket, WebSocketServer, type RawData } from 'ws'
import { parseFrameHeader } from '../../src/proxy/ws-frames.js'
import { Resources, startProxy } from '../helpers/upstream-proxy-harness.js'
import { startUpstream, type Upstream } from '../helpers/upstream-server.js'
import { sleep, until } from '../helpers/wait.js'

const resources = new Resources()
afterEach(() => resources.closeAll())

interface Closed {
  readonly code: number
  readonly reason: string
}

/** An upstream whose WebSocket server echoes text prefixed with its name and binary as is. */
interface WsUpstream extends Upstream {
  /** Close codes the upstream's side of each connection saw. */
  readonly closes: Closed[]
  /** Binary messages that arrived whole. */
  readonly intact: number[]
  /** Binary messages that arrived damaged. */
  readonly damaged: number[]
}

async function wsUpstream(name: string): Promise<WsUpstream> {
  const upstream = await startUpstream(name)
  const wss = new WebSocketServer({ server: upstream.server })
  const closes: Closed[] = []
  const damaged: number[] = []
  const whole: number[] = []
  wss.on('connection', (socket) => {
    socket.on('error', () => undefined)
    socket.on('close', (code, reason) => closes.push({ code, reason: reason.toString('utf8') }))
    socket.on('message', (data, isBinary) => {
      if (!isBinary) {
        socket.send(`${name}:${text(data)}`)
        return
      }
      const message = toBuffer(data)
      ;(intact(message) ? whole : damaged).push(message.length)
      socket.send(message)
    })
  })
  return {
    ...upstream,
    closes,
    intact: whole,
    damaged,
    close: async () => {
      for (const client of wss.clients) client.terminate()
      await new Promise<void>((resolve) => wss.close(() => resolve()))
      await upstream.close()
    },
  }
}

function toBuffer(data: RawData): Buffer {
  if (Array.isArray(data)) return Buffer.concat(data)
  return Buffer.isBuffer(data) ? data : Buffer.from(new Uint8Array(data))
}

function text(data: RawData): string {
  return toBuffer(data).toString('utf8')
}

const LARGE = 200_000

/** Message `index` of a checkable pattern: its index, then bytes that depend on index and position. */
function patterned(index: number): Buffer {
  const message = Buffer.alloc(LARGE)
  message.writeUInt32BE(index, 0)
  for (let i = 4; i < LARGE; i++) message[i] = (index + i) & 0xff
  return message
}

function intact(message: Buffer): boolean {
  if (message.length !== LARGE) return false
  const index = message.readUInt32BE(0)
  for (let i = 4; i < LARGE; i++) if (message[i] !== ((index + i) & 0xff)) return false
  return true
}

/** A client WebSocket with what it saw: the close, errors. */
interface Client {
  readonly socket: WebSocket
  readonly closed: Promise<Closed & { at: number }>
  readonly errors: Error[]
}

function open(port: number, headers: Record<string, string>): Promise<Client> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`ws://127.0.0.1:${port}/`, { headers })
    const errors: Error[] = []
    const closed = new Promise<Closed & { at: number }>((done) => {
      socket.once('close', (code, reason) => done({ code, reason: reason.toString('utf8'), at: Date.now() }))
    })
    socket.on('error', (err) => {
      errors.push(err)
      reject(err)
    })
    socket.on('open', () => resolve({ socket, closed, errors }))
  })
}

function echo(socket: WebSocket, message: string): Promise<string> {
  const answer = new Promise<string>((resolve) => socket.once('message', (data) => resolve(text(data))))
  socket.send(message)
  return answer
}


/** A WebSocket frame carrying `payload`, masked with a fixed key when `masked`. */
function encodeFrame(payload: Buffer, masked: boolean): Buffer {
  const header = Buffer.alloc(10)
  header[0] = 0x82
  header[1] = (masked ? 0x80 : 0) | 127
  header.writeBigUInt64BE(BigInt(payload.length), 2)
  if (!masked) return Buffer.concat([header, payload])
  const key = Buffer.from([0x12, 0x34, 0x56, 0x78])
  const body = Buffer.from(payload)
  for (let i = 0; i < body.length; i++) body[i] = body[i]! ^ key[i & 3]!
  return Buffer.concat([header, key, body])
}

/** The code and reason of the close frame at the start of `bytes`, and whether it was masked. */
function readClose(bytes: Buffer): { masked: boolean; code: number; reason: string } | undefined {
  const header = parseFrameHeader(bytes)
  if (header === undefined || bytes.length < header.headerLength + header.payloadLength) return undefined
  expect(header.opcode).toBe(8)
  const payload = Buffer.from(bytes.subarray(header.headerLength, header.headerLength + header.payloadLength))
  if (header.masked) {
    const key = bytes.subarray(header.headerLength - 4, header.headerLength)
    for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! ^ key[i & 3]!
  }
  return { masked: header.masked, code: payload.readUInt16BE(0), reason: payload.subarray(2).toString('utf8') }
}

const BLUE = { 'x-user-id': 'u1', 'x-switchyard-color': 'blue' }
const GREEN = { 'x-user-id': 'u2', 'x-switchyard-color': 'green' }

describe('drainColor: WebSockets', () => {
  it('keeps a tunnel open until the deadline, then closes both sides with 1001', async () => {
    const blue = resources.add(await wsUpstream('blue'))
    const green = resources.add(await wsUpstream('green'))
    const proxy = resources.add(await startProxy({ blue: [blue.url], green: [green.url] }))
    const client = await open(proxy.port, BLUE)
    const other = await open(proxy.port, GREEN)

    const started = Date.now()
    proxy.proxy.drainColor('blue', 300)
    expect(await echo(client.socket, 'before')).toBe('blue:before')
    await sleep(100)
    expect(await echo(client.socket, 'during')).toBe('blue:during')

    const closed = await client.closed
    expect(closed).toMatchObject({ code: 1001, reason: 'switchyard: colour drained' })
    expect(closed.at - started).toBeGreaterThanOrEqual(250)
    expect(closed.at - started).toBeLessThan(3_000)
    await until(() => blue.closes.length === 1)
    expect(blue.closes).toEqual([{ code: 1001, reason: 'switchyard: colour drained' }])
    expect(client.errors).toEqual([])

    // The other colour is not part of the drain.
    expect(await echo(other.socket, 'still here')).toBe('green:still here')
    await until(() => proxy.proxy.connections().blue.websockets === 0)
    expect(proxy.proxy.connections()).toEqual({
      blue: { requests: 0, streams: 0, websockets: 0 },
      green: { requests: 0, streams: 0, websockets: 1 },
    })
    other.socket.close()
  })

  it('never cuts a frame: 200 KB messages in flight both ways arrive whole, then 1001', async () => {
    const blue = resources.add(await wsUpstream('blue'))
    const proxy = resources.add(await startProxy({ blue: [blue.url], green: [blue.url] }))
    const client = await open(proxy.port, BLUE)
    const socket = client.socket

    // Keep four large messages on their way at all times, echoed back by the upstream.
    let sent = 0
    let echoed = 0
    let echoedAfterDrain = 0
    let drainStarted = false
    const damaged: number[] = []
    const send = (): void => {
      while (socket.readyState === WebSocket.OPEN && sent - echoed < 4) socket.send(patterned(sent++))
    }
    socket.on('message', (data) => {
      const message = toBuffer(data)
      if (!intact(message)) damaged.push(message.length)
      echoed++
      if (drainStarted) echoedAfterDrain++
      send()
    })
    send()
    await until(() => echoed >= 4)

    proxy.proxy.drainColor('blue', 300)
    drainStarted = true
    const closed = await client.closed
    expect(closed.code).toBe(1001)
    await until(() => blue.closes.length === 1)
    expect(blue.closes[0]?.code).toBe(1001)
    expect(damaged).toEqual([])
    expect(blue.damaged).toEqual([])
    expect(client.errors).toEqual([])
    expect(echoedAfterDrain).toBeGreaterThan(0)
  })

  it('lets a client frame that is half through finish before the upstream gets the 1001', async () => {
    const blue = resources.add(await wsUpstream('blue'))
    const proxy = resources.add(await startProxy({ blue: [blue.url], green: [blue.url] }))
    const client = net.connect(proxy.port, '127.0.0.1')
    let received = Buffer.alloc(0)
    client.on('data', (chunk: Buffer) => (received = Buffer.concat([received, chunk])))
    client.write(
      'GET / HTTP/1.1\r\nhost: x\r\nconnection: Upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\n' +
        'sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nx-user-id: u\r\n\r\n',
    )
    await until(() => received.includes('\r\n\r\n'))
    expect(received.toString('latin1')).toMatch(/^HTTP\/1.1 101/)
    received = received.subarray(received.indexOf('\r\n\r\n') + 4)

    const frame = encodeFrame(patterned(7), true)
    client.write(frame.subarray(0, 100_000))
    await sleep(50)
    const started = Date.now()
    proxy.proxy.drainColor('blue', 200)
    // Towards the client the tunnel is between frames: the close goes out at the deadline.
    await until(() => readClose(received) !== undefined)
    expect(Date.now() - started).toBeGreaterThanOrEqual(150)
    expect(readClose(received)).toEqual({ masked: false, code: 1001, reason: 'switchyard: colour drained' })
    expect(blue.closes).toEqual([])

    // Towards the upstream the rest of the frame still goes through, then the close.
    client.write(frame.subarray(100_000))
    await until(() => blue.closes.length === 1)
    expect(blue.intact).toEqual([LARGE])
    expect(blue.damaged).toEqual([])
    expect(blue.closes).toEqual([{ code: 1001, reason: 'switchyard: colour drained' }])
    client.destroy()
  })

  it('lets an upstream frame that is half through finish before the client gets the 1001', async () => {
    const upstream = resources.add(await startUpstream('blue'))
    let upstreamSocket: net.Socket | undefined
    let fromProxy = Buffer.alloc(0)
    upstream.server.on('upgrade', (req: IncomingMessage, socket: net.Socket) => {
      const accept = createHash('sha1')
        .update(`${req.headers['sec-websocket-key'] ?? ''}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
        .digest('base64')
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: ${accept}\r\n\r\n`)
      socket.on('data', (chunk: Buffer) => (fromProxy = Buffer.concat([fromProxy, chunk])))
      socket.on('error', () => undefined)
      upstreamSocket = socket
    })
    const proxy = resources.add(await startProxy({ blue: [upstream.url], green: [upstream.url] }))
    const client = await open(proxy.port, BLUE)
    const messages: Buffer[] = []
    client.socket.on('message', (data) => messages.push(toBuffer(data)))
    await until(() => upstreamSocket !== undefined)

    const frame = encodeFrame(patterned(9), false)
    upstreamSocket!.write(frame.subarray(0, 120_000))
    await sleep(50)
    const started = Date.now()
    proxy.proxy.drainColor('blue', 200)
    // Towards the upstream the tunnel is between frames: a masked close goes out at the deadline.
    await until(() => readClose(fromProxy) !== undefined)
    expect(Date.now() - started).toBeGreaterThanOrEqual(150)
    expect(readClose(fromProxy)).toEqual({ masked: true, code: 1001, reason: 'switchyard: colour drained' })
    expect(messages).toEqual([])

    // Towards the client the rest of the frame still goes through, then the close.
    upstreamSocket!.end(frame.subarray(120_000))
    const closed = await client.closed
    expect(closed).toMatchObject({ code: 1001, reason: 'switchyard: colour drained' })
    expect(messages.map((message) => intact(message))).toEqual([true])
    expect(client.errors).toEqual([])
  })

  it('keeps the tunnel when the drain is cancelled before its deadline', async () => {
    const blue = resources.add(await wsUpstream('blue'))
    const proxy = resources.add(await startProxy({ blue: [blue.url], green: [blue.url] }))
    const client = await open(proxy.port, BLUE)
    let closed = false
    void client.closed.then(() => (closed = true))

    proxy.proxy.drainColor('blue', 200)
    await sleep(50)
    proxy.proxy.cancelDrain('blue')
    await sleep(450)
    expect(closed).toBe(false)
    expect(await echo(client.socket, 'alive')).toBe('blue:alive')
    expect(proxy.proxy.connections().blue.websockets).toBe(1)
    client.socket.close(1000)
    expect((await client.closed).code).toBe(1000)
  })

  it('leaves alone a tunnel opened on the colour after its drain began; a restart takes it in', async () => {
    const blue = resources.add(await wsUpstream('blue'))
    const proxy = resources.add(await startProxy({ blue: [blue.url], green: [blue.url] }))
    const early = await open(proxy.port, BLUE)

    proxy.proxy.drainColor('blue', 5_000)
    const late = await open(proxy.port, BLUE)
    // Restarting replaces the deadline, and snapshots what is open now: both tunnels.
    proxy.proxy.drainColor('blue', 200)
    const afterRestart = await open(proxy.port, BLUE)

    expect((await early.closed).code).toBe(1001)
    expect((await late.closed).code).toBe(1001)
    let closed = false
    void afterRestart.closed.then(() => (closed = true))
    await sleep(300)
    expect(closed).toBe(false)
    expect(await echo(afterRestart.socket, 'new')).toBe('blue:new')
    afterRestart.socket.close()
  })

  it('simply ends a tunnel of another protocol at the deadline', async () => {
    const upstream = resources.add(await startUpstream('blue'))
    // A made-up protocol that echoes bytes.
    upstream.server.on('upgrade', (_req: IncomingMessage, socket: net.Socket) => {
      socket.write('HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: echo\r\n\r\n')
      socket.on('data', (chunk: Buffer) => socket.write(chunk))
      socket.on('end', () => socket.end())
      socket.on('error', () => undefined)
    })
    const proxy = resources.add(await startProxy({ blue: [upstream.url], green: [upstream.url] }))
    const client = net.connect(proxy.port, '127.0.0.1')
    let received = ''
    client.setEncoding('utf8')
    client.on('data', (chunk: string) => (received += chunk))
    const ended = new Promise<number>((resolve) => client.on('end', () => resolve(Date.now())))
    client.write('GET / HTTP/1.1\r\nhost: x\r\nconnection: Upgrade\r\nupgrade: echo\r\nx-user-id: u\r\n\r\n')
    await until(() => received.includes('\r\n\r\n'))
    expect(received).toMatch(/^HTTP\/1.1 101/)
    client.write('ping')
    await until(() => received.endsWith('ping'))

    const started = Date.now()
    proxy.proxy.drainColor('blue', 200)
    const at = await ended
    expect(at - started).toBeGreaterThanOrEqual(150)
    client.end()
    await until(() => proxy.proxy.connections().blue.websockets === 0)
  })
})
