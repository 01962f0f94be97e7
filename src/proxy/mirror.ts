/**
 * Shadow traffic on the data path. A blue request whose sticky key is sampled (the router's
 * `mirror`) is also sent to green, marked as a shadow; sometimes to a second blue target too,
 * to learn noise. Blue's answer is captured as it streams to the client; once every answer
 * is in, the pair goes to the sink (the comparison runs elsewhere, off this path). The client
 * never waits for a shadow: shadows are dispatched beside its request, bounded in number,
 * body size and time, and dropped (counted) rather than queued.
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http'
import { Transform, type TransformCallback } from 'node:stream'
import type { Dispatcher } from 'undici'
import type { Pair } from '../shadow/captured.js'
import { AnswerCapture } from './mirror-capture.js'
import type { ErrorKind } from './types.js'
import type { UpstreamPool, UpstreamTarget } from './upstream-pool.js'

/** How shadows are sent, as the proxy reads it (from the `mirror` config). */
export interface MirrorSettings {
  /** Upper-case methods that are mirrored. */
  readonly methods: ReadonlySet<string>
  /** Request bodies up to this many bytes are teed; answers are kept up to it for comparison. */
  readonly maxBodySize: number
  /** Shadows in flight in this process at most. */
  readonly concurrency: number
  readonly timeoutMs: number
  /** Lower-case header name sent with value "1". */
  readonly header: string
  /** Share of mirrored requests also sent to a second blue target, in buckets of 0.01 % (0..10000). */
  readonly noiseBuckets: number
  /** Bodies are compared (mode json or exact): keep them. */
  readonly keepBodies: boolean
}

/** `switchyard_mirror_requests_total{result}`: what became of a sampled request's shadow. */
export type MirrorResult = 'compared' | 'dropped' | 'too_large' | 'method' | 'no_target' | 'cancelled' | 'timeout'

/** Where the data path hands its pairs and counts; plugged in by the data plane. */
export interface MirrorSink {
  /** Takes a finished pair for comparison elsewhere; false when its queue is full (the pair is dropped). */
  pair(pair: Pair): boolean
  count(result: MirrorResult): void
}

/** Shadow and capture options of one request. */
interface Dispatch {
  readonly path: string
  readonly method: string
  readonly headers: string[]
}

/** One shadow request: an undici handler that captures the answer and gives up at the job's timeout. */
class ShadowRequest implements Dispatcher.DispatchHandler {
  readonly capture: AnswerCapture
  #controller: Dispatcher.DispatchController | undefined
  #aborted = false

  constructor(cap: number, onDone: () => void) {
    this.capture = new AnswerCapture(performance.now(), cap, onDone)
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller
    if (this.#aborted) controller.abort(new Error('switchyard: shadow cancelled'))
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    if (statusCode >= 200) this.capture.head(statusCode, headers)
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.capture.data(chunk)
  }

  onResponseEnd(): void {
    this.capture.end(true)
  }

  onResponseError(_controller: Dispatcher.DispatchController | undefined, err: Error): void {
    // No head: green could not answer at all (refused, reset, timed out): a gateway error, as a client would see.
    this.capture.end(false, (err as { code?: string }).code === 'UND_ERR_HEADERS_TIMEOUT' ? 504 : 502)
  }

  /** Ends it now (the job timed out or was cancelled); what was captured stays, incomplete. */
  abort(): void {
    if (this.capture.done) return
    this.#aborted = true
    // Ended first: the abort calls onResponseError at once, which must not call it a 502.
    this.capture.end(false, 504)
    this.#controller?.abort(new Error('switchyard: shadow cancelled'))
  }
}

/**
 * One mirrored request: blue's answer as the client gets it, green's to the shadow, maybe a
 * second blue target's. Ends once all are in (then compared), at its timeout, or cancelled.
 */
export class MirrorJob {
  /** Fed by the client's exchange. */
  readonly blue: AnswerCapture
  readonly #mirror: Mirror
  readonly #req: Dispatch
  readonly #green: ShadowRequest
  readonly #twin: ShadowRequest | undefined
  readonly #greenTarget: UpstreamTarget
  readonly #twinTarget: UpstreamTarget | undefined
  readonly #timer: NodeJS.Timeout
  #ended = false

  constructor(mirror: Mirror, req: Dispatch, green: UpstreamTarget, twin: UpstreamTarget | undefined) {
    this.#mirror = mirror
    this.#req = req
    const cap = mirror.settings.keepBodies ? mirror.settings.maxBodySize : 0
    const check = (): void => this.#check()
    this.blue = new AnswerCapture(performance.now(), cap, check)
    this.#green = new ShadowRequest(cap, check)
    this.#greenTarget = green
    this.#twinTarget = twin
    this.#twin = twin === undefined ? undefined : new ShadowRequest(cap, check)
    this.#timer = setTimeout(() => this.#timedOut(), mirror.settings.timeoutMs)
    this.#timer.unref()
  }

  /** Sends the shadows, with the request's body once it was read whole (null: none). */
  send(body: Buffer | null): void {
    if (this.#ended) return
    const options: Dispatcher.DispatchOptions = {
      path: this.#req.path,
      method: this.#req.method,
      headers: this.#req.headers,
      body,
      headersTimeout: this.#mirror.settings.timeoutMs,
      bodyTimeout: this.#mirror.settings.timeoutMs,
    }
    dispatchSafely(this.#greenTarget.pool, options, this.#green)
    if (this.#twin !== undefined && this.#twinTarget !== undefined) dispatchSafely(this.#twinTarget.pool, options, this.#twin)
  }

  /** Blue's side ended without a comparable answer (the client left, its body broke): no pair. */
  cancel(): void {
    this.#end('cancelled')
  }

  /**
   * Blue's exchange settled with `status` (`kind`: how it failed) before its answer was captured
   * whole: a client that left or sent a broken body says nothing about green (no pair); any
   * other failure is blue's answer, incomplete, compared as such.
   */
  settled(status: number, kind: ErrorKind | undefined): void {
    if (this.blue.done) return
    if (kind === 'client' || status === 408 || status === 400 || status === 413) this.cancel()
    else this.blue.end(false, status)
  }

  #check(): void {
    if (this.#ended || !this.blue.done || !this.#green.capture.done || (this.#twin !== undefined && !this.#twin.capture.done)) return
    const keep = this.#mirror.settings.keepBodies
    const pair: Pair = {
      route: '',
      method: this.#req.method,
      path: this.#req.path,
      blue: this.blue.captured(keep),
      green: this.#green.capture.captured(keep),
      ...(this.#twin === undefined ? {} : { blueTwin: this.#twin.capture.captured(keep) }),
    }
    this.#end('compared', pair)
  }

  /** Blue still going at the timeout (a long stream): nothing to compare. Else the shadows are late: green was slow. */
  #timedOut(): void {
    if (this.#ended) return
    if (!this.blue.done) {
      this.#end('timeout')
      return
    }
    this.#green.abort()
    this.#twin?.abort()
  }

  #end(result: MirrorResult, pair?: Pair): void {
    if (this.#ended) return
    this.#ended = true
    clearTimeout(this.#timer)
    this.#green.abort()
    this.#twin?.abort()
    this.#mirror.ended(this, result, pair)
  }
}

function dispatchSafely(pool: Dispatcher, options: Dispatcher.DispatchOptions, handler: ShadowRequest): void {
  try {
    pool.dispatch(options, handler)
  } catch (err) {
    handler.onResponseError(undefined, err as Error)
  }
}

/** Tees a request body of known length into a buffer as it streams to blue; the shadows get it once whole. */
export class BodyTee extends Transform {
  readonly #chunks: Buffer[] = []
  readonly #job: MirrorJob

  constructor(req: IncomingMessage, job: MirrorJob) {
    super()
    this.#job = job
    req.on('error', (err) => this.destroy(err))
    // Blue's request fails with it and says so; the shadow is off.
    this.on('error', () => job.cancel())
    req.pipe(this)
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.#chunks.push(chunk)
    done(null, chunk)
  }

  override _flush(done: TransformCallback): void {
    this.#job.send(Buffer.concat(this.#chunks))
    done()
  }
}

/**
 * `headers` (flat name/value pairs) without `name` (lower-case): a client must not mark its own
 * request as a shadow, or an upstream that skips side effects for shadows would skip its real ones.
 */
export function withoutHeader(headers: readonly string[], name: string): string[] {
  const out: string[] = []
  for (let i = 0; i + 1 < headers.length; i += 2) {
    if (headers[i]!.toLowerCase() !== name) out.push(headers[i]!, headers[i + 1]!)
  }
  return out
}

/** This process's shadows: sampling checks, the concurrency bound, and the jobs in flight. */
export class Mirror {
  readonly settings: MirrorSettings
  readonly #pools: Readonly<Record<'blue' | 'green', UpstreamPool>>
  readonly #sink: MirrorSink
  readonly #jobs = new Set<MirrorJob>()

  /** `pools` is the proxy's own record: its entries are replaced when targets change, so read it per request. */
  constructor(settings: MirrorSettings, pools: Readonly<Record<'blue' | 'green', UpstreamPool>>, sink: MirrorSink) {
    this.settings = settings
    this.#pools = pools
    this.#sink = sink
  }

  /**
   * A job for a sampled blue request, or undefined (counted) when it is not mirrored: a method
   * not listed, a body over the cap or of unknown length, no green target, or the bound reached.
   * `headers` are the ones sent to blue (a client's own shadow header already stripped); the
   * shadow's are a copy with the shadow header.
   */
  begin(method: string, path: string, reqHeaders: IncomingHttpHeaders, headers: readonly string[], blue: UpstreamTarget): MirrorJob | undefined {
    const s = this.settings
    if (!s.methods.has(method)) return this.#skip('method')
    const length = reqHeaders['content-length']
    if (reqHeaders['transfer-encoding'] !== undefined || (length !== undefined && Number(length) > s.maxBodySize)) return this.#skip('too_large')
    if (this.#jobs.size >= s.concurrency) return this.#skip('dropped')
    const green = this.#pools.green.pick()
    if (green === undefined) return this.#skip('no_target')
    const twin = s.noiseBuckets > 0 && Math.random() * 10_000 < s.noiseBuckets ? this.#pools.blue.pickOther(blue) : undefined
    // The shadow's body is sent whole: no 100-continue.
    const shadowHeaders = withoutHeader(headers, 'expect')
    shadowHeaders.push(s.header, '1')
    const job = new MirrorJob(this, { method, path, headers: shadowHeaders }, green, twin)
    this.#jobs.add(job)
    return job
  }

  /** Called by a job as it ends. */
  ended(job: MirrorJob, result: MirrorResult, pair: Pair | undefined): void {
    this.#jobs.delete(job)
    this.#sink.count(pair === undefined || this.#sink.pair(pair) ? result : 'dropped')
  }

  /** Cancels every shadow in flight (the proxy is closing). */
  close(): void {
    for (const job of [...this.#jobs]) job.cancel()
  }

  #skip(result: MirrorResult): undefined {
    this.#sink.count(result)
    return undefined
  }
}
