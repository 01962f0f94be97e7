import http from 'node:http'
import { afterEach, describe, expect, it } from 'vitest'
import { WebSocket, WebSocketServer } from 'ws'
import { fetchPartial, Resources, send, startProxy } from '../helpers/upstream-proxy-harness.js'
import { gate, startUpstream, type Upstream, type UpstreamHandler } from '../helpers/upstream-server.js'
import { sleep, until } from '../helpers/wait.js'

const resources = new Resources()
afterEach(() => resources.closeAll())


/** `/sse`: an event every 50 ms that never ends on its own; `/slow`: a fixed-length answer after 600 ms. */
const sseOrSlow: UpstreamHandler = (req, res) => {
  if (req.url === '/slow') {
    setTimeout(() => res.end('slow answer'), 600)
    return
  }
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
  let n = 0
  const tick = setInterval(() => res.write(`data: ${++n}\n\n`), 50)
  res.write(`data: ${n}\n\n`)
  res.on('close', () => clearInterval(tick))
}

const BLUE = { 'x-user-id': 'u1', 'x-switchyard-color': 'blue' }
const GREEN = { 'x-user-id': 'u2', 'x-switchyard-color': 'green' }

describe('drainColor: streamed responses', () => {
  it('cuts an SSE stream at the deadline (no clean end) and cancels it upstream, not counted as an error; a slow plain answer finishes', async () => {
    const upstream = resources.add(await startUpstream('blue', sseOrSlow))
    const proxy = resources.add(await startProxy({ blue: [upstream.url], green: [upstream.url] }))

    const stream = fetchPartial(proxy.url, '/sse', BLUE)
    const slow = send(proxy.url, { path: '/slow', headers: BLUE })
    await until(() => proxy.proxy.connections().blue.streams === 1 && upstream.requests.length === 2)

    const started = Date.now()
    proxy.proxy.drainColor('blue', 300)
    // A stream routed to the colour after the drain began is not part of it.
    const later = new AbortController()
    const laterReply = fetch(`${proxy.url}/sse`, { headers: BLUE, signal: later.signal })

    const reply = await stream
    const endedAfter = Date.now() - started
    // Cut, never ended as if complete: the client can tell (and an EventSource reconnects).
    expect(reply).toMatchObject({ status: 200, complete: false })
    expect(reply.headers['content-type']).toBe('text/event-stream')
    expect(reply.body).toMatch(/^data: 0\n\ndata: 1\n\n/)
    expect(endedAfter).toBeGreaterThanOrEqual(250)
    expect(endedAfter).toBeLessThan(3_000)
    await upstream.requests.find((r) => r.url === '/sse')!.cancelled

    const plain = await slow
    expect(plain).toMatchObject({ status: 200, body: 'slow answer' })

    // The later stream is still open after the deadline.
    await laterReply
    await sleep(100)
    expect(proxy.proxy.connections().blue).toEqual({ requests: 1, streams: 1, websockets: 0 })
    later.abort()
    await until(() => proxy.proxy.connections().blue.requests === 0)

    // The drained stream is our cut, not the upstream's failure: its status, no error kind.
    const outcomes = proxy.sink.outcomes()
    expect(outcomes.slice(0, 2)).toEqual([
      { color: 'blue', status: 200, errorKind: undefined },
      { color: 'blue', status: 200, errorKind: undefined },
    ])
    expect(outcomes[2]).toMatchObject({ color: 'blue', status: 499, errorKind: 'client' })
  })

  it('leaves a stream alone when its drain is cancelled', async () => {
    const upstream = resources.add(await startUpstream('blue', sseOrSlow))
    const proxy = resources.add(await startProxy({ blue: [upstream.url], green: [upstream.url] }))
    const controller = new AbortController()
    const response = await fetch(`${proxy.url}/sse`, { headers: BLUE, signal: controller.signal })
    expect(response.status).toBe(200)

    proxy.proxy.drainColor('blue', 150)
    proxy.proxy.cancelDrain('blue')
    await sleep(300)
    expect(proxy.proxy.connections().blue.streams).toBe(1)
    controller.abort()
    await until(() => proxy.proxy.connections().blue.requests === 0)
  })
})

describe('connections', () => {
  async function wsUpstream(name: string): Promise<Upstream> {
    const upstream = await startUpstream(name, sseOrSlow)
    const wss = new WebSocketServer({ server: upstream.server })
    wss.on('connection', (socket) => socket.on('error', () => undefined))
    return {
      ...upstream,
      close: async () => {
        for (const client of wss.clients) client.terminate()
        await new Promise<void>((resolve) => wss.close(() => resolve()))
        await upstream.close()
      },
    }
  }

  it('counts requests, streams and WebSockets per colour and returns to zero', async () => {
    const blue = resources.add(await wsUpstream('blue'))
    const release = gate()
    const green = resources.add(
      await startUpstream('green', async (_req, res) => {
        await release.promise
        res.end('done')
      }),
    )
    const proxy = resources.add(await startProxy({ blue: [blue.url], green: [green.url] }))
    const zero = { requests: 0, streams: 0, websockets: 0 }
    expect(proxy.proxy.connections()).toEqual({ blue: zero, green: zero })

    const socket = new WebSocket(`ws://127.0.0.1:${proxy.port}/`, { headers: BLUE })
    await new Promise((resolve, reject) => socket.on('open', resolve).on('error', reject))
    const stream = new AbortController()
    await fetch(`${proxy.url}/sse`, { headers: BLUE, signal: stream.signal })
    const slowBlue = send(proxy.url, { path: '/slow', headers: BLUE })
    const plainGreen = send(proxy.url, { headers: GREEN })
    await until(() => blue.requests.length === 2 && green.requests.length === 1)

    expect(proxy.proxy.connections()).toEqual({
      blue: { requests: 2, streams: 1, websockets: 1 },
      green: { requests: 1, streams: 0, websockets: 0 },
    })

    release.open()
    expect((await plainGreen).body).toBe('done')
    expect((await slowBlue).body).toBe('slow answer')
    stream.abort()
    socket.close()
    await until(() => JSON.stringify(proxy.proxy.connections()) === JSON.stringify({ blue: zero, green: zero }))
    expect(proxy.proxy.inFlight()).toEqual({ blue: 0, green: 0 })
  })

  it('counts a stream only while its body is being sent', async () => {
    const release = gate()
    const upstream = resources.add(
      await startUpstream('blue', async (_req, res) => {
        await release.promise
        res.writeHead(200, { 'content-type': 'text/plain' })
        res.write('part')
        await sleep(100)
        res.end()
      }),
    )
    const proxy = resources.add(await startProxy({ blue: [upstream.url], green: [upstream.url] }))
    const reply = new Promise<http.IncomingMessage>((resolve) => http.get(`${proxy.url}/`, { agent: false, headers: BLUE }, resolve))
    await until(() => upstream.requests.length === 1)
    expect(proxy.proxy.connections().blue).toEqual({ requests: 1, streams: 0, websockets: 0 })
    release.open()
    const res = await reply
    expect(proxy.proxy.connections().blue).toEqual({ requests: 1, streams: 1, websockets: 0 })
    res.resume()
    await new Promise((resolve) => res.on('end', resolve))
    await until(() => proxy.proxy.connections().blue.requests === 0)
    expect(proxy.proxy.connections().blue.streams).toBe(0)
  })
})
