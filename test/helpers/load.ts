import { createServer, Agent, request, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

/** An upstream whose failures and latency a test can tune while it runs. */
export interface TunableUpstream {
  readonly url: string
  /** Answer 500 to every n-th request (0 = never). */
  failEvery: number
  /** Answer 500 to the next this many requests. */
  failNext: number
  delayMs: number
  hits: number
  close(): Promise<void>
}

export async function startTunableUpstream(name: string): Promise<TunableUpstream> {
  const state = { failEvery: 0, failNext: 0, delayMs: 0, hits: 0 }
  const server: Server = createServer((req, res) => {
    state.hits++
    const fail = state.failNext > 0 || (state.failEvery > 0 && state.hits % state.failEvery === 0)
    if (state.failNext > 0) state.failNext--
    req.resume()
    const answer = () => res.writeHead(fail ? 500 : 200, { 'content-type': 'text/plain' }).end(name)
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

/**
 * Keeps `concurrency` requests in flight against the proxy, each with a new x-user-id, until
 * stopped or `maxMs` passed (it always stops by itself). Returns counts per status.
 */
export function startLoad(url: string, concurrency = 6, maxMs = 20_000): { stop(): Promise<Record<number, number>> } {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency })
  const counts: Record<number, number> = {}
  let running = true
  let n = 0
  const deadline = Date.now() + maxMs
  const one = () =>
    new Promise<void>((resolve) => {
      const req = request(url, { agent, headers: { 'x-user-id': `load-${n++}` } }, (res) => {
        counts[res.statusCode ?? 0] = (counts[res.statusCode ?? 0] ?? 0) + 1
        res.resume()
        res.on('end', resolve)
        res.on('error', () => resolve())
      })
      req.on('error', () => resolve())
      req.end()
    })
  const loops = Array.from({ length: concurrency }, async () => {
    while (running && Date.now() < deadline) await one()
  })
  return {
    async stop() {
      running = false
      await Promise.all(loops)
      agent.destroy()
      return counts
    },
  }
}
