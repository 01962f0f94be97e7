/**
 * Large uploads through a real switchyard process do not make glibc trade heap pages with the
 * kernel (src/heap-thresholds.ts): counted as the process's minor page faults per upload, read
 * from /proc. With glibc's default thresholds each 1 MiB upload cost 120-230 faults here; with
 * them raised, under 10.
 */
import { mkdtemp, readFile } from 'node:fs/promises'
import http, { Agent } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { startCli, writeConfig, type CliProcess } from '../helpers/cli.js'

const MIB = 1024 * 1024
let upstream: http.Server | undefined
let proc: CliProcess | undefined

afterAll(async () => {
  proc?.kill('SIGTERM')
  await proc?.exit()
  upstream?.close()
})

/** Minor page faults of process `pid` so far (field 10 of /proc/PID/stat). */
async function minorFaults(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
  // Fields after the command name (in parentheses, which may hold spaces); minflt is the 10th field.
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[7])
}

/** `count` POSTs of `body`, `connections` at a time on keep-alive connections; resolves with their statuses. */
async function upload(url: string, body: Buffer, count: number, connections: number): Promise<number[]> {
  const agent = new Agent({ keepAlive: true, maxSockets: connections })
  let next = 0
  const statuses: number[] = []
  const one = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const req = http.request(url, { method: 'POST', agent, headers: { 'content-length': body.length, 'x-user-id': `u${next}` } }, (res) => {
        statuses.push(res.statusCode ?? 0)
        res.resume().on('end', resolve)
      })
      req.on('error', reject)
      req.end(body)
    })
  const lane = async (): Promise<void> => {
    while (next < count) {
      next++
      await one()
    }
  }
  await Promise.all(Array.from({ length: connections }, lane))
  agent.destroy()
  return statuses
}

describe('large uploads', () => {
  it('1 MiB uploads through the socket engine cost a few page faults each, not a heap trim and refill', { timeout: 60_000 }, async () => {
    // An upstream that reads each body whole before it answers.
    upstream = http.createServer((req, res) => {
      let size = 0
      req.on('data', (chunk: Buffer) => (size += chunk.length))
      req.on('end', () => res.end(String(size)))
    })
    await new Promise<void>((resolve) => upstream!.listen(0, '127.0.0.1', resolve))
    const target = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`
    const dir = await mkdtemp(join(tmpdir(), 'sy-uploads-'))
    const cli = await startCli(
      await writeConfig({
        proxy: { host: '127.0.0.1', port: 0 },
        admin: { host: '127.0.0.1', port: 0 },
        upstreams: { blue: { targets: [target] }, green: { targets: [target] } },
        state: { file: join(dir, 'state.json') },
      }),
    )
    proc = cli
    const body = Buffer.alloc(MIB, 'x')
    // Warm-up: pools, code, the heap's working size.
    expect(new Set(await upload(cli.proxyUrl, body, 160, 8))).toEqual(new Set([200]))
    const before = await minorFaults(cli.pid)
    const count = 240
    expect(new Set(await upload(cli.proxyUrl, body, count, 8))).toEqual(new Set([200]))
    const perUpload = ((await minorFaults(cli.pid)) - before) / count
    expect(perUpload).toBeLessThan(50)
  })
})
