import http from 'node:http'
import { connect } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { Resources, startProxy } from '../helpers/upstream-proxy-harness.js'
import { startUpstream } from '../helpers/upstream-server.js'

const resources = new Resources()
afterEach(() => resources.closeAll())

describe('timeouts.body (slow request bodies)', () => {
  it('answers 408 and cancels the upstream request when a body goes silent', async () => {
    const upstream = resources.add(await startUpstream('blue', (req) => void req.resume()))
    const proxy = resources.add(await startProxy({ blue: [upstream.url], green: [upstream.url], timeouts: { body: 300 } }))
    const started = Date.now()
    const answer = await new Promise<string>((resolve) => {
      const socket = connect(proxy.port, '127.0.0.1', () => {
        socket.write('POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789')
      })
      let seen = ''
      socket.setEncoding('latin1')
      socket.on('data', (chunk: string) => (seen += chunk))
      socket.on('close', () => resolve(seen))
      socket.on('error', () => resolve(seen))
    })
    expect(answer).toMatch(/^HTTP\/1\.1 408 /)
    expect(answer).toContain('SY_ERR_BODY_TIMEOUT')
    expect(Date.now() - started).toBeGreaterThanOrEqual(250)
    await upstream.requests[0]!.cancelled
    const [outcome] = await proxy.sink.waitFor(1)
    // The client's fault: not counted against the upstream.
    expect(outcome).toMatchObject({ status: 408, errorKind: undefined })
  })

  it('lets a slow but steady upload through: the timer is the silence between two reads', async () => {
    const upstream = resources.add(
      await startUpstream('blue', (req, res) => {
        let bytes = 0
        req.on('data', (chunk: Buffer) => (bytes += chunk.length))
        req.on('end', () => res.end(String(bytes)))
      }),
    )
    const proxy = resources.add(await startProxy({ blue: [upstream.url], green: [upstream.url], timeouts: { body: 300 } }))
    const body = await new Promise<string>((resolve, reject) => {
      const req = http.request(`${proxy.url}/upload`, { method: 'POST', agent: false, headers: { 'content-length': 10 * 100 } }, (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => (text += chunk))
        res.on('end', () => resolve(text))
      })
      req.on('error', reject)
      let sent = 0
      const timer = setInterval(() => {
        req.write(Buffer.alloc(100))
        if (++sent === 10) {
          clearInterval(timer)
          req.end()
        }
      }, 150)
    })
    // 10 × 150 ms = 1.5 s in all, far above the 300 ms body timeout, and never cut.
    expect(body).toBe('1000')
  })
})
