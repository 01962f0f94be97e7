import { afterEach, describe, expect, it } from 'vitest'
import { Resources, send, startProxy } from '../helpers/upstream-proxy-harness.js'
import { until } from '../helpers/wait.js'
import { gate, startUpstream } from '../helpers/upstream-server.js'

const resources = new Resources()
afterEach(() => resources.closeAll())

describe('pool exhaustion: limits.maxConnectionsPerTarget and limits.maxPending', () => {
  it('answers 503 busy with retry-after once a target has maxPending requests waiting for a connection', async () => {
    const release = gate()
    const upstream = resources.add(
      await startUpstream('blue', async (_req, res) => {
        await release.promise
        res.end('slow')
      }),
    )
    const { proxy, sink, url } = resources.add(
      await startProxy({ blue: [upstream.url], green: [upstream.url], limits: { maxConnectionsPerTarget: 1, maxPending: 2 } }),
    )

    // One request holds the only connection; two more wait for it.
    const first = send(url, { path: '/1' })
    await until(() => upstream.requests.length === 1)
    const waiting = [send(url, { path: '/2' }), send(url, { path: '/3' })]
    await until(() => proxy.inFlight().blue === 3)

    const busy = await send(url, { path: '/4' })
    expect(busy.status).toBe(503)
    expect(busy.headers['retry-after']).toBe('1')
    expect(busy.headers['x-switchyard-color']).toBe('blue')
    expect(JSON.parse(busy.body)).toEqual({
      statusCode: 503,
      error: 'Service Unavailable',
      message: 'The upstream has too many requests waiting for a connection; retry shortly',
      code: 'SY_ERR_UPSTREAM_BUSY',
    })
    expect(sink.outcomes()).toEqual([{ color: 'blue', status: 503, errorKind: 'busy' }])
    // A full queue is not a failing target: no ejection count.
    expect(proxy.health().blue[0]).toMatchObject({ consecutiveFailures: 0 })

    release.open()
    const replies = await Promise.all([first, ...waiting])
    expect(replies.map((reply) => reply.status)).toEqual([200, 200, 200])
    // Only one connection was ever opened to the target, and the refused request never reached it.
    expect(new Set(upstream.requests.map((request) => request.socketIndex)).size).toBe(1)
    expect(upstream.requests.map((request) => request.url)).toEqual(['/1', '/2', '/3'])
    // With the queue drained, requests are accepted again.
    expect((await send(url, { path: '/5' })).status).toBe(200)
  })
})
