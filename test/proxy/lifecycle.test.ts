import http from 'node:http'
import { afterEach, describe, expect, it } from 'vitest'
import { fetchPartial, Resources, send, startProxy } from '../helpers/upstream-proxy-harness.js'
import { gate, startUpstream, type Echo } from '../helpers/upstream-server.js'

const resources = new Resources()
afterEach(() => resources.closeAll())

async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

describe('setTargets', () => {
  it('sends new requests to the new target while one in flight on the old target finishes', async () => {
    const release = gate()
    const old = resources.add(
      await startUpstream('old', async (_req, res) => {
        await release.promise
        res.end('old answer')
      }),
    )
    const fresh = resources.add(await startUpstream('new'))
    const proxy = resources.add(await startProxy({ blue: [old.url], green: [old.url] }))

    const slow = send(proxy.url, { path: '/slow' })
    await until(() => old.requests.length === 1)
    expect(proxy.proxy.inFlight()).toEqual({ blue: 1, green: 0 })

    proxy.proxy.setTargets('blue', [fresh.url])
    expect(proxy.proxy.health().blue.map((h) => h.url)).toEqual([fresh.url])
    const next = await send(proxy.url, { path: '/next' })
    expect((JSON.parse(next.body) as Echo).upstream).toBe('new')

    release.open()
    const finished = await slow
    expect(finished).toMatchObject({ status: 200, body: 'old answer' })
    expect(old.requests).toHaveLength(1)
    // The retired pool closes its connection once its last request is done.
    await until(() => old.sockets.every((socket) => socket.destroyed))
    expect(proxy.proxy.inFlight()).toEqual({ blue: 0, green: 0 })
  })

  it('rejects an invalid URL and keeps the current targets', async () => {
    const upstream = resources.add(await startUpstream('blue'))
    const proxy = resources.add(await startProxy({ blue: [upstream.url], green: [upstream.url] }))
    expect(() => proxy.proxy.setTargets('blue', ['not a url'])).toThrow(/not a valid upstream URL/)
    expect(() => proxy.proxy.setTargets('blue', ['ftp://127.0.0.1:21'])).toThrow(/http or https/)
    expect(proxy.proxy.health().blue.map((h) => h.url)).toEqual([upstream.url])
    expect((await send(proxy.url)).status).toBe(200)
  })
})

describe('setTimeouts', () => {
  it('applies a new request timeout to new requests', async () => {
    // The first request is answered after 300 ms, later ones never.
    const upstream = resources.add(
      await startUpstream('blue', (req, res) => {
        if (req.url === '/first') setTimeout(() => res.end('late'), 300)
      }),
    )
    const proxy = resources.add(await startProxy({ blue: [upstream.url], green: [upstream.url], timeouts: { request: 5_000 } }))
    expect((await send(proxy.url, { path: '/first' })).body).toBe('late')
    proxy.proxy.setTimeouts({ connect: 1_000, request: 100, idle: 0 })
    expect((await send(proxy.url, { path: '/second' })).status).toBe(504)
  })
})

describe('close', () => {
  it('lets an in-flight request finish with Connection: close and refuses new connections', async () => {
    const release = gate()
    const upstream = resources.add(
      await startUpstream('blue', async (_req, res) => {
        await release.promise
        res.end('finished')
      }),
    )
    const proxy = await startProxy({ blue: [upstream.url], green: [upstream.url] })
    const agent = new http.Agent({ keepAlive: true })
    const inFlight = send(proxy.url, { path: '/slow', agent })
    await until(() => upstream.requests.length === 1)

    let closed = false
    const closing = proxy.proxy.close(5_000).then(() => {
      closed = true
    })
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(closed).toBe(false)
    await expect(send(proxy.url)).rejects.toThrow(/ECONNREFUSED/)

    release.open()
    const reply = await inFlight
    expect(reply).toMatchObject({ status: 200, body: 'finished' })
    // Its head went out during the drain: the kept-alive client is told to leave.
    expect(reply.headers.connection).toBe('close')
    await closing
    expect(proxy.sink.outcomes()).toEqual([{ color: 'blue', status: 200, errorKind: undefined }])
    agent.destroy()
  })

  it('resolves soon after a streamed answer that began before the drain', async () => {
    const release = gate()
    const upstream = resources.add(
      await startUpstream('blue', async (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain' })
        res.write('first ')
        await release.promise
        res.end('last')
      }),
    )
    const proxy = await startProxy({ blue: [upstream.url], green: [upstream.url] })
    const agent = new http.Agent({ keepAlive: true })
    const inFlight = send(proxy.url, { agent })
    await until(() => upstream.requests.length === 1)
    await new Promise((resolve) => setTimeout(resolve, 20))
    const closing = proxy.proxy.close(5_000)
    await new Promise((resolve) => setTimeout(resolve, 20))
    release.open()
    const reply = await inFlight
    expect(reply).toMatchObject({ status: 200, body: 'first last' })
    expect(reply.headers.connection).toBe('keep-alive')
    const released = Date.now()
    await closing
    expect(Date.now() - released).toBeLessThan(1_000)
    agent.destroy()
  })

  it('closes idle keep-alive connections at once', async () => {
    const upstream = resources.add(await startUpstream('blue'))
    const proxy = await startProxy({ blue: [upstream.url], green: [upstream.url] })
    const agent = new http.Agent({ keepAlive: true })
    expect((await send(proxy.url, { agent })).status).toBe(200)
    const started = Date.now()
    await proxy.proxy.close(5_000)
    expect(Date.now() - started).toBeLessThan(1_000)
    agent.destroy()
  })

  it('destroys what is still running at the deadline', async () => {
    const upstream = resources.add(
      await startUpstream('blue', (_req, res) => {
        res.writeHead(200)
        res.write('never ends')
      }),
    )
    const proxy = await startProxy({ blue: [upstream.url], green: [upstream.url] })
    const pending = fetchPartial(proxy.url)
    await until(() => upstream.requests.length === 1)
    const started = Date.now()
    await proxy.proxy.close(200)
    expect(Date.now() - started).toBeGreaterThanOrEqual(150)
    const reply = await pending
    expect(reply).toMatchObject({ status: 200, body: 'never ends', complete: false })
    await upstream.requests[0]!.cancelled
  })
})
