import { createHash } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

/**
 * The soak's upstreams: every answer is a pure function of (colour, request), so a client can
 * compute what each colour would have sent and compare the bytes it got.
 *
 * - `GET /get/{id}`             -> `{colour} {id} get\n` + a payload derived from the id
 * - `POST /post/{id}`           -> `{colour} {id} post {length} {sha256}\n` + the request body echoed
 * - `GET /stream/{id}`          -> chunked: `{colour} {id} stream\n` then STREAM_CHUNKS lines over ~100 ms
 * - `GET /fail/{id}`            -> 503 `{colour} {id} fail\n` (used to trip auto-revert on purpose)
 */
export const STREAM_CHUNKS = 5
export const STREAM_GAP_MS = 20

export type SoakColor = 'blue' | 'green'

/** A deterministic payload of 0..~4 KB for a GET, so answers differ in size and content. */
export function payloadFor(id: string): string {
  const seed = createHash('sha256').update(id).digest('hex')
  const repeats = parseInt(seed.slice(0, 2), 16) % 64
  return seed.repeat(repeats)
}

export function streamChunk(color: SoakColor, id: string, i: number): string {
  return `${color} ${id} chunk ${i} ${payloadFor(`${id}:${i}`).slice(0, 200)}\n`
}

/** What `color` answers to a request; the client compares the received bytes to this. */
export function expectedBody(color: SoakColor, kind: 'get' | 'post' | 'stream' | 'fail', id: string, body?: Buffer): Buffer {
  switch (kind) {
    case 'get':
      return Buffer.from(`${color} ${id} get\n${payloadFor(id)}`)
    case 'post': {
      const b = body ?? Buffer.alloc(0)
      const sum = createHash('sha256').update(b).digest('hex')
      return Buffer.concat([Buffer.from(`${color} ${id} post ${b.length} ${sum}\n`), b])
    }
    case 'stream': {
      let text = `${color} ${id} stream\n`
      for (let i = 0; i < STREAM_CHUNKS; i++) text += streamChunk(color, id, i)
      return Buffer.from(text)
    }
    case 'fail':
      return Buffer.from(`${color} ${id} fail\n`)
  }
}

export interface SoakUpstream {
  readonly color: SoakColor
  readonly url: string
  /** Requests answered, by kind. */
  readonly hits: Record<string, number>
  close(): Promise<void>
}

export async function startSoakUpstream(color: SoakColor): Promise<SoakUpstream> {
  const hits: Record<string, number> = {}
  const server: Server = createServer((req, res) => {
    const [, kind = '', id = ''] = (req.url ?? '/').split('?')[0]!.split('/')
    hits[kind] = (hits[kind] ?? 0) + 1
    if (kind === 'post') {
      // The first line carries the body's checksum, so the body is read whole before answering.
      const parts: Buffer[] = []
      req.on('data', (chunk: Buffer) => parts.push(chunk))
      req.on('end', () => {
        const answer = expectedBody(color, 'post', id, Buffer.concat(parts))
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': answer.length, 'x-upstream': color })
        res.end(answer)
      })
      return
    }
    req.resume()
    if (kind === 'stream') {
      res.writeHead(200, { 'content-type': 'text/plain', 'x-upstream': color })
      res.write(`${color} ${id} stream\n`)
      let i = 0
      const timer = setInterval(() => {
        if (res.destroyed) return clearInterval(timer)
        res.write(streamChunk(color, id, i++))
        if (i === STREAM_CHUNKS) {
          clearInterval(timer)
          res.end()
        }
      }, STREAM_GAP_MS)
      return
    }
    if (kind === 'fail') {
      res.writeHead(503, { 'content-type': 'text/plain', 'x-upstream': color }).end(expectedBody(color, 'fail', id))
      return
    }
    if (kind === 'get') {
      const answer = expectedBody(color, 'get', id)
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': answer.length, 'x-upstream': color }).end(answer)
      return
    }
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok')
  })
  server.keepAliveTimeout = 30_000
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    color,
    hits,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
