import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { randomUUID } from 'node:crypto'
import { mkdtemp } from 'node:fs/promises'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { eventually } from './wait.js'

/** The machine's Redis, which every test shares under its own key prefix. */
export const SHARED_REDIS_URL = 'redis://127.0.0.1:6379'

/** A key prefix no other test (or run) uses. */
export function uniquePrefix(): string {
  return `sy-test:${randomUUID().slice(0, 8)}:`
}

/** Deletes every key under `prefix` in the shared Redis. */
export async function dropPrefix(prefix: string, url = SHARED_REDIS_URL): Promise<void> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 })
  try {
    await client.connect()
    let cursor = '0'
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500)
      cursor = next
      if (keys.length > 0) await client.del(...keys)
    } while (cursor !== '0')
  } finally {
    client.disconnect()
  }
}

/** A short-lived client to look at or poke the shared Redis from a test. */
export function redisClient(url = SHARED_REDIS_URL): Redis {
  const client = new Redis(url, { maxRetriesPerRequest: 1 })
  client.on('error', () => undefined)
  return client
}

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

/**
 * A redis-server of the test's own, on its own port, that the test stops and starts to play
 * an outage. `persist`: 'aof' keeps every write across restarts (appendfsync always); 'snapshot'
 * comes back with the last `SAVE` the test made (an RDB restore: Redis goes back in time);
 * 'none' comes back empty (a flushed Redis).
 */
export interface OwnRedis {
  readonly port: number
  readonly url: string
  /** SIGTERM (Redis saves and exits); resolves once the process is gone. */
  stop(): Promise<void>
  /** Starts it again on the same port and resolves once it answers PING. */
  start(): Promise<void>
  /** SIGSTOP: Redis hangs with its connections open (a black-holed network looks the same). */
  pause(): void
  /** SIGCONT after pause(). */
  resume(): void
}

export async function startOwnRedis(options: { persist: 'aof' | 'snapshot' | 'none' }): Promise<OwnRedis> {
  const port = await freePort()
  const dir = await mkdtemp(join(tmpdir(), 'sy-redis-'))
  let child: ChildProcess | undefined
  const start = async () => {
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--dir', dir, '--appendonly', options.persist === 'aof' ? 'yes' : 'no']
    if (options.persist === 'aof') args.push('--appendfsync', 'always')
    if (options.persist === 'none') args.push('--dbfilename', `never-${randomUUID()}.rdb`)
    child = spawn('redis-server', args, { stdio: 'ignore' })
    const probe = new Redis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
    probe.on('error', () => undefined)
    try {
      await eventually(async () => {
        try {
          if (probe.status !== 'ready') await probe.connect()
          return (await probe.ping()) === 'PONG'
        } catch {
          probe.disconnect()
          return false
        }
      }, 10_000)
    } finally {
      probe.disconnect()
    }
  }
  const stop = async () => {
    const running = child
    child = undefined
    if (running === undefined || running.exitCode !== null || running.signalCode !== null) return
    const exited = once(running, 'exit')
    running.kill('SIGCONT')
    running.kill('SIGTERM')
    await exited
  }
  await start()
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    stop,
    start,
    pause: () => child?.kill('SIGSTOP'),
    resume: () => child?.kill('SIGCONT'),
  }
}
