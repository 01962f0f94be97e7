/**
 * timeouts.send: a client that leaves a large answer unread (its connection's buffers full)
 * is cut once the timeout passes without a drain, and the upstream request is cancelled, so a
 * stopped reader holds no upstream connection (nginx's send_timeout); a client that pauses for
 * less than the timeout and then reads gets the whole answer.
 */
import net from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { Resources, startProxy } from '../helpers/upstream-proxy-harness.js'
import { startUpstream } from '../helpers/upstream-server.js'

const resources = new Resources()
afterEach(() => resources.closeAll())

/** More than loopback's socket buffers hold on both hops, so a client that never reads stalls the proxy. */
const BIG = 48 * 1024 * 1024
const PIECE = Buffer.alloc(256 * 1024, 'x')

/** An upstream answering every request with BIG bytes, written as the proxy takes them. */
function startBigUpstream() {
  return startUpstream('blue', (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': BIG })
    let sent = 0
    const more = (): void => {
      while (sent < BIG) {
        sent += PIECE.length
        if (!res.write(PIECE)) {
          res.once('drain', more)
          return
        }
      }
      res.end()
    }
    more()
  })
}

/** Sends a GET on a raw connection and reads nothing; resolves with the socket. */
function requestAndStop(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.pause()
      socket.write('GET /big HTTP/1.1\r\nHost: app.test\r\n\r\n')
      resolve(socket)
    })
    socket.once('error', reject)
  })
}

/** Reads `total` bytes after the head, pausing `pauseMs` three times on the way; resolves with how many arrived. */
function readWithPauses(port: number, pauseMs: number): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    let head = ''
    let bytes = 0
    let pauses = 0
    const socket = net.connect(port, '127.0.0.1', () => socket.write('GET /big HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n'))
    socket.on('data', (chunk: Buffer) => {
      if (bytes === 0 && !head.includes('\r\n\r\n')) {
        head += chunk.toString('latin1')
        const end = head.indexOf('\r\n\r\n')
        if (end !== -1) bytes = Buffer.byteLength(head, 'latin1') - end - 4
      } else {
        bytes += chunk.length
      }
      // Stops reading after the first 4, 12 and 24 MiB, each time for pauseMs.
      if (pauses < 3 && bytes > [4, 12, 24][pauses]! * 1024 * 1024) {
        pauses++
        socket.pause()
        setTimeout(() => socket.resume(), pauseMs)
      }
    })
    socket.on('error', reject)
    socket.on('close', () => resolve({ status: Number(head.split(' ')[1]), bytes }))
  })
}

describe.each(['sockets', 'node'] as const)('timeouts.send (%s engine)', (engine) => {
  it('a client that stops reading is cut after timeouts.send and its upstream request cancelled (499, not an upstream error)', async () => {
    const upstream = resources.add(await startBigUpstream())
    const proxy = resources.add(await startProxy({ blue: [upstream.url], green: [upstream.url], engine, timeouts: { send: 400 } }))
    const client = await requestAndStop(proxy.port)
    try {
      const [outcome] = await proxy.sink.waitFor(1, 10_000)
      expect(outcome).toMatchObject({ color: 'blue', status: 499, errorKind: 'client' })
      await upstream.requests[0]!.cancelled
      // The target is not blamed for the client's stall.
      expect(proxy.proxy.health().blue[0]).toMatchObject({ consecutiveFailures: 0 })
    } finally {
      client.destroy()
    }
  })

  it('a client that pauses for less than timeouts.send gets the whole answer', async () => {
    const upstream = resources.add(await startBigUpstream())
    const proxy = resources.add(await startProxy({ blue: [upstream.url], green: [upstream.url], engine, timeouts: { send: 1_500 } }))
    const reply = await readWithPauses(proxy.port, 300)
    expect(reply).toEqual({ status: 200, bytes: BIG })
    const [outcome] = await proxy.sink.waitFor(1)
    expect(outcome).toMatchObject({ status: 200, errorKind: undefined })
  })
})
