/**
 * readIntoShared on real sockets: a plain accepted socket reads into the shared buffer (and
 * emits no 'data'), net's pause() stops its reads and resume() starts them again, the
 * client's FIN still ends it; a TLS socket is left to 'data' events. It finds net's own keys
 * by name: a node whose net renamed them would leave the socket engine on the slower path
 * without a word, and this test is what says so.
 */
import net, { type AddressInfo } from 'node:net'
import tls from 'node:tls'
import { afterEach, describe, expect, it } from 'vitest'
import { readBuffer, readIntoShared } from '../../../src/proxy/raw/read-buffer.js'
import { HAVE_OPENSSL, makeTestCa } from '../../helpers/tls-certs.js'
import { until } from '../../helpers/wait.js'

const servers: net.Server[] = []
const sockets: net.Socket[] = []

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy()
  for (const server of servers.splice(0)) await new Promise<void>((resolve) => server.close(() => resolve()))
})

async function listen(server: net.Server): Promise<number> {
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return (server.address() as AddressInfo).port
}

/** A round trip on a connection of its own: the proxy's loop turns a few times meanwhile. */
async function roundTrip(port: number): Promise<void> {
  const other = net.connect(port, '127.0.0.1')
  sockets.push(other)
  await new Promise<void>((resolve) => other.once('connect', resolve))
}

describe('readIntoShared', () => {
  it('reads a plain accepted socket into the shared buffer, with pause, resume and end as net has them', async () => {
    let read = ''
    const buffers = new Set<Buffer>()
    let dataEvents = 0
    let ended = false
    const installed: boolean[] = []
    const accepted: net.Socket[] = []
    const port = await listen(
      net.createServer({ allowHalfOpen: true }, (socket) => {
        accepted.push(socket)
        sockets.push(socket)
        installed.push(
          readIntoShared(socket, function (bytes, buf) {
            buffers.add(buf)
            read += buf.toString('latin1', 0, bytes)
            return true
          }),
        )
        socket.on('data', () => dataEvents++)
        socket.on('end', () => (ended = true))
      }),
    )
    const client = net.connect(port, '127.0.0.1')
    sockets.push(client)
    client.write('one;')
    await until(() => read === 'one;')
    expect(installed[0]).toBe(true)
    // Every read landed in the one buffer upstream sockets read into.
    expect(buffers.size).toBe(1)
    expect([...buffers][0]).toBe(readBuffer())

    accepted[0]!.pause()
    client.write('two;')
    await roundTrip(port)
    await roundTrip(port)
    expect(read).toBe('one;')
    accepted[0]!.resume()
    await until(() => read === 'one;two;')

    client.end()
    await until(() => ended)
    expect(dataEvents).toBe(0)
  })

  it.skipIf(!HAVE_OPENSSL)('leaves a TLS socket to data events', async () => {
    const ca = makeTestCa()
    const leaf = ca.issue('server', ['localhost'])
    let installed: boolean | undefined
    let read = ''
    const port = await listen(
      tls.createServer({ cert: leaf.certPem, key: leaf.keyPem }, (socket) => {
        sockets.push(socket)
        installed = readIntoShared(socket, () => true)
        socket.on('data', (chunk: Buffer) => (read += chunk.toString('latin1')))
      }),
    )
    const client = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca: ca.ca })
    sockets.push(client)
    client.write('over tls')
    await until(() => read === 'over tls')
    expect(installed).toBe(false)
  })
})
