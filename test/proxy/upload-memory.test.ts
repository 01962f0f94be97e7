import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import http from 'node:http'
import { Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startUpstream, type Upstream } from '../helpers/upstream-server.js'

const FIXTURE = fileURLToPath(new URL('../helpers/upstream-proxy-fixture.ts', import.meta.url))
const MB = 1024 * 1024

/** Peak resident set size of a process, in bytes. */
function peakRss(pid: number): number {
  const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  if (match === null) throw new Error('no VmHWM')
  return Number(match[1]) * 1024
}

/** Uploads `total` bytes generated on the fly; resolves with the upstream's byte count. */
function upload(port: number, total: number): Promise<number> {
  const chunk = Buffer.alloc(256 * 1024, 'z')
  function* body(): Generator<Buffer> {
    for (let sent = 0; sent < total; sent += chunk.length) yield sent + chunk.length <= total ? chunk : chunk.subarray(0, total - sent)
  }
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/upload', agent: false, headers: { 'content-length': total } })
    req.on('error', reject)
    req.on('response', (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (part: string) => (text += part))
      res.on('end', () => resolve((JSON.parse(text) as { bytes: number }).bytes))
      res.on('error', reject)
    })
    Readable.from(body(), { objectMode: false }).pipe(req)
  })
}

describe.skipIf(!existsSync('/proc/self/status'))('large upload', () => {
  let upstream: Upstream
  let child: ChildProcessWithoutNullStreams
  let port: number

  beforeAll(async () => {
    upstream = await startUpstream('counter', (req, res) => {
      let bytes = 0
      req.on('data', (chunk: Buffer) => (bytes += chunk.length))
      req.on('end', () => res.end(JSON.stringify({ bytes })))
    })
    child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, upstream.url], { stdio: 'pipe' })
    port = await new Promise<number>((resolve, reject) => {
      let out = ''
      child.stdout.setEncoding('utf8')
      child.stdout.on('data', (part: string) => {
        out += part
        const line = out.split('\n')[0]
        if (out.includes('\n') && line !== undefined) resolve((JSON.parse(line) as { port: number }).port)
      })
      child.on('exit', (code) => reject(new Error(`fixture exited with ${code}`)))
    })
  }, 20_000)

  afterAll(async () => {
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      await exited
    }
    await upstream.close()
  })

  it('streams 200 MB through the proxy without growing its memory by more than a few MB', async () => {
    // Warm up. Besides JIT and pools, V8 lets ~50 MB of dead socket-read buffers pile up
    // before its first external-memory GC; that step is the same for a 100 MB or an 800 MB
    // body, so it belongs in the baseline. What must not show is growth with the body size.
    for (let i = 0; i < 2; i++) expect(await upload(port, 64 * MB)).toBe(64 * MB)
    const before = peakRss(child.pid!)
    const total = 200 * MB
    expect(await upload(port, total)).toBe(total)
    const growth = peakRss(child.pid!) - before
    expect(growth).toBeLessThan(30 * MB)
  }, 20_000)
})
