import type { Duplex } from 'node:stream'
import { CLOSE_GOING_AWAY, closeFrame, FrameScanner } from './ws-frames.js'

/** How long a peer gets to answer our close (close frame, FIN) before its socket is destroyed. */
export const CLOSE_GRACE_MS = 1_000

/**
 * One direction of a tunnel: forwards bytes with backpressure and, for a WebSocket, follows
 * the frame boundaries so that it can stop between two frames and put a close frame there. A
 * receiving peer that leaves its buffers full for `sendMs` (timeouts.send) calls `onStalled`.
 */
class Pump {
  readonly #from: Duplex
  readonly #to: Duplex
  readonly #frames: FrameScanner | undefined
  /** Frames towards the upstream come from a client and must be masked. */
  readonly #maskClose: boolean
  readonly #onDone: () => void
  readonly #sendMs: number
  readonly #onStalled: () => void
  /** Runs while the receiving side's buffer is full. */
  #stall: NodeJS.Timeout | undefined = undefined
  /** open: forwarding; stopping: forwarding the rest of the current frame; done: nothing more. */
  #phase: 'open' | 'stopping' | 'done' = 'open'
  #reason = ''

  constructor(from: Duplex, to: Duplex, frames: FrameScanner | undefined, maskClose: boolean, onDone: () => void, sendMs: number, onStalled: () => void) {
    this.#from = from
    this.#to = to
    this.#frames = frames
    this.#maskClose = maskClose
    this.#onDone = onDone
    this.#sendMs = sendMs
    this.#onStalled = onStalled
    from.on('data', this.#onData)
    from.on('end', this.finish)
    to.on('drain', this.#onDrain)
  }

  get done(): boolean {
    return this.#phase === 'done'
  }

  /** Forwards bytes read before the tunnel began (what followed the handshake). */
  push(chunk: Buffer): void {
    if (chunk.length > 0) this.#onData(chunk)
  }

  /**
   * Stops forwarding at the next frame boundary and sends a 1001 close frame there (the tunnel
   * ends the socket once both directions are done). Without framing (another protocol, or
   * frames we lost track of) it ends the receiving side at once.
   */
  stop(reason: string): void {
    if (this.#phase !== 'open') return
    this.#reason = reason
    const frames = this.#frames
    if (frames === undefined || frames.lost) this.finish()
    else if (frames.atBoundary) this.#sendClose()
    else this.#phase = 'stopping'
  }

  /** Ends the receiving side without a close frame: the sending side ended or went away. */
  readonly finish = (): void => {
    if (this.#phase === 'done') return
    if (this.#to.writable) this.#to.end()
    this.#done()
  }

  #sendClose(): void {
    const to = this.#to
    // A peer that already sent its own close must not get a second one from the same side.
    if (to.writable && !this.#frames!.closeSeen) to.write(closeFrame(CLOSE_GOING_AWAY, this.#reason, this.#maskClose))
    this.#done()
  }

  #done(): void {
    this.#phase = 'done'
    // Keep reading, and dropping, what this side still sends (its answer to the close).
    this.#from.resume()
    this.#onDone()
  }

  readonly #onData = (chunk: Buffer): void => {
    const to = this.#to
    if (this.#phase === 'done' || !to.writable) return
    const frames = this.#frames
    if (this.#phase === 'open') {
      frames?.scan(chunk, false)
      if (!to.write(chunk)) this.#backedUp()
      return
    }
    // Stopping: only the rest of the current frame goes through.
    const taken = frames!.scan(chunk, true)
    const flowing = taken === 0 || to.write(taken === chunk.length ? chunk : chunk.subarray(0, taken))
    if (frames!.atBoundary) this.#sendClose()
    else if (frames!.lost) this.finish()
    else if (!flowing) this.#backedUp()
  }

  /** Stops reading until the receiving side drains, for at most sendMs. */
  #backedUp(): void {
    this.#from.pause()
    if (this.#sendMs > 0 && this.#stall === undefined) this.#stall = setTimeout(this.#onStalled, this.#sendMs).unref()
  }

  readonly #onDrain = (): void => {
    this.stopWatching()
    if (this.#phase !== 'done') this.#from.resume()
  }

  /** Forgets a stall being timed (drained, or the tunnel is gone). */
  stopWatching(): void {
    clearTimeout(this.#stall)
    this.#stall = undefined
  }
}

/**
 * The two-way byte stream of an upgraded connection. A WebSocket tunnel can be closed
 * cleanly from the middle (`goAway`): each direction stops between two frames and its peer
 * gets a close frame with status 1001; once both directions are done both sockets are ended,
 * and a peer that does not close within the grace is destroyed.
 */
export class Tunnel {
  readonly #client: Duplex
  readonly #upstream: Duplex
  readonly #toUpstream: Pump
  readonly #toClient: Pump
  #goingAway = false
  #timer: NodeJS.Timeout | undefined

  /**
   * `clientHead` and `upstreamHead` are bytes each side sent right after the handshake. A side
   * that leaves what it is sent unread for `sendMs` (timeouts.send; 0: no limit) cuts the tunnel.
   */
  constructor(client: Duplex, upstream: Duplex, websocket: boolean, clientHead: Buffer, upstreamHead: Buffer, sendMs = 0) {
    this.#client = client
    this.#upstream = upstream
    const stalled = (): void => this.destroy()
    this.#toClient = new Pump(upstream, client, websocket ? new FrameScanner() : undefined, false, this.#onPumpDone, sendMs, stalled)
    this.#toUpstream = new Pump(client, upstream, websocket ? new FrameScanner() : undefined, true, this.#onPumpDone, sendMs, stalled)
    this.#toClient.push(upstreamHead)
    this.#toUpstream.push(clientHead)
    client.on('close', this.#onClose)
    upstream.on('close', this.#onClose)
  }

  /** Closes the tunnel cleanly: 1001 with `reason` for a WebSocket, a plain end otherwise. */
  goAway(reason: string): void {
    if (this.#goingAway) return
    this.#goingAway = true
    this.#arm()
    this.#toClient.stop(reason)
    this.#toUpstream.stop(reason)
  }

  /** Cuts both sides at once. */
  destroy(): void {
    clearTimeout(this.#timer)
    this.#toClient.stopWatching()
    this.#toUpstream.stopWatching()
    this.#client.destroy()
    this.#upstream.destroy()
  }

  // A direction is done. Going away, a peer gets its FIN only once both are: a peer that was
  // half through a frame when it got our close still sends the rest, which the other side needs.
  readonly #onPumpDone = (): void => {
    if (!this.#goingAway || !this.#toClient.done || !this.#toUpstream.done) return
    if (this.#client.writable) this.#client.end()
    if (this.#upstream.writable) this.#upstream.end()
    this.#arm()
  }

  readonly #onClose = (): void => {
    if (this.#client.destroyed && this.#upstream.destroyed) {
      clearTimeout(this.#timer)
      this.#toClient.stopWatching()
      this.#toUpstream.stopWatching()
      return
    }
    // One side is gone: the other gets what it was already sent, then its end.
    this.#toClient.finish()
    this.#toUpstream.finish()
    this.#arm()
  }

  // (Re)starts the grace after which both sockets are destroyed.
  #arm(): void {
    if (this.#client.destroyed && this.#upstream.destroyed) return
    clearTimeout(this.#timer)
    this.#timer = setTimeout(() => this.destroy(), CLOSE_GRACE_MS)
    this.#timer.unref()
  }
}
