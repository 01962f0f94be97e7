import cluster, { type Worker } from 'node:cluster'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Logger } from 'pino'
import { nodeFlagsFor } from '../../node-flags.js'
import { packagePath } from '../../package-root.js'
import { WORKER_ENV, type FromWorker, type ToWorker } from './messages.js'

const QUERY_TIMEOUT_MS = 1_000
const START_TIMEOUT_MS = 20_000
/** A worker that dies sooner than this after its start is restarted with a pause, not at once. */
const CRASH_LOOP_MS = 5_000
const RESTART_PAUSE_MS = 1_000

export type Answer = Extract<FromWorker, { t: 'answer' }>
/** What a worker reports of its own accord: one service's outcome counts or shadow pairs. */
export type Report = Extract<FromWorker, { t: 'window' | 'pairs' }>

/** What the pool asks of the data plane it serves. */
export interface PoolHooks {
  /** The init of a worker (the first ones and any replacement), and the table sequence it includes. */
  hello(): { readonly init: ToWorker; readonly seq: number }
  report(message: Report): void
}

interface Slot {
  readonly id: number
  worker: Worker | undefined
  startedAt: number
  ready: boolean
  /** The highest table sequence this worker has confirmed (its init included). */
  applied: number
}

/**
 * The workers' entry, with switchyard's V8 flags: in development worker-main.ts beside this file
 * through tsx; built, the bundle dist/worker.js when this code runs in the bundle dist/cli.js
 * (scripts/bundle.ts), else tsc's worker-main.js beside this file.
 */
function workerEntry(): { exec: string; execArgv: string[] } {
  const here = fileURLToPath(import.meta.url)
  const flags = nodeFlagsFor(process.execArgv)
  if (here.endsWith('.ts')) return { exec: join(dirname(here), 'worker-main.ts'), execArgv: ['--import', 'tsx', ...flags] }
  if (here === packagePath('dist/cli.js')) return { exec: packagePath('dist/worker.js'), execArgv: flags }
  return { exec: join(dirname(here), 'worker-main.js'), execArgv: flags }
}

/**
 * The lives of N proxy worker processes on one port (node:cluster): fork, init, ready, table
 * confirmations, queries with timeouts, crash-loop restarts and the drain on close. It knows
 * nothing of services; the data plane above it says what an init holds and takes the reports.
 */
export class WorkerPool {
  readonly #logger: Logger
  readonly #hooks: PoolHooks
  readonly #slots: Slot[]
  readonly #waiters = new Set<() => void>()
  /** Pending query answers, keyed by `queryId:slotId`. */
  readonly #answers = new Map<string, (answer: Answer) => void>()
  #nextQuery = 1
  #closing = false
  #started = false
  /** Why start-up failed (a worker could not listen); only set before start() resolves. */
  #failure: string | undefined
  port = 0

  constructor(count: number, logger: Logger, hooks: PoolHooks) {
    this.#logger = logger
    this.#hooks = hooks
    this.#slots = Array.from({ length: count }, (_, id) => ({ id, worker: undefined, startedAt: 0, ready: false, applied: 0 }))
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

  broadcast(message: ToWorker): void {
    for (const slot of this.#slots) {
      const worker = slot.worker
      if (worker !== undefined && worker.isConnected()) worker.send(message)
    }
  }

  /** Resolves undefined once every ready worker confirmed table sequence `seq`, or why not within `ms`. */
  confirmed(seq: number, ms: number): Promise<string | undefined> {
    return this.#until(() => this.#slots.every((s) => !s.ready || s.applied >= seq), ms)
  }

  /** Asks every ready worker; answers that do not come within the timeout are left out. */
  async query(what: 'metrics' | 'status'): Promise<{ id: number; pid: number; answer: Answer }[]> {
    const id = this.#nextQuery++
    const asks = this.#slots.flatMap((slot) => {
      const worker = slot.worker
      if (!slot.ready || worker === undefined || !worker.isConnected()) return []
      const key = `${id}:${slot.id}`
      return new Promise<{ id: number; pid: number; answer: Answer } | undefined>((resolve) => {
        const timer = setTimeout(() => {
          this.#answers.delete(key)
          resolve(undefined)
        }, QUERY_TIMEOUT_MS)
        this.#answers.set(key, (answer) => {
          clearTimeout(timer)
          this.#answers.delete(key)
          resolve({ id: slot.id, pid: worker.process.pid ?? 0, answer })
        })
        worker.send({ t: 'query', id, what } satisfies ToWorker)
      })
    })
    return (await Promise.all(asks)).filter((a) => a !== undefined)
  }

  /** Tells every worker to drain, waits for them to exit, and ends any that outstay the deadline. */
  async close(deadlineMs: number): Promise<void> {
    this.#closing = true
    this.broadcast({ t: 'drain', deadlineMs })
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
        // Everything published up to now is in the init; what comes later follows it in order.
        const { init, seq } = this.#hooks.hello()
        worker.send(init)
        slot.applied = seq
        return
      }
      case 'ready':
        slot.ready = true
        this.port = message.port
        this.#logger.debug({ worker: slot.id, workerPid: worker.process.pid }, 'proxy worker ready')
        break
      case 'failed':
        if (!this.#started) this.#failure = `worker ${slot.id}: ${message.message}`
        this.#logger.error({ worker: slot.id }, `proxy worker ${slot.id} cannot serve: ${message.message}`)
        break
      case 'applied':
        slot.applied = Math.max(slot.applied, message.seq)
        break
      case 'window':
      case 'pairs':
        this.#hooks.report(message)
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
    this.#logger.warn(
      { worker: slot.id, workerPid: worker.process.pid, code, signal },
      `proxy worker ${slot.id} exited; starting a replacement${quick ? ` in ${RESTART_PAUSE_MS} ms` : ''}`,
    )
    const restart = () => {
      if (!this.#closing) this.#fork(slot)
    }
    if (quick) setTimeout(restart, RESTART_PAUSE_MS)
    else restart()
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
