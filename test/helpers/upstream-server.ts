import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http'
import net, { type AddressInfo, type Socket } from 'node:net'

/** What an upstream saw of one request. */
export interface RecordedRequest {
  readonly method: string
  readonly url: string
  readonly headers: IncomingHttpHeaders
  readonly rawHeaders: readonly string[]
  /** Index of the connection it arrived on, in order of first use. */
  readonly socketIndex: number
  /** Resolves when the response closed before it was finished (the proxy cancelled it). */
  readonly cancelled: Promise<void>
}

/** Handles a request on a test upstream; the request body is unread. */
export type UpstreamHandler = (req: IncomingMessage, res: ServerResponse, upstream: Upstream) => void | Promise<void>

/** A real node:http upstream on 127.0.0.1 that records every request and socket. */
export interface Upstream {
  readonly name: string
  readonly port: number
  readonly url: string
  readonly server: http.Server
  readonly requests: RecordedRequest[]
  readonly sockets: Socket[]
  close(): Promise<void>
}

/** The JSON an echo upstream answers with. */
export interface Echo {
  readonly upstream: string
  readonly method: string
  readonly url: string
  readonly headers: IncomingHttpHeaders
  readonly body: string
}

/** Reads a whole request body. */
export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

/** Answers with the request's method, url, headers and body as JSON (no body for HEAD). */
export const echo: UpstreamHandler = async (req, res, upstream) => {
  const body = await readBody(req)
  const answer: Echo = {
    upstream: upstream.name,
    method: req.method ?? '',
    url: req.url ?? '',
    headers: req.headers,
    body: body.toString('utf8'),
  }
  const json = JSON.stringify(answer)
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) })
  res.end(req.method === 'HEAD' ? undefined : json)
}

/** Starts an upstream on `port` (default: an ephemeral one); `handler` defaults to the echo. */
export async function startUpstream(name: string, handler: UpstreamHandler = echo, port = 0): Promise<Upstream> {
  const requests: RecordedRequest[] = []
  const sockets: Socket[] = []
  const server = http.createServer()
  server.on('connection', (socket) => sockets.push(socket))
  const address = await new Promise<AddressInfo>((resolve) => {
    server.listen(port, '127.0.0.1', () => resolve(server.address() as AddressInfo))
  })
  const upstream: Upstream = {
    name,
    port: address.port,
    url: `http://127.0.0.1:${address.port}`,
    server,
    requests,
    sockets,
    async close() {
      server.closeAllConnections()
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    requests.push({
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      rawHeaders: req.rawHeaders,
      socketIndex: sockets.indexOf(req.socket),
      cancelled: new Promise((resolve) => res.on('close', () => !res.writableFinished && resolve())),
    })
    Promise.resolve(handler(req, res, upstream)).catch((err: unknown) => {
      res.destroy(err instanceof Error ? err : new Error(String(err)))
    })
  })
  return upstream
}

/**
 * Ports below Linux's ephemeral range (32768-60999): `listen(0)` never hands one out, so a server
 * another test starts cannot take it while a test counts on it being closed (a port bound and
 * released could be, and then a "down" target answered). Each worker starts somewhere else in it.
 */
const CLOSED_PORTS = { from: 20_000, to: 25_000 }
let nextClosed = CLOSED_PORTS.from + Math.floor(Math.random() * (CLOSED_PORTS.to - CLOSED_PORTS.from))

/** Whether a connection to 127.0.0.1:`port` is refused. */
function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1')
    socket.once('connect', () => {
      socket.destroy()
      resolve(false)
    })
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'))
  })
}

/** A port on 127.0.0.1 that nothing listens on, and that no test server will take (CLOSED_PORTS); another each call. */
export async function closedPort(): Promise<number> {
  for (;;) {
    const port = nextClosed
    nextClosed = nextClosed + 1 >= CLOSED_PORTS.to ? CLOSED_PORTS.from : nextClosed + 1
    if (await refused(port)) return port
  }
}

/** A promise with its resolve function exposed, to let a test release an upstream. */
export function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void
  const promise = new Promise<void>((resolve) => {
    open = resolve
  })
  return { promise, open }
}
