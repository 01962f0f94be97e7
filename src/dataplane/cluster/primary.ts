/*
 * Over 300 lines because the primary is the one place that knows each worker's life: start,
 * ready, table confirmations, queries with timeouts, crash-loop restarts and the drain on close
 * all read the same slots.
 */
import cluster, { type Worker } from 'node:cluster'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Logger } from 'pino'
import type { Config } from '../../config/schema.js'
import type { WindowDelta } from '../../outcomes/window-delta.js'
import { mergeHealth, type DataPlane, type WorkerInfo } from '../plane.js'
import type { HealthCheckSettings } from '../../config/schema.js'
import type { ConnectionCounts } from '../../proxy/proxy-state.js'
import type { Certificate } from '../../proxy/tls.js'
import type { ProxyTimeouts, TargetHealth } from '../../proxy/types.js'
import type { Color, RoutingTable } from '../../routing/types.js'
import type { Pair } from '../../shadow/captured.js'
import { decodePair, WORKER_ENV, type FromWorker, type ToWorker } from './messages.js'

/** How long a broadcast waits for every worker to confirm; a split change usually takes ~1 ms. */
const PUBLISH_TIMEOUT_MS = 1_000
const QUERY_TIMEOUT_MS = 1_000
const START_TIMEOUT_MS = 20_000
/** A worker that dies sooner than this after its start is restarted with a pause, not at once. */
const CRASH_LOOP_MS = 5_000
const RESTART_PAUSE_MS = 1_000

export interface ClusterOptions {
  readonly config: Config
  readonly count: number
  readonly targets: Record<Color, readonly string[]>
  /** The table the workers start with; publish() brings every later one (also to workers started later). */
  readonly table: RoutingTable
  /** Receives the workers' outcome counts, for auto-revert, rollout analysis and /v1/status. */
  readonly report: (deltas: readonly WindowDelta[]) => void
  /** Shadow pairs the workers captured, for the comparison. */
  readonly shadows: (pairs: readonly Pair[]) => void
  readonly logger: Logger
  /** proxy.tls, read and checked here; each worker gets the PEMs (null: plain HTTP). */
  readonly certificates: readonly Certificate[] | null
}

type Answer = Extract<FromWorker, { t: 'answer' }>

interface Slot {
  readonly id: number
  worker: Worker | undefined
  startedAt: number
  ready: boolean
  applied: number
}

/** Runs workers from the compiled .js in dist/, or from .ts through tsx in development. */
function workerEntry(): { exec: string; execArgv: string[] } {
  const here = fileURLToPath(import.meta.url)
  const typescript = here.endsWith('.ts')
  return { exec: join(dirname(here), typescript ? 'worker-main.ts' : 'worker-main.js'), execArgv: typescript ? ['--import', 'tsx'] : [] }
}

/**
 * N proxy worker processes on one port (node:cluster), driven from the primary: each gets
 * the table by message and swaps it whole; their window counts are merged here so that
 * auto-revert judges all of them together; a worker that dies is replaced.
 */
export class ClusterDataPlane implements DataPlane {
  readonly #options: ClusterOptions
  readonly #slots: Slot[]
  readonly #waiters = new Set<() => void>()
  /** Pending query answers, keyed by `queryId:slotId`. */
  readonly #answers = new Map<string, (answer: Answer) => void>()
  #targets: Record<Color, readonly string[]>
  #table: RoutingTable
  /** Rises with every published table (a mirror change keeps the split's generation): what workers acknowledge. */
  #seq = 0
  #timeouts: ProxyTimeouts
  #certificates: readonly Certificate[] | null
  #health: Extract<ToWorker, { t: 'health' }> | undefined
  #nextQuery = 1
  #closing = false
  #started = false
  /** Why start-up failed (a worker could not listen); only set before start() resolves. */
  #failure: string | undefined
  port = 0

  constructor(options: ClusterOptions) {
    this.#options = options
    this.#targets = { ...options.targets }
    this.#table = options.table
    this.#timeouts = options.config.timeouts
    this.#certificates = options.certificates
    this.#slots = Array.from({ length: options.count }, (_, id) => ({ id, worker: undefined, startedAt: 0, ready: false, applied: 0 }))
    cluster.setupPrimary({ ...workerEntry(), silent: false })
  }

  /** Forks every worker and resolves once all of them listen. */
  async start(): Promise<void> {
    for (const slot of this.#slots) this.#fork(slot)
    const failure = await this.#until(() => this.#slots.every((s) => s.ready), START_TIMEOUT_MS)
    this.#started = true
    if (failure !== undefined) {
      await this.close(0)
      throw new Error(`proxy workers did not start: ${failure}`)
    }
  }

  setTargets(color: Color, targets: readonly string[]): void {
    this.#targets = { ...this.#targets, [color]: [...targets] }
    this.#broadcast({ t: 'targets', color, targets })
  }

  setTimeouts(timeouts: ProxyTimeouts): void {
    this.#timeouts = timeouts
    this.#broadcast({ t: 'timeouts', timeouts })
  }

  /** Every worker serves them to new handshakes; a worker started later gets them at its init. */
  setCertificates(certificates: readonly Certificate[]): void {
    if (this.#certificates === null) throw new Error('the proxy listens without TLS; proxy.tls takes effect on restart')
    this.#certificates = certificates
    this.#broadcast({ t: 'certificates', certificates })
  }

  setHealth(healthCheck: HealthCheckSettings, outlier: Config['outlierDetection']): void {
    this.#health = { t: 'health', healthCheck, outlier }
    this.#broadcast(this.#health)
  }

  drainColor(color: Color, deadlineMs: number): void {
    this.#broadcast({ t: 'drainColor', color, deadlineMs })
  }

  cancelDrain(color: Color): void {
    this.#broadcast({ t: 'cancelDrain', color })
  }

  async connections(): Promise<Record<Color, ConnectionCounts>> {
    const total = { blue: { requests: 0, streams: 0, websockets: 0 }, green: { requests: 0, streams: 0, websockets: 0 } }
    for (const { answer } of await this.#query('status')) {
      if (!('connections' in answer)) continue
      for (const color of ['blue', 'green'] as const) {
        total[color].requests += answer.connections[color].requests
        total[color].streams += answer.connections[color].streams
        total[color].websockets += answer.connections[color].websockets
      }
    }
    return total
  }

  async publish(table: RoutingTable): Promise<void> {
    this.#table = table
    const seq = ++this.#seq
    this.#broadcast(this.#tableMessage())
    const late = await this.#until(
      () => this.#slots.every((s) => !s.ready || s.applied >= seq),
      PUBLISH_TIMEOUT_MS,
    )
    if (late !== undefined) {
      this.#options.logger.warn({ generation: table.generation }, `split change not confirmed by every worker: ${late}`)
    }
  }

  async health(): Promise<Record<Color, TargetHealth[]>> {
    const answers = await this.#query('status')
    return mergeHealth(answers.flatMap(({ answer }) => ('health' in answer ? [answer.health] : [])))
  }

  async inFlight(): Promise<Record<Color, number>> {
    const total = { blue: 0, green: 0 }
    for (const worker of await this.workers()) {
      total.blue += worker.inFlight.blue
      total.green += worker.inFlight.green
    }
    return total
  }

  async remoteMetrics(): Promise<object[]> {
    return (await this.#query('metrics')).flatMap(({ answer }) => ('metrics' in answer ? [answer.metrics] : []))
  }

  async workers(): Promise<WorkerInfo[]> {
    return (await this.#query('status')).map(({ slot, pid, answer }) => ({
      id: slot.id,
      pid,
      requests: 'requests' in answer ? answer.requests : 0,
      inFlight: 'inFlight' in answer ? answer.inFlight : { blue: 0, green: 0 },
    }))
  }

  /** Tells every worker to drain, waits for them to exit, and ends any that outstay the deadline. */
  async close(deadlineMs: number): Promise<void> {
    this.#closing = true
    this.#broadcast({ t: 'drain', deadlineMs })
    const alive = () => this.#slots.filter((s) => s.worker !== undefined)
    await this.#until(() => alive().length === 0, deadlineMs + 3_000)
    for (const slot of alive()) slot.worker?.process.kill('SIGKILL')
    await this.#until(() => alive().length === 0, 1_000)
  }

  #fork(slot: Slot): void {
    const worker = cluster.fork({ [WORKER_ENV]: String(slot.id) })
    slot.worker = worker
    slot.ready = false
    slot.applied = 0
    slot.startedAt = Date.now()
    worker.on('message', (message: FromWorker) => this.#onMessage(slot, worker, message))
    worker.on('exit', (code, signal) => this.#onExit(slot, worker, code, signal))
  }

  #onMessage(slot: Slot, worker: Worker, message: FromWorker): void {
    if (slot.worker !== worker) return
    switch (message.t) {
      case 'hello': {
        const table = this.#table
        worker.send({
          t: 'init',
          config: this.#options.config,
          targets: this.#targets,
          generation: table.generation,
          greenBuckets: table.greenBuckets,
          salt: table.salt,
          mirrorBuckets: table.mirrorBuckets,
          certificates: this.#certificates,
        } satisfies ToWorker)
        // Timeouts and health settings may have changed by reload since the config was read.
        worker.send({ t: 'timeouts', timeouts: this.#timeouts } satisfies ToWorker)
        if (this.#health !== undefined) worker.send(this.#health)
        return
      }
      case 'ready':
        slot.ready = true
        slot.applied = Math.max(slot.applied, this.#seq)
        this.port = message.port
        this.#options.logger.debug({ worker: slot.id, workerPid: worker.process.pid }, 'proxy worker ready')
        // A change published while it started reaches it now.
        this.#sendTable(worker)
        break
      case 'failed':
        if (!this.#started) this.#failure = `worker ${slot.id}: ${message.message}`
        this.#options.logger.error({ worker: slot.id }, `proxy worker ${slot.id} cannot serve: ${message.message}`)
        break
      case 'applied':
        slot.applied = Math.max(slot.applied, message.seq)
        break
      case 'window':
        this.#options.report(message.deltas)
        return
      case 'pairs':
        this.#options.shadows(message.pairs.map(decodePair))
        return
      case 'answer':
        this.#answers.get(`${message.id}:${slot.id}`)?.(message)
        return
    }
    this.#wake()
  }

  #onExit(slot: Slot, worker: Worker, code: number | null, signal: string | null): void {
    if (slot.worker !== worker) return
    slot.worker = undefined
    slot.ready = false
    this.#wake()
    if (this.#closing) return
    const quick = Date.now() - slot.startedAt < CRASH_LOOP_MS
    this.#options.logger.warn(
      { worker: slot.id, workerPid: worker.process.pid, code, signal },
      `proxy worker ${slot.id} exited; starting a replacement${quick ? ` in ${RESTART_PAUSE_MS} ms` : ''}`,
    )
    const restart = () => {
      if (!this.#closing) this.#fork(slot)
    }
    if (quick) setTimeout(restart, RESTART_PAUSE_MS)
    else restart()
  }

  #sendTable(worker: Worker): void {
    worker.send(this.#tableMessage())
  }

  #tableMessage(): ToWorker {
    const table = this.#table
    return { t: 'table', seq: this.#seq, generation: table.generation, greenBuckets: table.greenBuckets, salt: table.salt, mirrorBuckets: table.mirrorBuckets }
  }

  #broadcast(message: ToWorker): void {
    for (const slot of this.#slots) {
      const worker = slot.worker
      if (worker !== undefined && worker.isConnected()) worker.send(message)
    }
  }

  /** Asks every ready worker; answers that do not come within the timeout are left out. */
  async #query(what: 'metrics' | 'status'): Promise<{ slot: Slot; pid: number; answer: Answer }[]> {
    const id = this.#nextQuery++
    const asks = this.#slots.flatMap((slot) => {
      const worker = slot.worker
      if (!slot.ready || worker === undefined || !worker.isConnected()) return []
      const key = `${id}:${slot.id}`
      return new Promise<{ slot: Slot; pid: number; answer: Answer } | undefined>((resolve) => {
        const timer = setTimeout(() => {
          this.#answers.delete(key)
          resolve(undefined)
        }, QUERY_TIMEOUT_MS)
        this.#answers.set(key, (answer) => {
          clearTimeout(timer)
          this.#answers.delete(key)
          resolve({ slot, pid: worker.process.pid ?? 0, answer })
        })
        worker.send({ t: 'query', id, what } satisfies ToWorker)
      })
    })
    return (await Promise.all(asks)).filter((a) => a !== undefined)
  }

  /** Resolves undefined once `done()` holds, or a reason when it did not in time or a worker failed. */
  #until(done: () => boolean, ms: number): Promise<string | undefined> {
    return new Promise((resolve) => {
      const check = () => {
        if (this.#failure !== undefined) return finish(this.#failure)
        if (done()) finish(undefined)
      }
      const finish = (reason: string | undefined) => {
        clearTimeout(timer)
        this.#waiters.delete(check)
        resolve(reason)
      }
      const timer = setTimeout(() => finish(`not within ${ms} ms`), ms)
      this.#waiters.add(check)
      check()
    })
  }

  #wake(): void {
    for (const check of [...this.#waiters]) check()
  }
}
