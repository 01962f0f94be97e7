import type { Config, HealthCheckSettings } from '../../config/schema.js'
import type { ServiceSpec } from '../../config/services.js'
import type { WindowDelta } from '../../outcomes/window-delta.js'
import type { ConnectionCounts } from '../../proxy/proxy-state.js'
import type { Certificate } from '../../proxy/tls.js'
import type { ProxyTimeouts, TargetHealth } from '../../proxy/types.js'
import { makeTable, type Color, type RoutingTable } from '../../routing/types.js'
import type { Captured, Pair } from '../../shadow/captured.js'

/** A routing table as IPC carries it: its hash seeds are derived again from the salt. */
export interface WireTable {
  readonly generation: number
  readonly greenBuckets: number
  readonly salt: string
  readonly mirrorBuckets: number
}

export const toWireTable = (t: RoutingTable): WireTable => ({ generation: t.generation, greenBuckets: t.greenBuckets, salt: t.salt, mirrorBuckets: t.mirrorBuckets })
export const fromWireTable = (t: WireTable): RoutingTable => makeTable(t.generation, t.greenBuckets, t.salt, t.mirrorBuckets)

/** A service's health settings as reloaded since its config was read. */
export interface WireHealth {
  readonly healthCheck: HealthCheckSettings
  readonly outlier: Config['outlierDetection']
}

/** One service as a worker builds its lane: its spec, and what the primary has pushed to it since. */
export interface WireService {
  /** Its match rules as they are now, and the config its lanes were first built with (the same in every worker). */
  readonly spec: ServiceSpec
  readonly targets: Record<Color, readonly string[]>
  readonly table: WireTable
  readonly timeouts: ProxyTimeouts
  readonly health: WireHealth | null
}

/** What a worker answers a status query with, for one service's lane. */
export interface LaneStatus {
  readonly health: Record<Color, readonly TargetHealth[]>
  readonly inFlight: Record<Color, number>
  readonly connections: Record<Color, ConnectionCounts>
  /** Requests this lane finished in this worker. */
  readonly requests: number
}

/**
 * Primary -> worker. Whatever concerns one service names it; a single-service switchyard's
 * one service is `default`. `seq` rises with every table and every change of services, so
 * one acknowledgement (`applied`) confirms all that came before it.
 */
export type ToWorker =
  | {
      readonly t: 'init'
      /** The config the primary started with: the server's own settings (listener, limits, logs). */
      readonly config: Config
      /** Several services (lanes by Host and path, a `service` metric label), or the one `default` as before them. */
      readonly several: boolean
      readonly defaultService: string | null
      /** Every service as it is now: a worker started later routes as the others do. */
      readonly services: readonly WireService[]
      /** Several services: the server's header timeout as reloaded since (one service: its timeouts carry it). */
      readonly headerTimeouts: ProxyTimeouts
      /** The table sequence number the services above include. */
      readonly seq: number
      /** proxy.tls as the primary read it (PEM text); null: plain HTTP. */
      readonly certificates: readonly Certificate[] | null
    }
  | { readonly t: 'services'; readonly seq: number; readonly defaultService: string | null; readonly services: readonly WireService[] }
  | { readonly t: 'table'; readonly service: string; readonly seq: number; readonly table: WireTable }
  | { readonly t: 'targets'; readonly service: string; readonly color: Color; readonly targets: readonly string[] }
  | { readonly t: 'timeouts'; readonly service: string; readonly timeouts: ProxyTimeouts }
  | { readonly t: 'headerTimeout'; readonly timeouts: ProxyTimeouts }
  | { readonly t: 'certificates'; readonly certificates: readonly Certificate[] }
  | ({ readonly t: 'health'; readonly service: string } & WireHealth)
  | { readonly t: 'drainColor'; readonly service: string; readonly color: Color; readonly deadlineMs: number }
  | { readonly t: 'cancelDrain'; readonly service: string; readonly color: Color }
  | { readonly t: 'query'; readonly id: number; readonly what: 'metrics' | 'status' }
  | { readonly t: 'drain'; readonly deadlineMs: number }

/** Worker -> primary. */
export type FromWorker =
  | { readonly t: 'hello' }
  | { readonly t: 'ready'; readonly port: number }
  | { readonly t: 'failed'; readonly message: string }
  | { readonly t: 'applied'; readonly seq: number }
  | { readonly t: 'window'; readonly service: string; readonly deltas: readonly WindowDelta[] }
  | { readonly t: 'pairs'; readonly service: string; readonly pairs: readonly WirePair[] }
  | { readonly t: 'answer'; readonly id: number; readonly metrics: object }
  | { readonly t: 'answer'; readonly id: number; readonly services: Readonly<Record<string, LaneStatus>> }

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
