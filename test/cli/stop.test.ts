import { mkdtemp } from 'node:fs/promises'
import http, { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { startCli, writeConfig, type CliProcess } from '../helpers/cli.js'

/** An upstream whose `/sse` sends an event every 50 ms for 20 s: longer than any drain here. */
let upstream: Server
let upstreamUrl: string
const running: CliProcess[] = []

beforeAll(async () => {
  upstream = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    let n = 0
    const tick = setInterval(() => {
      res.write(`data: ${++n}\n\n`)
      if (n === 400) {
        clearInterval(tick)
        res.end()
      }
    }, 50)
    res.write('data: 0\n\n')
    res.on('close', () => clearInterval(tick))
  })
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve))
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`
})
afterEach(async () => {
  for (const proc of running.splice(0)) {
    proc.kill('SIGKILL')
    await proc.exit()
  }
})
afterAll(async () => {
  upstream.closeAllConnections()
  await new Promise<void>((resolve) => upstream.close(() => resolve()))
})

async function start(deadline: string, workers = 1): Promise<CliProcess & { proxyUrl: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'sy-stop-'))
  const proc = await startCli(
    await writeConfig({
      proxy: { host: '127.0.0.1', port: 0 },
      admin: { host: '127.0.0.1', port: 0 },
      upstreams: { blue: { targets: [upstreamUrl] }, green: { targets: [upstreamUrl] } },
      split: { green: 0 },
      state: { file: join(dir, 'state.json') },
      drain: { deadline },
      workers,
    }),
  )
  running.push(proc)
  return proc
}

interface OpenStream {
  /** Events received so far. */
  events(): number
  /** Resolves when the response ends or breaks, with the time and how. */
  readonly ended: Promise<{ at: number; how: 'end' | 'error' }>
}

function openStream(url: string): Promise<OpenStream> {
  return new Promise((resolve, reject) => {
    let events = 0
    const req = http.get(`${url}/sse`, (res) => {
      const ended = new Promise<{ at: number; how: 'end' | 'error' }>((done) => {
        res.on('end', () => done({ at: Date.now(), how: 'end' }))
        res.on('error', () => done({ at: Date.now(), how: 'error' }))
        res.on('close', () => done({ at: Date.now(), how: res.complete ? 'end' : 'error' }))
      })
      res.setEncoding('utf8').on('data', (chunk: string) => {
        events += chunk.split('\n\n').length - 1
      })
      res.once('data', () => resolve({ events: () => events, ended }))
    })
    req.on('error', reject)
  })
}

describe('graceful stop of the switchyard process', () => {
  it.each([1, 2])('workers: %i: SIGTERM lets a stream run until drain.deadline, refuses new connections, then exits 0', async (workers) => {
    const proc = await start('1s', workers)
    const stream = await openStream(proc.proxyUrl)
    const signalled = Date.now()
    proc.kill('SIGTERM')
    await new Promise((resolve) => setTimeout(resolve, 300))
    // Stopped accepting: a new connection is refused while the stream keeps flowing.
    await expect(fetch(proc.proxyUrl)).rejects.toThrow()
    const seen = stream.events()
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(stream.events()).toBeGreaterThan(seen)

    const ended = await stream.ended
    expect(ended.at - signalled).toBeGreaterThanOrEqual(900)
    expect(ended.at - signalled).toBeLessThan(4_000)
    expect(await proc.exit()).toBe(0)
    // About 20 events a second for the one-second drain.
    expect(stream.events()).toBeGreaterThanOrEqual(15)
  })

  it.each([1, 2])('workers: %i: SIGTERM still ends the process when whoever read its stdout has gone (a broken pipe)', async (workers) => {
    const proc = await start('10s', workers)
    // The log reader goes away (a log shipper that died, `| head`): every later log line meets EPIPE.
    proc.child.stdout!.destroy()
    const signalled = Date.now()
    proc.kill('SIGTERM')
    expect(await proc.exit()).toBe(0)
    // Nothing in flight, so no drain to wait for: the exit is bounded by the one-second log flush at most.
    expect(Date.now() - signalled).toBeLessThan(5_000)
  })

  it.each([1, 2])('workers: %i: a second SIGTERM exits at once, without waiting for the drain', async (workers) => {
    const proc = await start('10s', workers)
    const stream = await openStream(proc.proxyUrl)
    proc.kill('SIGTERM')
    await proc.waitForLog((l) => String(l.msg).startsWith('draining'))
    const second = Date.now()
    proc.kill('SIGTERM')
    const code = await proc.exit()
    expect(Date.now() - second).toBeLessThan(1_500)
    expect(code).toBe(1)
    // The stream is cut at once (workers exit with the primary), not ended as if complete.
    const ended = await stream.ended
    expect(ended.how).toBe('error')
    expect(ended.at - second).toBeLessThan(1_500)
  })
})
