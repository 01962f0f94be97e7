import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { randomUUID } from 'node:crypto'
import { mkdtemp, writeFile } from 'node:fs/promises'
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

/** Resolves once a Redis (or sentinel) on `port` answers PING; throws after 10 s. */
async function answersPing(port: number): Promise<void> {
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
    await answersPing(port)
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

/**
 * A Redis Sentinel group of the test's own: a master, one replica and one sentinel watching
 * them as "mymaster" (quorum 1, down after 1 s), so a test can kill the master and watch the
 * sentinel promote the replica. Every process is the test's child; stop() ends them by PID.
 */
export interface SentinelGroup {
  readonly sentinelPort: number
  readonly masterPort: number
  readonly replicaPort: number
  /** SIGKILL the master: the sentinel promotes the replica after about 1–3 s. */
  killMaster(): Promise<void>
  /** Resolves once the sentinel names `port` as the master. */
  waitForMaster(port: number, timeoutMs?: number): Promise<void>
  stop(): Promise<void>
}

export async function startSentinelGroup(): Promise<SentinelGroup> {
  const dir = await mkdtemp(join(tmpdir(), 'sy-sentinel-'))
  const [masterPort, replicaPort, sentinelPort] = [await freePort(), await freePort(), await freePort()]
  const children: ChildProcess[] = []
  const spawnServer = (args: string[]) => {
    const child = spawn('redis-server', args, { stdio: 'ignore' })
    children.push(child)
    return child
  }
  const common = ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']
  const master = spawnServer(['--port', String(masterPort), '--dir', dir, '--dbfilename', 'master.rdb', ...common])
  await answersPing(masterPort)
  spawnServer(['--port', String(replicaPort), '--dir', dir, '--dbfilename', 'replica.rdb', ...common, '--replicaof', '127.0.0.1', String(masterPort)])
  await answersPing(replicaPort)
  const conf = join(dir, 'sentinel.conf')
  await writeFile(
    conf,
    [
      `port ${sentinelPort}`,
      'bind 127.0.0.1',
      `sentinel monitor mymaster 127.0.0.1 ${masterPort} 1`,
      'sentinel down-after-milliseconds mymaster 1000',
      'sentinel failover-timeout mymaster 3000',
      'sentinel parallel-syncs mymaster 1',
      '',
    ].join('\n'),
  )
  spawnServer([conf, '--sentinel'])
  await answersPing(sentinelPort)
  const sentinel = new Redis(sentinelPort, '127.0.0.1', { maxRetriesPerRequest: 1 })
  sentinel.on('error', () => undefined)
  const masterOf = async () => ((await sentinel.call('SENTINEL', 'get-master-addr-by-name', 'mymaster')) as [string, string] | null)?.[1]
  const waitForMaster = (port: number, timeoutMs = 15_000) => eventually(async () => (await masterOf().catch(() => undefined)) === String(port), timeoutMs, 100)
  // The sentinel must know the replica before a failover can pick it.
  await eventually(async () => {
    const replicas = (await sentinel.call('SENTINEL', 'replicas', 'mymaster')) as unknown[]
    return replicas.length > 0
  }, 10_000, 100)
  return {
    sentinelPort,
    masterPort,
    replicaPort,
    async killMaster() {
      const exited = once(master, 'exit')
      master.kill('SIGKILL')
      await exited
    },
    waitForMaster,
    async stop() {
      sentinel.disconnect()
      for (const child of children) {
        if (child.exitCode !== null || child.signalCode !== null) continue
        const exited = once(child, 'exit')
        child.kill('SIGKILL')
        await exited
      }
    },
  }
}
