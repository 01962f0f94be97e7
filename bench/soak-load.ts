import { randomBytes } from 'node:crypto'
import { Pool, request } from 'undici'
import { expectedBody, type SoakColor } from './soak-upstream.js'

/** Counts of one load run; `failed` and `mismatched` must stay 0. */
export interface LoadCounts {
  sent: number
  completed: number
  failed: number
  mismatched: number
  /** Connections refused once switchyard was told to stop (expected: it stops accepting). */
  refusedAfterStop: number
  byKind: Record<'get' | 'post' | 'stream', number>
  byColor: Record<SoakColor, number>
  /** The first few problems, for the report. */
  problems: string[]
  latenciesMs: number[]
}

export interface LoadOptions {
  readonly proxyUrl: string
  readonly clients: number
  /** The load stops by itself after this long; stop() ends it sooner. */
  readonly durationMs: number
  /** Largest POST body; bodies are random in 0..maxBody. */
  readonly maxBody?: number
}

/** Random bytes shared by all POST bodies: a slice at a random offset is as good as fresh bytes. */
const NOISE = randomBytes(512 * 1024)

function pick(): 'get' | 'post' | 'stream' {
  const r = Math.random()
  return r < 0.5 ? 'get' : r < 0.75 ? 'post' : 'stream'
}

/**
 * `clients` keep-alive connections, each a loop of one request at a time (mixed GET, POST with
 * a random body up to maxBody, chunked stream), each answer checked byte for byte against what
 * the colour named in x-switchyard-color would have sent. Bounded by durationMs.
 */
export function startLoad(options: LoadOptions): { stopping(): void; stop(): Promise<LoadCounts> } {
  const maxBody = options.maxBody ?? 256 * 1024
  const pool = new Pool(options.proxyUrl, {
    connections: options.clients,
    pipelining: 1,
    keepAliveTimeout: 60_000,
    keepAliveMaxTimeout: 60_000,
    headersTimeout: 30_000,
    bodyTimeout: 30_000,
  })
  const counts: LoadCounts = {
    sent: 0,
    completed: 0,
    failed: 0,
    mismatched: 0,
    refusedAfterStop: 0,
    byKind: { get: 0, post: 0, stream: 0 },
    byColor: { blue: 0, green: 0 },
    problems: [],
    latenciesMs: [],
  }
  const problem = (text: string) => {
    if (counts.problems.length < 20) counts.problems.push(text)
  }
  let running = true
  let stopping = false
  const deadline = Date.now() + options.durationMs
  let seq = 0
  const prefix = randomBytes(4).toString('hex')

  const one = async (client: number): Promise<void> => {
    const kind = pick()
    const id = `${prefix}-${client}-${seq++}`
    const body = kind === 'post' ? NOISE.subarray(0, Math.floor(Math.random() * maxBody)) : undefined
    const offset = body === undefined ? 0 : Math.floor(Math.random() * (NOISE.length - body.length))
    const sent = body === undefined ? undefined : NOISE.subarray(offset, offset + body.length)
    counts.sent++
    counts.byKind[kind]++
    const started = performance.now()
    try {
      const res = await request(`${options.proxyUrl}/${kind}/${id}`, {
        dispatcher: pool,
        method: kind === 'post' ? 'POST' : 'GET',
        // A new sticky key per request, so every split sends requests to both colours.
        headers: { 'x-user-id': id, ...(sent !== undefined ? { 'content-type': 'application/octet-stream' } : {}) },
        ...(sent !== undefined ? { body: sent } : {}),
      })
      const got = Buffer.from(await res.body.arrayBuffer())
      const color = res.headers['x-switchyard-color']
      if (res.statusCode !== 200) {
        counts.failed++
        problem(`${kind} ${id}: status ${res.statusCode}: ${got.subarray(0, 200).toString()}`)
        return
      }
      if ((color !== 'blue' && color !== 'green') || res.headers['x-upstream'] !== color) {
        counts.mismatched++
        problem(`${kind} ${id}: x-switchyard-color ${String(color)} but x-upstream ${String(res.headers['x-upstream'])}`)
        return
      }
      const want = expectedBody(color, kind, id, sent)
      if (!got.equals(want)) {
        counts.mismatched++
        problem(`${kind} ${id} (${color}): got ${got.length} bytes, want ${want.length}`)
        return
      }
      counts.completed++
      counts.byColor[color]++
      counts.latenciesMs.push(performance.now() - started)
    } catch (err) {
      const e = err as Error & { code?: string }
      if (stopping && e.code === 'ECONNREFUSED') {
        counts.refusedAfterStop++
        await new Promise((resolve) => setTimeout(resolve, 20))
        return
      }
      counts.failed++
      problem(`${kind} ${id}: ${e.code ?? e.name}: ${e.message}`)
    }
  }

  const loops = Array.from({ length: options.clients }, async (_, client) => {
    while (running && Date.now() < deadline) await one(client)
  })
  return {
    /** From now on a refused connection is expected (switchyard was sent SIGTERM), not a failure. */
    stopping() {
      stopping = true
    },
    async stop() {
      running = false
      await Promise.all(loops)
      await pool.close()
      return counts
    },
  }
}

/** The q-quantile (0..1) of a sample, in ms; 0 for an empty one. */
export function quantile(sample: readonly number[], q: number): number {
  if (sample.length === 0) return 0
  const sorted = [...sample].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
}

export interface SplitView {
  readonly blue: number
  readonly green: number
  readonly generation: number
  readonly reverted: null | { reason: string }
}

/** A small admin client over its own keep-alive connection. */
export class Admin {
  readonly #pool: Pool
  readonly #url: string

  constructor(url: string) {
    this.#url = url
    this.#pool = new Pool(url, { connections: 2, keepAliveTimeout: 60_000 })
  }

  async putSplit(green: number): Promise<SplitView> {
    const res = await request(`${this.#url}/v1/split`, {
      dispatcher: this.#pool,
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ green }),
    })
    const text = await res.body.text()
    if (res.statusCode !== 200) throw new Error(`PUT /v1/split ${green}: ${res.statusCode} ${text}`)
    return JSON.parse(text) as SplitView
  }

  async getSplit(): Promise<SplitView> {
    const res = await request(`${this.#url}/v1/split`, { dispatcher: this.#pool })
    return (await res.body.json()) as SplitView
  }

  async metric(name: string): Promise<number> {
    const res = await request(`${this.#url}/metrics`, { dispatcher: this.#pool })
    const text = await res.body.text()
    const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`))
    return line === undefined ? 0 : Number(line.split(' ').pop())
  }

  close(): Promise<void> {
    return this.#pool.close()
  }
}

export interface FlipCounts {
  flips: number
  reverts: number
  injected: number
  /** Injected failing requests whose 503 was not green's own answer. */
  injectedMismatched: number
  flipErrors: string[]
}

export interface FlipOptions {
  readonly admin: Admin
  readonly proxyUrl: string
  readonly durationMs: number
  readonly everyMs?: number
  /** Start a revert episode this often (0 = never). */
  readonly revertEveryMs?: number
}

/** Flips sent but not yet answered, at most. */
const MAX_OUTSTANDING_FLIPS = 4

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Flips green between 0, 50 and 100 every `everyMs` through the admin API; every
 * `revertEveryMs` it holds green at 50 and sends failing requests forced to green until
 * auto-revert latches, then goes on flipping (the next PUT clears the latch).
 */
export function startFlips(options: FlipOptions): { stop(): Promise<FlipCounts> } {
  const every = options.everyMs ?? 50
  const counts: FlipCounts = { flips: 0, reverts: 0, injected: 0, injectedMismatched: 0, flipErrors: [] }
  const deadline = Date.now() + options.durationMs
  let running = true
  const failPool = new Pool(options.proxyUrl, { connections: 8, keepAliveTimeout: 60_000 })
  const cycle = [0, 50, 100, 50]

  const episode = async (n: number): Promise<void> => {
    await options.admin.putSplit(50)
    counts.flips++
    const until = Date.now() + 5_000
    let latched = false
    const burst = async (k: number) => {
      let i = 0
      while (!latched && running && Date.now() < until) {
        const id = `revert-${n}-${k}-${i++}`
        counts.injected++
        try {
          const res = await request(`${options.proxyUrl}/fail/${id}`, {
            dispatcher: failPool,
            headers: { 'x-switchyard-color': 'green' },
          })
          const got = Buffer.from(await res.body.arrayBuffer())
          if (res.statusCode !== 503 || !got.equals(expectedBody('green', 'fail', id))) counts.injectedMismatched++
        } catch {
          counts.injectedMismatched++
        }
      }
    }
    const watch = async () => {
      while (!latched && running && Date.now() < until) {
        if ((await options.admin.getSplit()).reverted !== null) latched = true
        else await sleep(20)
      }
    }
    await Promise.all([watch(), ...Array.from({ length: 8 }, (_, k) => burst(k))])
    if (latched) counts.reverts++
    // Hold the latch a moment under load, as an operator would look before setting a split.
    await sleep(200)
  }

  // A flip is sent every `every` ms on the clock, not after the previous answer, with at most
  // MAX_OUTSTANDING_FLIPS unanswered (PUT latency under load would otherwise set the pace).
  const loop = (async () => {
    let i = 0
    let nextEpisode = options.revertEveryMs ? Date.now() + options.revertEveryMs : Infinity
    const outstanding = new Set<Promise<void>>()
    let tick = Date.now()
    while (running && Date.now() < deadline) {
      if (Date.now() >= nextEpisode) {
        await Promise.all(outstanding)
        try {
          await episode(counts.reverts + 1)
        } catch (err) {
          if (counts.flipErrors.length < 10) counts.flipErrors.push((err as Error).message)
        }
        nextEpisode = Date.now() + options.revertEveryMs!
        tick = Date.now()
      }
      if (outstanding.size >= MAX_OUTSTANDING_FLIPS) await Promise.race(outstanding)
      const flip: Promise<void> = options.admin.putSplit(cycle[i++ % cycle.length]!).then(
        () => void counts.flips++,
        (err: unknown) => {
          if (counts.flipErrors.length < 10) counts.flipErrors.push((err as Error).message)
        },
      )
      const tracked = flip.finally(() => outstanding.delete(tracked))
      outstanding.add(tracked)
      tick += every
      await sleep(Math.max(0, tick - Date.now()))
    }
    await Promise.all(outstanding)
  })()
  return {
    async stop() {
      running = false
      await loop
      await failPool.close()
      return counts
    },
  }
}
