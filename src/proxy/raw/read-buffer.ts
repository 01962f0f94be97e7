import type net from 'node:net'

/** One read's worth: what libuv asks node to allocate for each read by default. */
const READ_BYTES = 64 * 1024

/**
 * Plain upstream sockets read into one shared buffer (net's `onread`) instead of a new 64 KiB
 * allocation per read. With an allocation per read, a 1 MiB answer is 16 reads in one loop
 * turn, freed together a scavenge later; glibc then gives the top of its heap back to the
 * kernel and faults it in again on the next answer (~180 page faults per MiB, most of the
 * proxy's time in the kernel: 1 MiB answers ran at 0.26x nginx). Bytes handed to an owner are
 * only valid during that call: an owner that keeps any copies them, and one that writes them to
 * a socket calls `wrote`.
 */
let current = Buffer.allocUnsafeSlow(READ_BYTES)

/** The buffer the next upstream read lands in (net asks after every read). */
export function readBuffer(): Buffer {
  return current
}

/**
 * Call after writing `piece` (bytes of a read) to `socket`: when the write could not go out whole
 * at once the socket keeps a reference to those bytes until it flushes, so later reads move to a
 * fresh buffer and the pending bytes stay as they were.
 */
export function wrote(socket: net.Socket, piece: Buffer): void {
  if (socket.writableLength > 0 && piece.buffer === current.buffer) current = Buffer.allocUnsafeSlow(READ_BYTES)
}
