import type net from 'node:net'

const CRLF = Buffer.from('\r\n')
/** Up to this many body bytes are joined to the head in one write; larger pieces go as they are. */
const JOIN_LIMIT = 16 * 1024

/** The end of a body the engine re-frames as chunks (an upstream answer delimited by its close). */
export const LAST_CHUNK = Buffer.from('0\r\n\r\n')

/**
 * Writes one piece of an answer's body to the client: after the response head when that has
 * not gone out yet (heads are latin1, as node writes them), and as one chunk when `rechunk`.
 * A small piece leaves in one write with what precedes it (a syscall saved per small answer);
 * a large one is corked with it. Returns write()'s verdict: false asks for backpressure.
 */
export function writeBodyPiece(client: net.Socket, head: string | undefined, piece: Buffer, rechunk: boolean): boolean {
  const before = rechunk ? `${head ?? ''}${piece.length.toString(16)}\r\n` : head
  if (before === undefined) return client.write(piece)
  if (piece.length <= JOIN_LIMIT) return client.write(`${before}${piece.toString('latin1')}${rechunk ? '\r\n' : ''}`, 'latin1')
  client.cork()
  client.write(before, 'latin1')
  let ok = client.write(piece)
  if (rechunk) ok = client.write(CRLF)
  client.uncork()
  return ok
}
