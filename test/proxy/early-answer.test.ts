/**
 * An upstream may answer before it has read the request body (an upload refused, a redirect).
 * Either engine then reads the rest of the body and drops it, and the connection takes its
 * next request: closing it would lose a pipelined request, and a stalled one would hang it.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { parseResponses, rawConnect } from '../helpers/raw-http.js'
import { startProxy, type TestProxy } from '../helpers/upstream-proxy-harness.js'
import { startUpstream, type Upstream } from '../helpers/upstream-server.js'
import { until } from '../helpers/wait.js'

let proxy: TestProxy | undefined
let upstream: Upstream | undefined

afterEach(async () => {
  await proxy?.close()
  await upstream?.close()
  proxy = upstream = undefined
})

describe.each(['sockets', 'node'] as const)('an answer before the request body ended (%s engine)', (engine) => {
  it('reads and drops the rest of the body, and answers the next request on the same connection', async () => {
    upstream = await startUpstream('blue', (req, res) => void res.end(`answered ${req.url}`))
    proxy = await startProxy({ blue: [upstream.url], green: [upstream.url], engine })
    const body = Buffer.alloc(512 * 1024, 'x')
    const conn = await rawConnect(proxy.port, Buffer.concat([Buffer.from(`POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: ${body.length}\r\n\r\n`), body.subarray(0, 1000)]))
    // The answer comes while most of the body is still to be sent.
    await until(() => parseResponses(conn.text()).some((r) => r.complete))
    const [early] = parseResponses(conn.text())
    expect(early).toMatchObject({ status: 200, body: 'answered /upload' })
    expect(early!.head.connection?.toLowerCase()).toBe('keep-alive')
    conn.socket.write(Buffer.concat([body.subarray(1000), Buffer.from('GET /next HTTP/1.1\r\nHost: a\r\n\r\n')]))
    await until(() => parseResponses(conn.text()).filter((r) => r.complete).length === 2)
    expect(parseResponses(conn.text())[1]).toMatchObject({ status: 200, body: 'answered /next' })
    expect(conn.socket.destroyed).toBe(false)
    conn.socket.destroy()
  })
})
