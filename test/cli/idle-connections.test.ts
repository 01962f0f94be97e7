import { mkdtemp } from 'node:fs/promises'
import { Agent, request } from 'node:http'
import { connect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { startCli, writeConfig, type CliProcess } from '../helpers/cli.js'
import { startColorUpstream, type ColorUpstream } from '../helpers/color-upstream.js'

const IDLE = Number(process.env.SY_IDLE ?? 10_000)
const BATCH = 500

let upstream: ColorUpstream | undefined
let proc: CliProcess | undefined
const sockets: Socket[] = []

afterAll(async () => {
  for (const socket of sockets) socket.destroy()
  proc?.kill('SIGTERM')
  await proc?.exit()
  await upstream?.close()
})

/** Opens one keep-alive connection, makes one request on it and leaves it open and idle. */
function idleConnection(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    let seen = ''
    socket.setEncoding('latin1')
    socket.on('error', reject)
    socket.on('connect', () => socket.write('GET /idle HTTP/1.1\r\nHost: idle\r\nx-user-id: idle\r\n\r\n'))
    socket.on('data', (chunk: string) => {
      seen += chunk
      // The upstream answers "blue", chunked: the last chunk ends the answer.
      if (seen.includes('blue') && seen.endsWith('0\r\n\r\n')) resolve(socket)
    })
  })
}

describe('idle keep-alive connections', () => {
  it(`${IDLE.toLocaleString('en')} idle keep-alive connections do not starve active clients`, async () => {
    upstream = await startColorUpstream('blue')
    const dir = await mkdtemp(join(tmpdir(), 'sy-idle-'))
    const cli = await startCli(
      await writeConfig({
        proxy: { host: '127.0.0.1', port: 0 },
        admin: { host: '127.0.0.1', port: 0 },
        upstreams: { blue: { targets: [upstream.url] }, green: { targets: [upstream.url] } },
        state: { file: join(dir, 'state.json') },
      }),
    )
    proc = cli
    const port = Number(new URL(cli.proxyUrl).port)
    for (let i = 0; i < IDLE; i += BATCH) {
      sockets.push(...(await Promise.all(Array.from({ length: Math.min(BATCH, IDLE - i) }, () => idleConnection(port)))))
    }
    expect(sockets.filter((s) => !s.destroyed)).toHaveLength(IDLE)

    // An active client still gets every answer, promptly, while all of them stay open.
    const agent = new Agent({ keepAlive: true, maxSockets: 4 })
    const latencies: number[] = []
    for (let i = 0; i < 200; i++) {
      const started = performance.now()
      const status = await new Promise<number>((resolve, reject) => {
        const req = request(`${cli.proxyUrl}/active`, { agent, headers: { 'x-user-id': `active-${i}` } }, (res) => {
          res.resume()
          res.on('end', () => resolve(res.statusCode ?? 0))
        })
        req.on('error', reject)
        req.end()
      })
      latencies.push(performance.now() - started)
      expect(status).toBe(200)
    }
    agent.destroy()
    latencies.sort((a, b) => a - b)
    // Generous: a starved client would wait seconds; a healthy one takes about a millisecond.
    expect(latencies[Math.floor(latencies.length * 0.99)]).toBeLessThan(250)
    expect(sockets.filter((s) => !s.destroyed)).toHaveLength(IDLE)
  }, 60_000)
})
