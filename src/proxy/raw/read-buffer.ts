import net from 'node:net'

/** One read's worth: what libuv asks node to allocate for each read by default. */
const READ_BYTES = 64 * 1024
/** Pieces up to this size are copied into node's own Buffer pool (its 8 KiB slabs). */
const SMALL = 4 * 1024
/** Copies kept for reuse once their write is done (4 MiB at most). */
const MAX_FREE = 64

/**
 * Plain sockets, upstream (net's `onread`) and client (readIntoShared), read into one shared
 * buffer instead of a new 64 KiB allocation per read. With an allocation per read, a 1 MiB
 * answer is 16 reads in one loop turn, freed together a scavenge later; glibc then gives the
 * top of its heap back to the kernel and faults it in again on the next answer (~180 page
 * faults per MiB, most of the proxy's time in the kernel: 1 MiB answers ran at 0.26x nginx).
 * Bytes handed to an owner are valid only during that call: every socket reads into this same
 * buffer (each was told where its next read goes at the end of its last one), so nothing may
 * keep them, and a write may: whatever part of it the kernel does not take at once stays
 * queued, pointing at the bytes.
 * `writeRead` therefore writes copies, from a recycled set of 64 KiB buffers for large pieces
 * (a fresh allocation per piece would bring the heap churn back).
 */
const shared = Buffer.allocUnsafeSlow(READ_BYTES)
const free: Buffer[] = []

/** The buffer the next read lands in (net asks after every upstream read). */
export function readBuffer(): Buffer {
  return shared
}

/**
 * net's own keys for `onread` (lib/net.js): a socket's buffer and its callback. net.Server has no
 * `onread`, so an accepted socket gets them set after the fact, before its first read; net's
 * pause() and resume() then stop and start the handle's reads, as for a socket made with
 * `onread`. Found by name on a fresh socket: where this node has no such keys, client sockets
 * keep 'data' events.
 */
const probe = new net.Socket()
const ownKey = (name: string): symbol | undefined => Object.getOwnPropertySymbols(probe).find((key) => key.description === name)
const BUFFER_KEY = ownKey('kBuffer')
const CALLBACK_KEY = ownKey('kBufferCb')
probe.destroy()

/** The reads of a client socket: `bytes` bytes at the start of `buf`, valid only during the call; false stops reading. */
export type OnClientRead = (this: net.Socket, bytes: number, buf: Buffer) => boolean

/**
 * Points a plain (not TLS) accepted socket's reads at the shared buffer, each handed to
 * `onRead`: no 64 KiB allocation, ArrayBuffer and stream push per read (~10 % more requests a
 * second at c50). False, and nothing changed, where it cannot be done: a TLS socket (its reads
 * are the TLS layer's), or a node without net's keys or the handle's useUserBuffer.
 */
export function readIntoShared(socket: net.Socket, onRead: OnClientRead): boolean {
  const handle = (socket as { _handle?: { useUserBuffer?: (buffer: Uint8Array) => void } | null })._handle
  if (BUFFER_KEY === undefined || CALLBACK_KEY === undefined || (socket as { encrypted?: boolean }).encrypted === true || typeof handle?.useUserBuffer !== 'function') return false
  const keyed = socket as unknown as Record<symbol, unknown>
  keyed[BUFFER_KEY] = shared
  keyed[CALLBACK_KEY] = onRead
  handle.useUserBuffer(shared)
  return true
}

/** Writes `piece` (bytes of an upstream read, or any) to `socket` as a copy it may keep; write()'s verdict. */
export function writeRead(socket: net.Socket, piece: Buffer): boolean {
  // Small pieces (and a head's leftovers joined across reads, over a read's size) as plain copies.
  if (piece.length <= SMALL || piece.length > READ_BYTES) return socket.write(Buffer.from(piece))
  const copy = free.pop() ?? Buffer.allocUnsafeSlow(READ_BYTES)
  piece.copy(copy)
  // Called once the socket is done with it: written, or given up (the socket went away).
  return socket.write(copy.subarray(0, piece.length), () => {
    if (free.length < MAX_FREE) free.push(copy)
  })
}
