import http, { type IncomingHttpHeaders } from 'node:http'
import { pino, type Logger } from 'pino'
import { createProxyServer, type ProxyServer } from '../../src/proxy/proxy-server.js'
import { DEFAULT_LIMITS, type ErrorKind, type OutcomeSink, type ProxyLimits, type ProxyTimeouts } from '../../src/proxy/types.js'
import { Router, type RoutingPolicy } from '../../src/routing/router.js'
import { makeTable, type Color, type RoutingTable } from '../../src/routing/types.js'

/** The routing policy every proxy test uses. */
export const POLICY: RoutingPolicy = {
  keys: ['header:x-user-id'],
  cookie: 'sy_sid',
  cookieMaxAgeSeconds: 86400,
  overrideHeader: 'x-switchyard-color',
}

/** Generous defaults so that only the timeout under test fires. */
export const TIMEOUTS: ProxyTimeouts = { connect: 2_000, request: 10_000, idle: 0 }

/** One sink.record call. */
export interface Outcome {
  readonly color: Color
  readonly status: number
  readonly durationMs: number
  readonly errorKind: ErrorKind | undefined
  /** Time to the first byte the client got; -1 for none. */
  readonly ttfbMs: number
  readonly url: string | undefined
}

/** An OutcomeSink that keeps every call. */
export class RecordingSink implements OutcomeSink {
  readonly records: Outcome[] = []

  record(color: Color, status: number, durationMs: number, errorKind: ErrorKind | undefined, ttfbMs: number, url: string | undefined): void {
    this.records.push({ color, status, durationMs, errorKind, ttfbMs, url })
  }

  /** The records without their timings and URLs, for exact comparisons. */
  outcomes(): Array<Pick<Outcome, 'color' | 'status' | 'errorKind'>> {
    return this.records.map(({ color, status, errorKind }) => ({ color, status, errorKind }))
  }

  /** Waits until at least `count` outcomes are in (outcomes of failures may trail the client). */
  async waitFor(count: number, timeoutMs = 5_000): Promise<Outcome[]> {
    const until = Date.now() + timeoutMs
    while (this.records.length < count) {
      if (Date.now() > until) throw new Error(`expected ${count} outcomes, got ${this.records.length}`)
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
    return this.records
  }
}

/** A started proxy with its sink and a settable routing table. */
export interface TestProxy {
  readonly proxy: ProxyServer
  readonly port: number
  readonly url: string
  readonly sink: RecordingSink
  /** Publishes a new table with this many green buckets (0..10000). */
  setGreenBuckets(greenBuckets: number): void
  close(): Promise<void>
}

/** Options of `startProxy`; targets are required, the rest has test defaults. */
export interface TestProxyOptions {
  readonly blue: readonly string[]
  readonly green: readonly string[]
  readonly greenBuckets?: number
  readonly timeouts?: Partial<ProxyTimeouts>
  readonly logger?: Logger
  readonly accessLog?: boolean
  /** x-request-id on every request (the proxy's default: on). */
  readonly requestId?: boolean
  /** Merged over the proxy's defaults. */
  readonly limits?: Partial<ProxyLimits>
  /** The data path's engine; the proxy's default when absent. */
  readonly engine?: 'sockets' | 'node'
}

/** Starts a proxy on 127.0.0.1, port 0. */
export async function startProxy(options: TestProxyOptions): Promise<TestProxy> {
  let table: RoutingTable = makeTable(1, options.greenBuckets ?? 0)
  const sink = new RecordingSink()
  const proxy = createProxyServer({
    tables: { current: () => table },
    router: new Router(POLICY),
    sink,
    upstreams: { blue: options.blue, green: options.green },
    timeouts: { ...TIMEOUTS, ...options.timeouts },
    logger: options.logger ?? pino({ level: 'silent' }),
    accessLog: options.accessLog ?? false,
    ...(options.requestId === undefined ? {} : { requestId: options.requestId }),
    ...(options.limits === undefined ? {} : { limits: { ...DEFAULT_LIMITS, ...options.limits } }),
    ...(options.engine === undefined ? {} : { engine: options.engine }),
  })
  const address = await proxy.listen(0, '127.0.0.1')
  return {
    proxy,
    port: address.port,
    url: `http://127.0.0.1:${address.port}`,
    sink,
    setGreenBuckets(greenBuckets) {
      table = makeTable(table.generation + 1, greenBuckets)
    },
    close: () => proxy.close(0),
  }
}

/** A response as a test client saw it. */
export interface Reply {
  readonly status: number
  readonly statusMessage: string
  readonly headers: IncomingHttpHeaders
  readonly rawHeaders: readonly string[]
  readonly body: string
}

/** A request for `send`. */
export interface Send {
  readonly method?: string
  readonly path?: string
  readonly headers?: http.OutgoingHttpHeaders | undefined
  readonly body?: string | Buffer | undefined
  readonly agent?: http.Agent
}

/** Sends one request on a fresh connection (or `agent`) and reads the whole answer. */
export function send(baseUrl: string, request: Send = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${baseUrl}${request.path ?? '/'}`, {
      method: request.method ?? 'GET',
      headers: request.headers,
      agent: request.agent ?? false,
    })
    req.on('error', reject)
    req.on('response', (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('error', reject)
      res.on('end', () => {
        resolve({
          status: res.statusCode ?? 0,
          statusMessage: res.statusMessage ?? '',
          headers: res.headers,
          rawHeaders: res.rawHeaders,
          body: Buffer.concat(chunks).toString('utf8'),
        })
      })
    })
    req.end(request.body)
  })
}

/** Collects things to close and closes them all, newest first. */
export class Resources {
  readonly #items: Array<{ close(): Promise<void> }> = []

  /** Registers `item` and returns it. */
  add<T extends { close(): Promise<void> }>(item: T): T {
    this.#items.push(item)
    return item
  }

  async closeAll(): Promise<void> {
    const items = this.#items.splice(0).reverse()
    for (const item of items) await item.close()
  }
}

/** A response that may have been cut: `complete` is false when the body ended in an error. */
export interface PartialReply {
  readonly status: number
  readonly headers: IncomingHttpHeaders
  readonly body: string
  readonly complete: boolean
}

/** Sends a GET and reports what arrived even if the connection breaks inside the body. */
export function fetchPartial(baseUrl: string, path = '/', headers: http.OutgoingHttpHeaders = {}): Promise<PartialReply> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${baseUrl}${path}`, { agent: false, headers })
    req.on('error', reject)
    req.on('response', (res) => {
      const chunks: Buffer[] = []
      let settled = false
      const finish = (complete: boolean) => {
        if (settled) return
        settled = true
        const body = Buffer.concat(chunks).toString('utf8')
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, complete })
      }
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => finish(res.complete))
      res.on('error', () => finish(false))
      res.on('close', () => finish(false))
    })
  })
}
