import type { Config } from '../../config/schema.js'
import type { WindowDelta } from '../../outcomes/window-delta.js'
import type { HealthCheckSettings } from '../../config/schema.js'
import type { ConnectionCounts } from '../../proxy/proxy-state.js'
import type { Certificate } from '../../proxy/tls.js'
import type { ProxyTimeouts, TargetHealth } from '../../proxy/types.js'
import type { Color } from '../../routing/types.js'
import type { Captured, Pair } from '../../shadow/captured.js'

/** Primary -> worker. */
export type ToWorker =
  | {
      readonly t: 'init'
      readonly config: Config
      readonly targets: Record<Color, readonly string[]>
      readonly generation: number
      readonly greenBuckets: number
      readonly salt: string
      readonly mirrorBuckets: number
      /** proxy.tls as the primary read it (PEM text); null: plain HTTP. */
      readonly certificates: readonly Certificate[] | null
    }
  | { readonly t: 'table'; readonly seq: number; readonly generation: number; readonly greenBuckets: number; readonly salt: string; readonly mirrorBuckets: number }
  | { readonly t: 'targets'; readonly color: Color; readonly targets: readonly string[] }
  | { readonly t: 'timeouts'; readonly timeouts: ProxyTimeouts }
  | { readonly t: 'certificates'; readonly certificates: readonly Certificate[] }
  | { readonly t: 'health'; readonly healthCheck: HealthCheckSettings; readonly outlier: Config['outlierDetection'] }
  | { readonly t: 'drainColor'; readonly color: Color; readonly deadlineMs: number }
  | { readonly t: 'cancelDrain'; readonly color: Color }
  | { readonly t: 'query'; readonly id: number; readonly what: 'metrics' | 'status' }
  | { readonly t: 'drain'; readonly deadlineMs: number }

/** Worker -> primary. */
export type FromWorker =
  | { readonly t: 'hello' }
  | { readonly t: 'ready'; readonly port: number }
  | { readonly t: 'failed'; readonly message: string }
  | { readonly t: 'applied'; readonly seq: number }
  | { readonly t: 'window'; readonly deltas: readonly WindowDelta[] }
  | { readonly t: 'pairs'; readonly pairs: readonly WirePair[] }
  | { readonly t: 'answer'; readonly id: number; readonly metrics: object }
  | {
      readonly t: 'answer'
      readonly id: number
      readonly health: Record<Color, readonly TargetHealth[]>
      readonly inFlight: Record<Color, number>
      readonly connections: Record<Color, ConnectionCounts>
      readonly requests: number
    }

/** How often a worker reports its window counts; auto-revert sees errors this much later at most. */
export const WINDOW_REPORT_MS = 100

/** Set in a forked worker's environment: the worker's slot number. */
export const WORKER_ENV = 'SWITCHYARD_WORKER'

/** A captured answer as IPC carries it: the body in base64 (IPC is JSON). */
type WireCaptured = Omit<Captured, 'body'> & { readonly body: string | null }

/** A shadow pair as a worker reports it to the primary. */
export type WirePair = Omit<Pair, 'blue' | 'green' | 'blueTwin'> & { readonly blue: WireCaptured; readonly green: WireCaptured; readonly blueTwin?: WireCaptured }

const toWire = (c: Captured): WireCaptured => ({ ...c, body: c.body === null ? null : c.body.toString('base64') })
const fromWire = (c: WireCaptured): Captured => ({ ...c, body: c.body === null ? null : Buffer.from(c.body, 'base64') })

export function encodePair(p: Pair): WirePair {
  const base = { route: p.route, method: p.method, path: p.path, blue: toWire(p.blue), green: toWire(p.green) }
  return p.blueTwin === undefined ? base : { ...base, blueTwin: toWire(p.blueTwin) }
}

export function decodePair(p: WirePair): Pair {
  const base = { route: p.route, method: p.method, path: p.path, blue: fromWire(p.blue), green: fromWire(p.green) }
  return p.blueTwin === undefined ? base : { ...base, blueTwin: fromWire(p.blueTwin) }
}
