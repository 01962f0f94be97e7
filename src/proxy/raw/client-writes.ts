import type net from 'node:net'
import { Framing } from './head-types.js'
import { writeRead } from './read-buffer.js'

const CRLF = Buffer.from('\r\n')
/** Up to this many body bytes are joined to the head in one write; larger pieces go as they are. */
const JOIN_LIMIT = 16 * 1024

/** The end of a body the engine re-frames as chunks (an upstream answer delimited by its close). */
const LAST_CHUNK = Buffer.from('0\r\n\r\n')

/**
 * Writes one piece of an answer's body to the client: after the response head when that has
 * not gone out yet (heads are latin1, as node writes them), and as one chunk when `rechunk`.
 * A small piece leaves in one write with what precedes it (a syscall saved per small answer);
 * a large one is corked with it. Returns write()'s verdict: false asks for backpressure.
 */
function writeBodyPiece(client: net.Socket, head: string | undefined, piece: Buffer, rechunk: boolean): boolean {
  const before = rechunk ? `${head ?? ''}${piece.length.toString(16)}\r\n` : head
  if (before === undefined) return writeRead(client, piece)
  if (piece.length <= JOIN_LIMIT) return client.write(`${before}${piece.toString('latin1')}${rechunk ? '\r\n' : ''}`, 'latin1')
  client.cork()
  client.write(before, 'latin1')
  let ok = writeRead(client, piece)
  if (rechunk) ok = client.write(CRLF)
  client.uncork()
  return ok
}

/**
 * An answer's body on its way to the client, in the framing the client gets: as the upstream
 * framed it (a length, or its chunks passed through byte for byte); re-chunked when the
 * upstream's close ends it (so the client keeps its connection); or, for an HTTP/1.0 client,
 * which cannot read chunks, de-chunked and ended by our close. The response head waits to go
 * out with the first body bytes (one write, not two).
 */
export class ClientBody {
  /** Our close ends the answer (an HTTP/1.0 client, no length): a cut must then be a reset. */
  readonly closeDelimited: boolean
  /** The head announces `transfer-encoding: chunked`. */
  readonly chunked: boolean
  /** The upstream's chunks are unwrapped (`data` gets their data) rather than passed through. */
  readonly dechunk: boolean
  readonly #rechunk: boolean
  readonly #client: net.Socket
  #head: string | undefined = undefined

  constructor(client: net.Socket, framing: Framing, http10: boolean) {
    const lengthless = framing === Framing.Chunked || framing === Framing.UntilClose
    this.#client = client
    this.closeDelimited = lengthless && http10
    this.chunked = lengthless && !http10
    this.dechunk = framing === Framing.Chunked && http10
    this.#rechunk = framing === Framing.UntilClose && !http10
  }

  /** The head's lines that say how the answer is framed and whether the connection stays. */
  framingLines(keepAlive: boolean): string {
    const connection = keepAlive ? 'connection: keep-alive\r\n' : 'connection: close\r\n'
    return this.chunked ? `transfer-encoding: chunked\r\n${connection}` : connection
  }

  /** Keeps the response head to go out with the first body bytes. */
  hold(head: string): void {
    this.#head = head
  }

  /** Takes back the head that waits, for our own answer to replace it: true when nothing of the answer went out. */
  withdraw(): boolean {
    const held = this.#head !== undefined
    this.#head = undefined
    return held
  }

  /** Writes the head now if it still waits. */
  flushHead(): void {
    const head = this.#head
    if (head === undefined) return
    this.#head = undefined
    this.#client.write(head, 'latin1')
  }

  /** Writes buf[start, stop) of the body (bytes of an upstream read); false: the client's buffer is full. */
  write(buf: Buffer, start: number, stop: number): boolean {
    const client = this.#client
    const head = this.#head
    this.#head = undefined
    return writeBodyPiece(client, head, start === 0 && stop === buf.length ? buf : buf.subarray(start, stop), this.#rechunk)
  }

  /** A run of chunk data of a body being de-chunked (BodyFramer.dechunk). */
  readonly data = (buf: Buffer, start: number, end: number): void => {
    this.write(buf, start, end)
  }

  /** The upstream closed, ending a body delimited by its close: end ours in its framing. */
  end(): void {
    if (this.#rechunk) this.#client.write(LAST_CHUNK)
  }

  /** Ends the answer short, as the client can tell from a whole one (a reset when a close would delimit it). */
  cut(): void {
    if (this.closeDelimited) this.#client.resetAndDestroy()
    else this.#client.destroy()
  }
}
