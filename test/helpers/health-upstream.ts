import { startUpstream } from './upstream-server.js'

/** The health path every health test probes. */
export const HEALTH_PATH = '/healthz'

/**
 * A real upstream for health tests: `HEALTH_PATH` answers `healthStatus` (or never, for
 * 'hang'); every other path answers `status` with the upstream's name as the body.
 */
export interface HealthUpstream {
  readonly name: string
  readonly url: string
  status: number
  healthStatus: number | 'hang'
  /** Health probes received. */
  probes: number
  /** Other requests received. */
  served: number
  close(): Promise<void>
}

/** Starts a HealthUpstream on 127.0.0.1, port 0; it answers 200 everywhere at first. */
export async function startHealthUpstream(name: string): Promise<HealthUpstream> {
  const state = { status: 200, healthStatus: 200 as number | 'hang', probes: 0, served: 0 }
  const upstream = await startUpstream(name, (req, res) => {
    req.resume()
    if (req.url === HEALTH_PATH) {
      state.probes++
      if (state.healthStatus !== 'hang') res.writeHead(state.healthStatus, { 'content-length': 0 }).end()
      return
    }
    state.served++
    res.writeHead(state.status, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(name) }).end(name)
  })
  return Object.assign(state, { name, url: upstream.url, close: () => upstream.close() })
}

/** Polls `check` every 10 ms until it is true; throws after `timeoutMs`. */
export async function waitUntil(check: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const until = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}
