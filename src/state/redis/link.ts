import type { Redis } from 'ioredis'
import { ioredis } from '../../lazy.js'
import type { Logger } from 'pino'
import type { RedisSettings } from '../../config/schema.js'
import { redactUrl } from '../../config/load.js'
import { StateUnavailableError } from '../errors.js'

/** A command that gets no answer in this long counts as Redis being unreachable. */
const COMMAND_TIMEOUT_MS = 1_000
/** Reconnect attempts back off to at most this, so a returning Redis is found within a second. */
const MAX_RECONNECT_DELAY_MS = 500

/** Error replies that mean "not now" rather than "never": they make the link count as down. */
const UNAVAILABLE_REPLY = /^(LOADING|READONLY|MASTERDOWN|BUSY|TRYAGAIN|NOREPLICAS|CLUSTERDOWN)\b/

export interface LinkStatus {
  readonly connected: boolean
  readonly since: string
  readonly lastError: string | null
}

/**
 * switchyard's two connections to Redis: one for commands, one subscribed to the change
 * channel. Commands fail at once while Redis is unreachable (no offline queue: a stale write
 * must never be replayed later), and reconnecting never stops.
 */
export class RedisLink {
  readonly client: Redis
  readonly #subscriber: Redis
  readonly #logger: Logger
  readonly #where: string
  readonly #upListeners: (() => void)[] = []
  /** Handlers by channel: one 'message' listener serves every channel (a service each). */
  readonly #channels = new Map<string, ((message: string) => void)[]>()
  #connected = false
  #since = new Date().toISOString()
  #lastError: string | null = null
  #closed = false

  constructor(settings: { readonly url: string; readonly keyPrefix?: string; readonly sentinel?: RedisSettings['sentinel'] }, logger: Logger) {
    this.#logger = logger.child({ component: 'redis' })
    const sentinel = settings.sentinel ?? null
    this.#where =
      sentinel === null
        ? redactUrl(settings.url)
        : `the master "${sentinel.name}" of sentinels ${sentinel.hosts.map((h) => `${h.host}:${h.port}`).join(',')}`
    const retry = (times: number) => Math.min(50 * times, MAX_RECONNECT_DELAY_MS)
    const options = {
      enableOfflineQueue: false,
      commandTimeout: COMMAND_TIMEOUT_MS,
      connectTimeout: 2_000,
      maxRetriesPerRequest: 0,
      retryStrategy: retry,
      // A master demoted by a failover answers READONLY: reconnect, which asks the sentinels again.
      reconnectOnError: (err: Error) => err.message.startsWith('READONLY'),
    }
    const { Redis } = ioredis()
    const connect = (extra: object) => (sentinel === null ? new Redis(settings.url, { ...options, ...extra }) : new Redis({ ...options, ...sentinelOptions(settings.url, sentinel, retry), ...extra }))
    this.client = connect({})
    this.#subscriber = connect({ commandTimeout: undefined, enableOfflineQueue: true })
    this.client.on('ready', () => this.#up())
    // With a listener, ioredis does not print "Unhandled error event"; our own lines say what happened.
    this.client.on('error', (err: Error) => this.#down(err.message))
    this.client.on('close', () => this.#down('connection closed'))
    this.#subscriber.on('error', () => undefined)
    this.#subscriber.on('message', (from: string, message: string) => {
      for (const handler of this.#channels.get(from) ?? []) handler(message)
    })
  }

  /** Where Redis is, password hidden: for messages. */
  get where(): string {
    return this.#where
  }

  get connected(): boolean {
    return this.#connected
  }

  status(): LinkStatus {
    return { connected: this.#connected, since: this.#since, lastError: this.#lastError }
  }

  /** Resolves true once the command connection is ready, false after `timeoutMs`. */
  ready(timeoutMs: number): Promise<boolean> {
    if (this.#connected) return Promise.resolve(true)
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.client.off('ready', onReady)
        resolve(false)
      }, timeoutMs)
      const onReady = () => {
        clearTimeout(timer)
        resolve(true)
      }
      this.client.once('ready', onReady)
    })
  }

  /** `listener` runs every time the connection comes (back) up. */
  onUp(listener: () => void): void {
    this.#upListeners.push(listener)
  }

  /** Subscribes to a channel on the second connection; resubscribes by itself after reconnects. */
  async subscribe(channel: string, onMessage: (message: string) => void): Promise<void> {
    this.#channels.set(channel, [...(this.#channels.get(channel) ?? []), onMessage])
    await this.#subscriber.subscribe(channel).catch((err: unknown) => {
      this.#logger.warn({ err: String(err) }, 'could not subscribe to the change channel yet; the periodic reconcile covers it')
    })
  }

  /**
   * Runs a command; any failure to reach Redis (down, timeout, connection lost) becomes a
   * StateUnavailableError and marks the link down until the next success.
   */
  async run<T>(command: (client: Redis) => Promise<T>): Promise<T> {
    if (!this.#connected) throw new StateUnavailableError(`Redis at ${this.#where} is not connected: ${this.#lastError ?? 'connecting'}`)
    try {
      const result = await command(this.client)
      return result
    } catch (err) {
      const message = (err as Error).message
      // A script or type error is a bug or bad data, not an outage; a Redis that is loading,
      // read-only (demoted), busy or without its master is one.
      if (err instanceof Error && err.name === 'ReplyError' && !UNAVAILABLE_REPLY.test(message)) throw err
      this.#down(message)
      throw new StateUnavailableError(`Redis at ${this.#where} did not answer: ${message}`, { cause: err })
    }
  }

  async close(): Promise<void> {
    this.#closed = true
    this.#connected = false
    this.#lastError = 'closed'
    this.client.disconnect()
    this.#subscriber.disconnect()
  }

  #up(): void {
    if (this.#connected) return
    this.#connected = true
    this.#since = new Date().toISOString()
    const was = this.#lastError
    this.#lastError = null
    if (was !== null) this.#logger.info({ redis: this.#where }, 'Redis answers again: resyncing the shared state')
    for (const listener of this.#upListeners) listener()
  }

  #down(reason: string): void {
    if (this.#closed) return
    if (this.#connected || this.#lastError === null) {
      this.#logger.warn(
        { redis: this.#where, reason },
        'Redis unreachable: routing with the last known split; admin changes are refused (503) until it answers',
      )
      this.#since = new Date().toISOString()
    }
    this.#connected = false
    this.#lastError = reason
    // A command timeout leaves the socket open: force a reconnect so 'ready' tells when it is back.
    if (this.client.status === 'ready' && /timed out/i.test(reason)) this.client.disconnect(true)
  }
}

/** ioredis options for a master found through Redis Sentinel; the URL gives credentials, database and TLS. */
function sentinelOptions(
  url: string,
  sentinel: NonNullable<RedisSettings['sentinel']>,
  retry: (times: number) => number,
): {
  sentinels: { host: string; port: number }[]
  name: string
  username?: string
  password?: string
  db: number
  tls?: object
  sentinelRetryStrategy: (times: number) => number
} {
  const parsed = new URL(url)
  const db = parsed.pathname.replace(/^\//, '')
  return {
    sentinels: sentinel.hosts.map((h) => ({ host: h.host, port: h.port })),
    name: sentinel.name,
    ...(parsed.username === '' ? {} : { username: decodeURIComponent(parsed.username) }),
    ...(parsed.password === '' ? {} : { password: decodeURIComponent(parsed.password) }),
    db: db === '' ? 0 : Number(db),
    ...(parsed.protocol === 'rediss:' ? { tls: {} } : {}),
    // Sentinels may all be restarting during a failover: keep asking, as for the master.
    sentinelRetryStrategy: retry,
  }
}
