import http from 'node:http'
import type net from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { fetchPartial, Resources, startProxy } from '../helpers/upstream-proxy-harness.js'
import { gate, startUpstream } from '../helpers/upstream-server.js'

const resources = new Resources()
afterEach(() => resources.closeAll())

describe('streaming', () => {
  it('delivers an SSE event while the upstream is still sending', async () => {
    const release = gate()
    let upstreamEnded = false
    const upstream = resources.add(
      await startUpstream('blue', async (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
        res.write('data: 1\n\n')
        await release.promise
        upstreamEnded = true
        res.end('data: 2\n\n')
      }),
    )
    const proxy = resources.add(await startProxy({ blue: [upstream.url], green: [upstream.url] }))

    const events = await new Promise<{ first: string; endedAtFirst: boolean; rest: string; headers: http.IncomingHttpHeaders }>(
      (resolve, reject) => {
        http
          .get(`${proxy.url}/events`, { agent: false }, (res) => {
            let first: string | undefined
            let endedAtFirst = false
            let rest = ''
            res.setEncoding('utf8')
            res.on('data', (chunk: string) => {
              if (first === undefined) {
                first = chunk
                endedAtFirst = upstreamEnded
                release.open()
              } else {
                rest += chunk
              }
            })
            res.on('end', () => resolve({ first: first ?? '', endedAtFirst, rest, headers: res.headers }))
            res.on('error', reject)
          })
          .on('error', reject)
      },
    )
    expect(events.first).toBe('data: 1\n\n')
    expect(events.endedAtFirst).toBe(false)
    expect(events.rest).toBe('data: 2\n\n')
    expect(events.headers['content-type']).toBe('text/event-stream')
    expect(events.headers['x-switchyard-color']).toBe('blue')
  })

  it('sends the head of a streamed answer before its first byte of body', async () => {
    const release = gate()
    const upstream = resources.add(
      await startUpstream('blue', async (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' })
        res.flushHeaders()
        await release.promise
        res.end('data: late\n\n')
      }),
    )
    const proxy = resources.add(await startProxy({ blue: [upstream.url], green: [upstream.url] }))
    const status = await new Promise<number>((resolve, reject) => {
      http
        .get(`${proxy.url}/`, { agent: false }, (res) => {
          resolve(res.statusCode ?? 0)
          release.open()
          res.resume()
        })
        .on('error', reject)
    })
    expect(status).toBe(200)
  })

  it('applies backpressure: a paused client stops the upstream instead of filling memory', async () => {
    const chunk = Buffer.alloc(1024 * 1024, 'x')
    const total = 64
    let written = 0
    let stalledAt = -1
    const upstream = resources.add(
      await startUpstream('blue', async (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': chunk.length * total })
        for (let i = 0; i < total; i++) {
          written += chunk.length
          if (!res.write(chunk)) await new Promise((resolve) => res.once('drain', resolve))
        }
        res.end()
      }),
    )
    const proxy = resources.add(await startProxy({ blue: [upstream.url], green: [upstream.url] }))

    const received = await new Promise<number>((resolve, reject) => {
      http
        .get(`${proxy.url}/big`, { agent: false }, (res) => {
          let bytes = 0
          res.once('data', (first: Buffer) => {
            bytes += first.length
            res.pause()
            setTimeout(() => {
              stalledAt = written
              res.on('data', (more: Buffer) => (bytes += more.length))
              res.on('end', () => resolve(bytes))
              res.resume()
            }, 400)
          })
          res.on('error', reject)
        })
        .on('error', reject)
    })
    expect(received).toBe(chunk.length * total)
    // Socket buffers on two hops hold a few MB; without backpressure all 64 MB would be read.
    expect(stalledAt).toBeGreaterThan(0)
    expect(stalledAt).toBeLessThan(24 * 1024 * 1024)
  })

  it('cuts the client response when the upstream dies mid-body (content-length)', async () => {
    const upstream = resources.add(
      await startUpstream('blue', (_req, res) => {
        res.writeHead(200, { 'content-length': 1000 })
        res.write(Buffer.alloc(100, 'a'))
        setTimeout(() => res.socket?.destroy(), 30)
      }),
    )
    const proxy = resources.add(await startProxy({ blue: [upstream.url], green: [upstream.url] }))
    const reply = await fetchPartial(proxy.url)
    expect(reply.status).toBe(200)
    expect(reply.complete).toBe(false)
    expect(reply.body.length).toBeLessThan(1000)
    const [outcome] = await proxy.sink.waitFor(1)
    expect(outcome).toMatchObject({ color: 'blue', status: 200, errorKind: 'reset' })
  })

  it('cuts the client response when the upstream dies mid-body (chunked)', async () => {
    const upstream = resources.add(
      await startUpstream('blue', (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain' })
        res.write('first part ')
        setTimeout(() => res.socket?.destroy(), 30)
      }),
    )
    const proxy = resources.add(await startProxy({ blue: [upstream.url], green: [upstream.url] }))
    const reply = await fetchPartial(proxy.url)
    expect(reply.status).toBe(200)
    expect(reply.complete).toBe(false)
    expect(reply.body).toBe('first part ')
    const [outcome] = await proxy.sink.waitFor(1)
    expect(outcome).toMatchObject({ status: 200, errorKind: 'reset' })
  })

  it('cuts a stream that stays silent longer than timeouts.idle', async () => {
    const upstream = resources.add(
      await startUpstream('blue', (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' })
        res.write('data: 1\n\n')
        // ...and then nothing.
      }),
    )
    const proxy = resources.add(await startProxy({ blue: [upstream.url], green: [upstream.url], timeouts: { idle: 200 } }))
    const started = Date.now()
    const reply = await fetchPartial(proxy.url)
    expect(Date.now() - started).toBeGreaterThanOrEqual(150)
    expect(reply.body).toBe('data: 1\n\n')
    expect(reply.complete).toBe(false)
    const [outcome] = await proxy.sink.waitFor(1)
    expect(outcome).toMatchObject({ status: 200, errorKind: 'idle' })
    await upstream.requests[0]!.cancelled
  })

  it('keeps a stream alive while it sends more often than timeouts.idle, however long it lasts', async () => {
    const upstream = resources.add(
      await startUpstream('blue', async (_req, res) => {
        res.writeHead(200)
        for (let i = 0; i < 8; i++) {
          res.write(`${i}`)
          await new Promise((resolve) => setTimeout(resolve, 100))
        }
        res.end()
      }),
    )
    // 800 ms in all, never silent for 500 ms: each read starts the idle deadline again.
    const proxy = resources.add(await startProxy({ blue: [upstream.url], green: [upstream.url], timeouts: { idle: 500 } }))
    const reply = await fetchPartial(proxy.url)
    expect(reply).toMatchObject({ status: 200, body: '01234567', complete: true })
  })

  it('counts timeouts.idle from the first body bytes too when they come after the head', async () => {
    const upstream = resources.add(
      await startUpstream('blue', async (_req, res) => {
        res.writeHead(200)
        res.flushHeaders()
        for (const piece of ['0', '1']) {
          await new Promise((resolve) => setTimeout(resolve, 300))
          res.write(piece)
        }
        res.end()
      }),
    )
    // Silent 300 ms after the head, then 300 ms after the first piece: never 500 ms, though 600 ms from the head.
    const proxy = resources.add(await startProxy({ blue: [upstream.url], green: [upstream.url], timeouts: { idle: 500 } }))
    const reply = await fetchPartial(proxy.url)
    expect(reply).toMatchObject({ status: 200, body: '01', complete: true })
  })

  it('keeps waiting for the answer while a slow upload goes on for longer than timeouts.request', async () => {
    const upstream = resources.add(
      await startUpstream('blue', async (req, res) => {
        let body = ''
        for await (const piece of req) body += String(piece)
        res.end(`got ${body}`)
      }),
    )
    const proxy = resources.add(await startProxy({ blue: [upstream.url], green: [upstream.url], timeouts: { request: 500 } }))
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request(`${proxy.url}/upload`, { method: 'POST', agent: false }, (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => (body += chunk))
        res.on('end', () => resolve({ status: res.statusCode!, body }))
      })
      req.on('error', reject)
      // 800 ms of body, a piece every 100 ms: each write upstream starts the request deadline again.
      let sent = 0
      const timer = setInterval(() => {
        req.write(`${sent}`)
        if (++sent === 8) {
          clearInterval(timer)
          req.end()
        }
      }, 100)
    })
    expect(answer).toEqual({ status: 200, body: 'got 01234567' })
  })

  it('keeps a slow but steady stream alive when idle is 0', async () => {
    const upstream = resources.add(
      await startUpstream('blue', async (_req, res) => {
        res.writeHead(200)
        for (let i = 0; i < 3; i++) {
          res.write(`${i}`)
          await new Promise((resolve) => setTimeout(resolve, 100))
        }
        res.end()
      }),
    )
    const proxy = resources.add(await startProxy({ blue: [upstream.url], green: [upstream.url], timeouts: { request: 50, idle: 0 } }))
    const reply = await fetchPartial(proxy.url)
    expect(reply).toMatchObject({ status: 200, body: '012', complete: true })
  })
})

describe('client going away', () => {
  it('cancels the upstream request while waiting for headers and records 499', async () => {
    const upstream = resources.add(await startUpstream('blue', () => undefined))
    const proxy = resources.add(await startProxy({ blue: [upstream.url], green: [upstream.url] }))
    const req = http.get(`${proxy.url}/slow`, { agent: false })
    req.on('error', () => undefined)
    while (upstream.requests.length === 0) await new Promise((resolve) => setTimeout(resolve, 5))
    req.destroy()
    await upstream.requests[0]!.cancelled
    const [outcome] = await proxy.sink.waitFor(1)
    expect(outcome).toMatchObject({ color: 'blue', status: 499, errorKind: 'client' })
    expect(proxy.sink.records).toHaveLength(1)
    expect(proxy.proxy.inFlight()).toEqual({ blue: 0, green: 0 })
  })

  it('cancels the upstream request mid-stream', async () => {
    const upstream = resources.add(
      await startUpstream('blue', (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' })
        const timer = setInterval(() => res.write('data: tick\n\n'), 10)
        res.on('close', () => clearInterval(timer))
      }),
    )
    const proxy = resources.add(await startProxy({ blue: [upstream.url], green: [upstream.url] }))
    await new Promise<void>((resolve, reject) => {
      const req = http.get(`${proxy.url}/stream`, { agent: false }, (res) => {
        res.once('data', () => {
          req.destroy()
          resolve()
        })
      })
      req.on('error', () => undefined)
      setTimeout(() => reject(new Error('no data')), 2_000)
    })
    await upstream.requests[0]!.cancelled
    const [outcome] = await proxy.sink.waitFor(1)
    expect(outcome).toMatchObject({ status: 499, errorKind: 'client' })
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(proxy.sink.records).toHaveLength(1)
  })

  it('cancels the upstream request during an upload', async () => {
    const upstream = resources.add(await startUpstream('blue', (req) => void req.resume()))
    const proxy = resources.add(await startProxy({ blue: [upstream.url], green: [upstream.url] }))
    const req = http.request(`${proxy.url}/upload`, { method: 'POST', agent: false, headers: { 'content-length': 1_000_000 } })
    req.on('error', () => undefined)
    req.write(Buffer.alloc(10_000))
    while (upstream.requests.length === 0) await new Promise((resolve) => setTimeout(resolve, 5))
    req.destroy()
    await upstream.requests[0]!.cancelled
    const [outcome] = await proxy.sink.waitFor(1)
    expect(outcome).toMatchObject({ status: 499, errorKind: 'client' })
  })

  it('frees every socket after clients abandon uploads and streams: open sockets return to the baseline', async () => {
    const upstream = resources.add(
      await startUpstream('blue', (req, res) => {
        if (req.method === 'POST') return void req.resume()
        res.writeHead(200, { 'content-type': 'text/event-stream' })
        const timer = setInterval(() => res.write('data: tick\n\n'), 10)
        res.on('close', () => clearInterval(timer))
      }),
    )
    const proxy = resources.add(await startProxy({ blue: [upstream.url], green: [upstream.url] }))
    const open = (server: net.Server) => new Promise<number>((resolve) => server.getConnections((_err, n) => resolve(n)))
    let sent = 0
    const abandonRound = async () => {
      for (let i = 0; i < 20; i++, sent++) {
        const req =
          i % 2 === 0
            ? http.request(`${proxy.url}/upload`, { method: 'POST', agent: false, headers: { 'content-length': 1_000_000 } })
            : http.get(`${proxy.url}/stream`, { agent: false })
        req.on('error', () => undefined)
        if (i % 2 === 0) req.write(Buffer.alloc(10_000))
        else req.end()
        while (upstream.requests.length <= sent) await new Promise((resolve) => setTimeout(resolve, 5))
        req.destroy()
      }
      await proxy.sink.waitFor(sent)
      const start = Date.now()
      while (Date.now() - start < 3_000 && (await open(proxy.proxy.server)) > 0) await new Promise((resolve) => setTimeout(resolve, 20))
      await new Promise((resolve) => setTimeout(resolve, 100))
      return { proxy: await open(proxy.proxy.server), upstream: await open(upstream.server) }
    }
    const first = await abandonRound()
    const second = await abandonRound()
    // Client sockets are all closed; upstream sockets left are the pool's idle keep-alive ones,
    // and a second round of 20 abandoned requests does not add any.
    expect(first.proxy).toBe(0)
    expect(second.proxy).toBe(0)
    expect(second.upstream).toBeLessThanOrEqual(first.upstream)
    expect(first.upstream).toBeLessThanOrEqual(2)
    expect(proxy.proxy.inFlight()).toEqual({ blue: 0, green: 0 })
    expect(proxy.sink.records).toHaveLength(40)
    expect(proxy.sink.records.every((r) => r.status === 499 && r.errorKind === 'client')).toBe(true)
  })
})
