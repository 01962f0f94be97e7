/** Small HTTP probes: wait until a system answers, and check that it really splits 90/10 and sticks. */
import { request } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Tracked } from './procs.js'

export interface Reply {
  readonly status: number
  readonly body: string
}

/** One GET on a fresh connection (no keep-alive), bounded by `timeoutMs`. */
export function get(url: string, headers: Record<string, string> = {}, timeoutMs = 2000): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'GET', headers: { connection: 'close', ...headers }, agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => {
        if (body.length < 4096) body += d
      })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
      res.on('error', reject)
    })
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)))
    req.on('error', reject)
    req.end()
  })
}

/** Polls `url` until it answers 200; fails early if `process` exits. `headers` go with every probe (e.g. a Host). */
export async function waitForHttp(url: string, deadlineMs: number, process?: Tracked, headers: Record<string, string> = {}): Promise<void> {
  const until = Date.now() + deadlineMs
  let last = 'no answer'
  while (Date.now() < until) {
    if (process?.hasExited()) throw new Error(`${process.name} exited before answering on ${url}`)
    try {
      const reply = await get(url, { ...headers, 'x-user-id': 'bench-probe' }, 1000)
      if (reply.status === 200) return
      last = `status ${reply.status}: ${reply.body.slice(0, 200)}`
    } catch (err) {
      last = (err as Error).message
    }
    await sleep(100)
  }
  throw new Error(`${url} did not answer 200 within ${deadlineMs} ms (last: ${last})`)
}

export interface SplitCheck {
  readonly users: number
  /** Share of distinct users that got the green upstream, in percent. */
  readonly greenPercent: number
  /** Users whose second request went to another colour than the first. */
  readonly unsticky: number
  readonly failed: number
}

/** Sends two requests for each of `users` distinct x-user-id values and counts colours. */
export async function checkSplit(url: string, users = 300, headers: Record<string, string> = {}): Promise<SplitCheck> {
  let green = 0
  let unsticky = 0
  let failed = 0
  const colorOf = async (id: string): Promise<string | undefined> => {
    try {
      const reply = await get(url, { ...headers, 'x-user-id': id })
      if (reply.status !== 200) return undefined
      return reply.body.startsWith('green') ? 'green' : reply.body.startsWith('blue') ? 'blue' : undefined
    } catch {
      return undefined
    }
  }
  for (let i = 0; i < users; i++) {
    const id = `check-${i}`
    const first = await colorOf(id)
    const second = await colorOf(id)
    if (first === undefined || second === undefined) {
      failed++
      continue
    }
    if (first === 'green') green++
    if (first !== second) unsticky++
  }
  const answered = users - failed
  return { users, greenPercent: answered === 0 ? 0 : (100 * green) / answered, unsticky, failed }
}

export interface StreamCheck {
  /** Milliseconds from sending the request to the first body chunk; ≈ total when the proxy buffers. */
  readonly firstChunkMs: number
  readonly totalMs: number
  readonly chunks: number
}

/** Times one GET of a streamed response: a proxy that buffers shows its first chunk only at the end. */
export function checkStream(url: string, timeoutMs = 5000, headers: Record<string, string> = {}): Promise<StreamCheck> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint()
    const elapsed = (): number => Number(process.hrtime.bigint() - started) / 1e6
    let first = -1
    let chunks = 0
    const req = request(url, { headers: { ...headers, 'x-user-id': 'bench-stream', connection: 'close' }, agent: false }, (res) => {
      res.on('data', () => {
        if (first < 0) first = elapsed()
        chunks++
      })
      res.on('end', () => resolve({ firstChunkMs: first, totalMs: elapsed(), chunks }))
      res.on('error', reject)
    })
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)))
    req.on('error', reject)
    req.end()
  })
}
