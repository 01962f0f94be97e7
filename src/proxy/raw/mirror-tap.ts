import type { MirrorJob } from '../mirror.js'
import type { ErrorKind } from '../types.js'
import type { BodyFramer } from './body-framer.js'
import type { ClientBody } from './client-writes.js'
import { Framing } from './head-types.js'

/**
 * A sampled request's side of its shadow on the socket engine: tees a request body for the
 * shadows (they get it once whole; Mirror.begin took only a known length within its cap) and
 * feeds blue's answer into the job's capture as it streams to the client, never delaying it.
 */
export class MirrorTap {
  readonly #job: MirrorJob
  #teed: Buffer[] | undefined

  /** `withBody`: the connection feeds one; else the shadows go now. */
  constructor(job: MirrorJob, withBody: boolean) {
    this.#job = job
    this.#teed = withBody ? [] : undefined
    if (!withBody) job.send(null)
  }

  /** A piece of the request body, as it goes upstream. */
  body(piece: Buffer, last: boolean): void {
    const teed = this.#teed
    if (teed === undefined) return
    // A copy: the piece is a view of the client's read.
    teed.push(Buffer.from(piece))
    if (!last) return
    this.#teed = undefined
    this.#job.send(Buffer.concat(teed))
  }

  /**
   * Blue's head; its body's data comes through `data`, or, for a chunked body, as `body` scans
   * it (runs of chunk data, also handed to `out` when that de-chunks for the client).
   */
  head(status: number, rawHeaders: string[], body: BodyFramer, out: ClientBody): void {
    const blue = this.#job.blue
    blue.head(status, rawHeaders)
    if (body.framing !== Framing.Chunked) return
    if (out.dechunk) {
      body.dechunk((buf, start, end) => {
        blue.data(buf.subarray(start, end))
        out.data(buf, start, end)
      })
    } else {
      body.dechunk((buf, start, end) => blue.data(buf.subarray(start, end)))
    }
  }

  /** Body bytes buf[start, stop) of an answer not chunked (a chunked one's go through `head`'s hook). */
  data(buf: Buffer, start: number, stop: number, framing: Framing): void {
    if (framing !== Framing.Chunked && stop > start) this.#job.blue.data(buf.subarray(start, stop))
  }

  /** The answer went out whole. */
  end(): void {
    this.#job.blue.end(true)
  }

  /** The exchange settled (MirrorJob.settled says what that makes of the pair). */
  settled(status: number, kind: ErrorKind | undefined): void {
    this.#job.settled(status, kind)
  }
}
