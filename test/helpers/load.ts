import { createServer, Agent, request, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

/**
 * An upstream whose failures and latency a test can tune while it runs. Failures follow fixed
 * patterns (every n-th request, a path), never chance, so a test sees the same counts each run.
 */
export interface TunableUpstream {
  readonly url: string
  /** Answer 500 to every n-th request (0 = never). */
  failEvery: number
  /** Answer 500 to the next this many requests. */
  failNext: number
  /** Answer 500 to every request whose path starts with this ('' = none). */
  failPath: string
  /** Never answer (the request stays open until the client or the proxy gives up, or close()). */
  hang: boolean
  delayMs: number
  /** Requests received, and those answered 500 so far. */
  hits: number
  failures: number
  /** When the first 500 was sent (epoch ms; 0 = none yet). */
  firstFailureAt: number
  close(): Promise<void>
}

export async function startTunableUpstream(name: string): Promise<TunableUpstream> {
  const state = { failEvery: 0, failNext: 0, failPath: '', hang: false, delayMs: 0, hits: 0, failures: 0, firstFailureAt: 0 }
  const server: Server = createServer((req, res) => {
    state.hits++
    req.resume()
    if (state.hang) return
    const fail =
      state.failNext > 0 ||
      (state.failEvery > 0 && state.hits % state.failEvery === 0) ||
      (state.failPath !== '' && (req.url ?? '').startsWith(state.failPath))
    if (state.failNext > 0) state.failNext--
    const answer = () => {
      if (fail) {
        state.failures++
        if (state.firstFailureAt === 0) state.firstFailureAt = Date.now()
      }
      res.writeHead(fail ? 500 : 200, { 'content-type': 'text/plain' }).end(name)
    }
    if (state.delayMs > 0) setTimeout(answer, state.delayMs)
    else answer()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return Object.assign(state, {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  })
}

/** What a load sends, besides a new x-user-id per request. */
export interface LoadShape {
  /** The request path of the n-th request (default "/"). */
  readonly path?: (n: number) => string
  /** The client gives up (destroys the request) after this many ms without a full answer; counted as status 0. */
  readonly timeoutMs?: number
  /** The x-user-id is `${users}-${n}` (default "load"). */
  readonly users?: string
}

/** Counts per status (0: the client gave up or the connection failed); `stop()` waits for requests in flight. */
export interface Load {
  /** Requests sent so far. */
  readonly sent: () => number
  stop(): Promise<Record<number, number>>
}

function requester(url: string, agent: Agent, shape: LoadShape, counts: Record<number, number>) {
  const base = new URL(url)
  return (n: number) =>
    new Promise<void>((resolve) => {
      const target = new URL(shape.path?.(n) ?? '/', base)
      let timer: NodeJS.Timeout | undefined
      const done = (status: number) => {
        clearTimeout(timer)
        counts[status] = (counts[status] ?? 0) + 1
        resolve()
      }
      const req = request(target, { agent, headers: { 'x-user-id': `${shape.users ?? 'load'}-${n}` } }, (res) => {
        res.resume()
        res.on('end', () => done(res.statusCode ?? 0))
        res.on('error', () => done(0))
      })
      req.on('error', () => done(0))
      if (shape.timeoutMs !== undefined) timer = setTimeout(() => req.destroy(), shape.timeoutMs)
      req.end()
    })
}

/**
 * Keeps `concurrency` requests in flight against the proxy, each with a new x-user-id, until
 * stopped or `maxMs` passed (it always stops by itself). Returns counts per status.
 */
export function startLoad(url: string, concurrency = 6, maxMs = 20_000, shape: LoadShape = {}): Load {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency })
  const counts: Record<number, number> = {}
  const one = requester(url, agent, shape, counts)
  let running = true
  let n = 0
  const deadline = Date.now() + maxMs
  const loops = Array.from({ length: concurrency }, async () => {
    while (running && Date.now() < deadline) await one(n++)
  })
  return {
    sent: () => n,
    async stop() {
      running = false
      await Promise.all(loops)
      agent.destroy()
      return counts
    },
  }
}

/**
 * Sends `perSecond` requests a second on a fixed schedule whatever the answers take (an open
 * loop, as real clients are), each with a new x-user-id, until stopped or `maxMs` passed.
 */
export function startPacedLoad(url: string, perSecond: number, maxMs = 20_000, shape: LoadShape = {}): Load {
  const agent = new Agent({ keepAlive: true, maxSockets: 256 })
  const counts: Record<number, number> = {}
  const one = requester(url, agent, shape, counts)
  const inFlight = new Set<Promise<void>>()
  const started = Date.now()
  let n = 0
  const send = () => {
    const now = Date.now()
    if (now - started >= maxMs) return stopTimer()
    // Catch up after a late timer: the schedule, not the timer, sets the rate.
    const due = Math.floor(((now - started) * perSecond) / 1000) + 1
    while (n < due) {
      const p = one(n++)
      inFlight.add(p)
      void p.then(() => inFlight.delete(p))
    }
  }
  const timer = setInterval(send, Math.max(1, Math.min(50, Math.floor(1000 / perSecond))))
  const stopTimer = () => clearInterval(timer)
  send()
  return {
    sent: () => n,
    async stop() {
      stopTimer()
      await Promise.all(inFlight)
      agent.destroy()
      return counts
    },
  }
}
