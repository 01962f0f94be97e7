import type { Config } from '../config/schema.js'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Color } from '../routing/types.js'

const VERSION: Readonly<Record<Color, string>> = { blue: 'v1', green: 'v2' }

/**
 * A tiny built-in upstream so a new user can try switchyard with nothing else running.
 * `/` answers the version (blue v1, green v2); `/stream` sends a few SSE events;
 * `/status/503` answers that status on both colours (a shared degradation); `/fail-green/503`
 * answers it on green only (to watch an auto-revert); `/delay/250` waits; `/echo` echoes.
 */
function handle(color: Color, req: IncomingMessage, res: ServerResponse): void {
  const version = VERSION[color]
  const url = req.url ?? '/'
  if (url.startsWith('/stream')) {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
    let n = 0
    const timer = setInterval(() => {
      n++
      res.write(`id: ${n}\ndata: ${JSON.stringify({ version, color, n })}\n\n`)
      if (n === 5) {
        clearInterval(timer)
        res.end()
      }
    }, 200)
    res.on('close', () => clearInterval(timer))
    return
  }
  const greenFails = /^\/fail-green\/([1-5]\d\d)\b/.exec(url)
  if (greenFails !== null) {
    const code = color === 'green' ? Number(greenFails[1]) : 200
    res.writeHead(code, { 'content-type': 'text/plain' }).end(`${version} answered ${code}\n`)
    return
  }
  const status = /^\/status\/([1-5]\d\d)\b/.exec(url)
  if (status !== null) {
    res.writeHead(Number(status[1]), { 'content-type': 'text/plain' }).end(`${version} answered ${status[1]}\n`)
    return
  }
  const delay = /^\/delay\/(\d{1,6})\b/.exec(url)
  if (delay !== null) {
    const timer = setTimeout(() => res.writeHead(200, { 'content-type': 'text/plain' }).end(`${version}\n`), Number(delay[1]))
    res.on('close', () => clearTimeout(timer))
    return
  }
  if (url.startsWith('/echo')) {
    res.writeHead(200, { 'content-type': req.headers['content-type'] ?? 'application/octet-stream', 'x-demo-version': version })
    req.pipe(res)
    return
  }
  req.resume()
  res.writeHead(200, { 'content-type': 'text/plain', 'x-demo-version': version }).end(`${version}\n`)
}

/** Both demo upstreams, listening. */
export interface DemoUpstreams {
  readonly urls: Readonly<Record<Color, string>>
  close(): Promise<void>
}

/** One colour's demo upstream, listening on `host:port` (port 0 picks a free one). */
export async function listenDemoUpstream(color: Color, port: number, host = '127.0.0.1'): Promise<Server> {
  const server = createServer((req, res) => handle(color, req, res))
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(new Error(`demo.${color} cannot listen on ${host}:${port} (${err.code ?? err.message})`)))
    server.listen(port, host, resolve)
  })
  return server
}

/** Starts the blue (v1) and green (v2) demo upstreams on loopback. Port 0 picks a free port. */
export async function startDemoUpstreams(ports: Readonly<Record<Color, number>>): Promise<DemoUpstreams> {
  const servers: Server[] = []
  const urls: Partial<Record<Color, string>> = {}
  try {
    for (const color of ['blue', 'green'] as const) {
      const server = await listenDemoUpstream(color, ports[color])
      servers.push(server)
      urls[color] = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    }
  } catch (err) {
    for (const server of servers) server.close()
    throw err
  }
  return {
    urls: urls as Record<Color, string>,
    close: async () => {
      await Promise.all(
        servers.map((server) => {
          server.closeAllConnections()
          return new Promise<void>((resolve) => server.close(() => resolve()))
        }),
      )
    },
  }
}

/** The config's targets per colour; the demo upstreams fill in a colour the config leaves empty. */
export function configTargets(config: Config, demo: DemoUpstreams | undefined): Record<Color, readonly string[]> {
  const pick = (color: Color) => (config.upstreams[color].targets.length > 0 || demo === undefined ? config.upstreams[color].targets : [demo.urls[color]])
  return { blue: pick('blue'), green: pick('green') }
}
