import net from 'node:net'

/**
 * A raw TCP client for byte-level HTTP tests: it writes exactly what it is given (no client
 * library to fix the bytes up) and records what comes back and how the server ended it.
 */
export interface RawConnection {
  readonly socket: net.Socket
  /** Everything received so far, as latin1. */
  text(): string
  /** Resolves once the connection is gone: `fin` when the server closed it, `reset` on an RST. */
  readonly closed: Promise<'fin' | 'reset'>
}

/** Connects to 127.0.0.1:`port` and writes `bytes` once connected. */
export function rawConnect(port: number, bytes?: string | Buffer): Promise<RawConnection> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    const socket = net.connect(port, '127.0.0.1')
    let how: 'fin' | 'reset' | undefined
    const closed = new Promise<'fin' | 'reset'>((done) => {
      socket.on('end', () => (how ??= 'fin'))
      socket.on('error', (err: NodeJS.ErrnoException) => (how ??= err.code === 'ECONNRESET' ? 'reset' : 'fin'))
      socket.on('close', () => done(how ?? 'fin'))
    })
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    socket.once('error', reject)
    socket.once('connect', () => {
      socket.off('error', reject)
      if (bytes !== undefined) socket.write(bytes)
      resolve({ socket, text: () => Buffer.concat(chunks).toString('latin1'), closed })
    })
  })
}

/** One response as it came over the wire. */
export interface RawResponse {
  readonly status: number
  /** Header names in lower case; a repeated header keeps its last value. */
  readonly head: Readonly<Record<string, string>>
  /** The body, de-chunked. */
  readonly body: string
  /** False when the bytes ended inside the body (a chunked body without its last chunk, or short of its Content-Length). */
  readonly complete: boolean
  /** The raw bytes of the body as sent (chunk framing included). */
  readonly rawBody: string
}

/**
 * Parses the HTTP/1.1 responses in `text`, one after another. A response without
 * Content-Length or chunked framing runs to the end of the bytes (close-delimited) and counts
 * as complete: only how the connection ended (`fin` or `reset`) tells whether it was.
 */
export function parseResponses(text: string): RawResponse[] {
  const responses: RawResponse[] = []
  let at = 0
  while (at < text.length) {
    const headEnd = text.indexOf('\r\n\r\n', at)
    if (headEnd < 0) throw new Error(`an incomplete head at byte ${at}: ${JSON.stringify(text.slice(at, at + 80))}`)
    const [statusLine = '', ...lines] = text.slice(at, headEnd).split('\r\n')
    const head: Record<string, string> = {}
    for (const line of lines) {
      const colon = line.indexOf(':')
      if (colon > 0) head[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim()
    }
    const status = Number(statusLine.split(' ')[1] ?? 0)
    const start = headEnd + 4
    if (head['transfer-encoding'] === 'chunked') {
      const chunked = dechunk(text, start)
      responses.push({ status, head, body: chunked.body, complete: chunked.complete, rawBody: text.slice(start, chunked.end) })
      at = chunked.end
    } else if (head['content-length'] !== undefined) {
      const length = Number(head['content-length'])
      const body = text.slice(start, start + length)
      responses.push({ status, head, body, complete: body.length === length, rawBody: body })
      at = start + body.length
    } else {
      const body = text.slice(start)
      responses.push({ status, head, body, complete: true, rawBody: body })
      at = text.length
    }
  }
  return responses
}

function dechunk(text: string, start: number): { body: string; complete: boolean; end: number } {
  let body = ''
  let at = start
  for (;;) {
    const lineEnd = text.indexOf('\r\n', at)
    if (lineEnd < 0) return { body, complete: false, end: text.length }
    const size = parseInt(text.slice(at, lineEnd), 16)
    if (Number.isNaN(size)) throw new Error(`a bad chunk size at byte ${at}`)
    if (size === 0) {
      // The last chunk, then (no trailers here) the empty line.
      const complete = text.startsWith('\r\n', lineEnd + 2)
      return { body, complete, end: complete ? lineEnd + 4 : text.length }
    }
    const data = text.slice(lineEnd + 2, lineEnd + 2 + size)
    body += data
    if (data.length < size || !text.startsWith('\r\n', lineEnd + 2 + size)) return { body, complete: false, end: text.length }
    at = lineEnd + 4 + size
  }
}

/** A raw upstream on 127.0.0.1 that keeps every byte it gets; `answer` replies to each request head. */
export interface RecordingUpstream {
  readonly url: string
  /** Every byte received, over all connections (latin1); tests may reset it. */
  received: string
  /** Each request head received (up to its CRLFCRLF), in order; tests may empty it. */
  readonly heads: string[]
  close(): Promise<void>
}

/**
 * Starts a RecordingUpstream. `answer` gets each request head on a connection (the bytes after
 * it are not read as a body) and writes to or ends the socket itself.
 */
export async function recordingUpstream(answer: (head: string, socket: net.Socket) => void): Promise<RecordingUpstream> {
  const sockets = new Set<net.Socket>()
  const server = net.createServer((socket) => {
    sockets.add(socket)
    let seen = ''
    socket.setEncoding('latin1')
    socket.on('data', (chunk: string) => {
      upstream.received += chunk
      seen += chunk
      const end = seen.indexOf('\r\n\r\n')
      if (end === -1) return
      const head = seen.slice(0, end)
      seen = ''
      upstream.heads.push(head)
      answer(head, socket)
    })
    socket.on('error', () => undefined)
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const upstream: RecordingUpstream = {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    received: '',
    heads: [],
    close: async () => {
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
  return upstream
}
