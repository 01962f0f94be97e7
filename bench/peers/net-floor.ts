/**
 * The Node floor: about the least a Node.js proxy can do per request on `net` sockets, with none
 * of a product's work — no header rewriting, X-Forwarded-*, request ids, cookies, metrics,
 * timeouts, limits, retries, health or validation. It finds each request head's end and its
 * x-user-id, picks the colour as the other peers do (pick.ts), sends the head unchanged up a
 * keep-alive socket of that colour, and passes the answer back byte for byte, its end found by
 * Content-Length or chunked framing (enough for every bench scenario: nginx answers with one
 * or the other), read by switchyard's own BodyFramer. Request bodies must have a Content-Length
 * (wrk's do). Reads and writes go as switchyard's socket engine does them: upstream reads into one shared buffer (`onread`), a
 * small piece written as one latin1 string, a large one copied; backpressure both ways.
 *
 * It is in the bench to measure, in the same run, how far Node itself is from nginx on this
 * machine: what a Node proxy cannot go below. Not a proxy to use: it trusts every byte.
 */
import net from 'node:net'
import { BodyFramer } from '../../src/proxy/raw/body-framer.js'
import { Framing } from '../../src/proxy/raw/head-types.js'
import { peerArgs, weightedPicker } from './pick.js'

const args = peerArgs()
const pick = weightedPicker(args)
const readBuffer = Buffer.allocUnsafe(64 * 1024)
const SMALL = 16 * 1024
const CRLF2 = Buffer.from('\r\n\r\n')
const USER = /\r\nx-user-id:[ \t]*([^\r]*)/i
const LENGTH = /\r\ncontent-length:[ \t]*(\d+)/i
const CHUNKED = /\r\ntransfer-encoding:[^\r]*chunked/i

/** Idle keep-alive sockets per upstream origin, last in first out. */
const idle = new Map<string, net.Socket[]>()

interface Upstream extends net.Socket {
  origin: string
  /** The client connection this socket answers now. */
  exchange: ClientConnection | undefined
}

function upstreamFor(origin: string): Upstream {
  const socket = idle.get(origin)?.pop() as Upstream | undefined
  if (socket !== undefined && !socket.destroyed) return socket
  const url = new URL(origin)
  const fresh = net.connect({
    host: url.hostname,
    port: Number(url.port),
    noDelay: true,
    onread: { buffer: readBuffer, callback: (n: number, buf: Uint8Array) => (fresh.exchange?.upstreamRead(buf as Buffer, n), true) },
  }) as Upstream
  fresh.origin = origin
  fresh.exchange = undefined
  fresh.on('error', () => undefined)
  fresh.on('close', () => {
    const list = idle.get(origin)
    const index = list?.indexOf(fresh) ?? -1
    if (index !== -1) list!.splice(index, 1)
    fresh.exchange?.client.destroy()
  })
  return fresh
}

class ClientConnection {
  readonly client: net.Socket
  #pending: Buffer | undefined = undefined
  /** Request body bytes still to forward. */
  #bodyLeft = 0
  #upstream: Upstream | undefined = undefined
  /** Where the answer's body ends (switchyard's own framer); undefined until its head is read. */
  #body: BodyFramer | undefined = undefined
  /** The answer's head so far, while it spans reads (not yet written to the client). */
  #head = ''

  constructor(client: net.Socket) {
    this.client = client
    client.on('data', (chunk: Buffer) => this.#read(chunk))
    client.on('error', () => undefined)
    client.on('close', () => this.#upstream?.destroy())
  }

  #read(chunk: Buffer): void {
    if (this.#bodyLeft > 0) {
      const take = Math.min(this.#bodyLeft, chunk.length)
      this.#bodyLeft -= take
      this.#sendUp(take === chunk.length ? chunk : chunk.subarray(0, take))
      if (take < chunk.length) this.#pending = chunk.subarray(take)
      return
    }
    const buf = this.#pending === undefined ? chunk : Buffer.concat([this.#pending, chunk])
    this.#pending = undefined
    if (this.#upstream !== undefined) {
      // The next request waits for this answer (wrk does not pipeline).
      this.#pending = buf
      return
    }
    const end = buf.indexOf(CRLF2)
    if (end === -1) {
      this.#pending = buf
      return
    }
    const head = buf.toString('latin1', 0, end + 2)
    const length = LENGTH.exec(head)
    const bodyLength = length === null ? 0 : Number(length[1])
    const stop = Math.min(buf.length, end + 4 + bodyLength)
    this.#bodyLeft = end + 4 + bodyLength - stop
    if (stop < buf.length) this.#pending = buf.subarray(stop)
    const upstream = upstreamFor(pick(USER.exec(head)?.[1]))
    upstream.exchange = this
    this.#upstream = upstream
    this.#body = undefined
    this.#head = ''
    this.#sendUp(buf.subarray(0, stop))
  }

  #sendUp(piece: Buffer): void {
    const upstream = this.#upstream!
    if (!upstream.write(piece)) {
      this.client.pause()
      upstream.once('drain', () => this.client.resume())
    }
  }

  /** An upstream read, in the shared buffer: valid only during this call. */
  upstreamRead(buf: Buffer, n: number): void {
    let pos = 0
    let before = ''
    if (this.#body === undefined) {
      before = this.#head
      const all = before + buf.toString('latin1', 0, n)
      const end = all.indexOf('\r\n\r\n')
      if (end === -1) {
        this.#head = all
        return
      }
      this.#head = ''
      const head = all.slice(0, end + 2)
      const status = Number(head.slice(9, 12))
      const length = LENGTH.exec(head)
      const framing = status < 200 || status === 204 || status === 304 ? Framing.None : length !== null ? Framing.Length : CHUNKED.test(head) ? Framing.Chunked : Framing.None
      this.#body = new BodyFramer(framing, length === null ? 0 : Number(length[1]), SMALL)
      pos = end + 4 - before.length
    }
    const body = this.#body
    const stop = body.done ? pos : body.scan(buf, pos, n)
    // Broken chunks from the upstream end the exchange as a cut.
    if (stop === -1) {
      this.client.destroy()
      return
    }
    const piece = buf.subarray(0, stop)
    let ok: boolean
    if (stop <= SMALL) {
      ok = this.client.write(before + piece.toString('latin1'), 'latin1')
    } else {
      if (before !== '') this.client.write(before, 'latin1')
      ok = this.client.write(Buffer.from(piece))
    }
    if (body.done) {
      const upstream = this.#upstream!
      this.#upstream = undefined
      upstream.exchange = undefined
      let list = idle.get(upstream.origin)
      if (list === undefined) idle.set(upstream.origin, (list = []))
      list.push(upstream)
      const pending = this.#pending
      this.#pending = undefined
      if (pending !== undefined) this.#read(pending)
    } else if (!ok) {
      const upstream = this.#upstream!
      upstream.pause()
      this.client.once('drain', () => upstream.resume())
    }
  }
}

const server = net.createServer({ noDelay: true }, (client) => new ClientConnection(client))
server.listen(args.port, '127.0.0.1')

const stop = (): void => {
  server.close()
  for (const list of idle.values()) for (const socket of list) socket.destroy()
}
process.once('SIGTERM', stop)
process.once('SIGINT', stop)
