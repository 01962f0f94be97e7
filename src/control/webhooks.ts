import { createHmac, randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from 'pino'
import type { Agent } from 'undici'
import { undici } from '../lazy.js'
import { packageVersion } from '../package-root.js'
import type { WebhookSettings } from '../config/schema.js'

/** How one notification to one hook ended: counted by the caller (e.g. a metric). */
export type DeliveryResult = 'delivered' | 'failed'

export interface WebhookNotifierOptions {
  readonly hooks: readonly WebhookSettings[]
  readonly logger: Logger
  /** Called once per notification and hook when it is delivered or given up. */
  readonly onDelivery?: (result: DeliveryResult, event: string) => void
  /** Base of the exponential backoff between attempts, in ms (default 500). */
  readonly backoffMs?: number
  /** Pending deliveries per hook before the oldest is dropped (default 1000). */
  readonly maxQueue?: number
  /** With several services: the service whose events these are, put in every body as `service`. */
  readonly service?: string | undefined
}

const USER_AGENT = userAgent()

/** One notification on its way to one hook; the body (and so the id) is the same in every attempt. */
interface Delivery {
  readonly id: string
  readonly event: string
  readonly body: string
}

/**
 * Sends control-plane events (rollout steps, splits, reverts, ...) to the configured webhooks as
 * JSON POSTs, in the background and in order per hook, with a timeout, retries and backoff.
 *
 * Body: `{ "id": <uuid>, "event": <event>, "at": <ISO time>, ...payload }`. `id` is one per
 * notification and stays the same in every retry, so a receiver de-duplicates on it (it is also
 * sent as `x-switchyard-delivery`). Deliveries are not followed through redirects; only a 2xx
 * counts as delivered.
 *
 * Signature, when the hook has a secret. Each attempt carries
 *   x-switchyard-timestamp: <unix seconds at the time of the attempt>
 *   x-switchyard-signature: sha256=<hex HMAC-SHA256(secret, `${timestamp}.${body}`)>
 * where `body` is the exact raw request body bytes. A receiver verifies it by:
 *   1. reading the raw body (before any JSON parsing) and both headers;
 *   2. rejecting a timestamp more than ~5 minutes from its own clock (this defeats replays);
 *   3. computing HMAC-SHA256 with the shared secret over the timestamp, a `.`, then the body;
 *   4. comparing its hex digest with the header (after `sha256=`) in constant time
 *      (`crypto.timingSafeEqual`);
 *   5. ignoring a delivery id it has already processed (retries repeat the id).
 */
export class WebhookNotifier {
  readonly #channels: HookChannel[]
  readonly #logger: Logger
  /** Made at the first delivery: a proxy with no webhooks never loads undici. */
  #agent: Agent | undefined = undefined
  readonly #abandon = new AbortController()
  #closed: Promise<void> | null = null
  readonly #service: string | undefined

  constructor(options: WebhookNotifierOptions) {
    this.#logger = options.logger
    this.#service = options.service
    const shared: ChannelContext = {
      logger: options.logger,
      onDelivery: options.onDelivery ?? (() => undefined),
      backoffMs: options.backoffMs ?? 500,
      maxQueue: options.maxQueue ?? 1000,
      agent: () => (this.#agent ??= new (undici().Agent)()),
      abandon: this.#abandon.signal,
    }
    this.#channels = options.hooks.map((hook) => new HookChannel(hook, shared))
  }

  /**
   * Queues `event` for every hook that asks for it and returns at once; delivery happens in
   * the background. A payload `at` (e.g. an audit event's time) replaces the notification time.
   */
  notify(event: string, payload: Record<string, unknown>): void {
    const channels = this.#channels.filter((channel) => channel.wants(event))
    if (channels.length === 0) return
    if (this.#closed !== null) {
      this.#logger.warn({ event }, 'webhook notifier is closed; event not sent')
      return
    }
    const id = randomUUID()
    let body: string
    try {
      // id and event always win (they match the headers); keys keep the order id, event, at, ...
      const service = this.#service === undefined ? {} : { service: this.#service }
      body = JSON.stringify(Object.assign({ id, event, at: new Date().toISOString() }, service, payload, { id, event }))
    } catch (err) {
      this.#logger.error({ err, event }, 'webhook payload could not be serialized; event not sent')
      return
    }
    for (const channel of channels) channel.push({ id, event, body })
  }

  /** Waits up to `timeoutMs` for pending deliveries, then abandons the rest (counted as failed). */
  close(timeoutMs: number): Promise<void> {
    this.#closed ??= this.#close(timeoutMs)
    return this.#closed
  }

  async #close(timeoutMs: number): Promise<void> {
    const idle = Promise.all(this.#channels.map((channel) => channel.idle()))
    let timer: NodeJS.Timeout | undefined
    const timedOut = await Promise.race([
      idle.then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), timeoutMs))),
    ])
    clearTimeout(timer)
    if (timedOut) {
      for (const channel of this.#channels) channel.abandon()
      this.#abandon.abort()
      await idle
    }
    await this.#agent?.destroy()
  }
}

interface ChannelContext {
  readonly logger: Logger
  readonly onDelivery: (result: DeliveryResult, event: string) => void
  readonly backoffMs: number
  readonly maxQueue: number
  /** The shared keep-alive agent of every hook, made on first use. */
  readonly agent: () => Agent
  readonly abandon: AbortSignal
}

/** The ordered queue of one hook and its single worker. */
class HookChannel {
  readonly #hook: WebhookSettings
  readonly #ctx: ChannelContext
  readonly #target: { readonly url: string; readonly authorization: string | undefined }
  /** The url as logged: no credentials, no query (either may hold a token). */
  readonly #logUrl: string
  readonly #pending: Delivery[] = []
  #running: Promise<void> | null = null

  constructor(hook: WebhookSettings, ctx: ChannelContext) {
    this.#hook = hook
    this.#ctx = ctx
    const url = new URL(hook.url)
    // undici drops userinfo silently; send it as Basic auth instead.
    const authorization =
      url.username === '' && url.password === ''
        ? undefined
        : `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`
    url.username = ''
    url.password = ''
    url.hash = ''
    this.#target = { url: url.toString(), authorization }
    this.#logUrl = `${url.origin}${url.pathname}`
  }

  wants(event: string): boolean {
    return this.#hook.events.length === 0 || (this.#hook.events as readonly string[]).includes(event)
  }

  push(delivery: Delivery): void {
    if (this.#pending.length >= this.#ctx.maxQueue) {
      const dropped = this.#pending.shift()!
      this.#ctx.logger.warn(
        { url: this.#logUrl, event: dropped.event, delivery: dropped.id, queued: this.#ctx.maxQueue },
        'webhook queue full; oldest delivery dropped',
      )
      this.#ctx.onDelivery('failed', dropped.event)
    }
    this.#pending.push(delivery)
    this.#running ??= this.#drain()
  }

  /** Resolves once the queue is empty and nothing is in flight. */
  idle(): Promise<void> {
    return this.#running ?? Promise.resolve()
  }

  /** Drops everything still queued, counting each as failed (at shutdown). */
  abandon(): void {
    const dropped = this.#pending.splice(0)
    for (const delivery of dropped) this.#ctx.onDelivery('failed', delivery.event)
    if (dropped.length > 0) {
      this.#ctx.logger.warn({ url: this.#logUrl, abandoned: dropped.length }, 'webhook deliveries abandoned at shutdown')
    }
  }

  async #drain(): Promise<void> {
    try {
      for (let next = this.#pending.shift(); next !== undefined; next = this.#pending.shift()) {
        await this.#deliver(next)
      }
    } finally {
      this.#running = null
    }
  }

  /** Sends one delivery with its retries; never throws. */
  async #deliver(delivery: Delivery): Promise<void> {
    const maxAttempts = this.#hook.retries + 1
    let lastError: string | undefined
    let lastStatus: number | undefined
    let attempts = 0
    while (attempts < maxAttempts) {
      if (attempts > 0 && !(await this.#backoff(attempts - 1))) break
      if (this.#ctx.abandon.aborted) break
      attempts++
      const outcome = await this.#attempt(delivery)
      if (outcome.ok) {
        this.#ctx.onDelivery('delivered', delivery.event)
        return
      }
      lastStatus = outcome.status
      lastError = outcome.error
      this.#ctx.logger.debug(
        { url: this.#logUrl, event: delivery.event, delivery: delivery.id, attempt: attempts, status: lastStatus, error: lastError },
        'webhook attempt failed',
      )
    }
    const why = this.#ctx.abandon.aborted ? 'abandoned at shutdown' : `failed after ${attempts} attempts`
    this.#ctx.logger.warn(
      { url: this.#logUrl, event: delivery.event, delivery: delivery.id, attempts, status: lastStatus, error: lastError },
      `webhook delivery ${why}`,
    )
    this.#ctx.onDelivery('failed', delivery.event)
  }

  async #attempt(delivery: Delivery): Promise<{ ok: true } | { ok: false; status?: number; error?: string }> {
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': USER_AGENT,
      'x-switchyard-event': delivery.event,
      'x-switchyard-delivery': delivery.id,
    }
    if (this.#target.authorization !== undefined) headers.authorization = this.#target.authorization
    if (this.#hook.secret !== undefined) {
      const timestamp = String(Math.floor(Date.now() / 1000))
      headers['x-switchyard-timestamp'] = timestamp
      headers['x-switchyard-signature'] = `sha256=${sign(this.#hook.secret, timestamp, delivery.body)}`
    }
    const timeout = AbortSignal.timeout(this.#hook.timeout)
    const signal = AbortSignal.any([timeout, this.#ctx.abandon])
    try {
      const res = await undici().request(this.#target.url, {
        method: 'POST',
        headers,
        body: delivery.body,
        signal,
        dispatcher: this.#ctx.agent(),
      })
      await res.body.dump({ limit: 64 * 1024, signal })
      if (res.statusCode >= 200 && res.statusCode < 300) return { ok: true }
      return { ok: false, status: res.statusCode }
    } catch (err) {
      if (timeout.aborted) return { ok: false, error: `timeout after ${this.#hook.timeout}ms` }
      if (this.#ctx.abandon.aborted) return { ok: false, error: 'abandoned at shutdown' }
      return { ok: false, error: errorText(err) }
    }
  }

  /** Waits base × 2^n plus up to 20 % jitter; false when abandoned meanwhile. */
  async #backoff(n: number): Promise<boolean> {
    const base = this.#ctx.backoffMs * 2 ** n
    try {
      await sleep(base + Math.random() * base * 0.2, undefined, { signal: this.#ctx.abandon })
      return true
    } catch {
      return false
    }
  }
}

/** Hex HMAC-SHA256 of `${timestamp}.${body}` with the hook's secret. */
export function sign(secret: string, timestamp: string, body: string): string {
  return createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')
}

function errorText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code
    return typeof code === 'string' ? `${code}: ${err.message}` : err.message
  }
  return String(err)
}

/** `switchyard/<version>`, or just `switchyard` when package.json cannot be read. */
function userAgent(): string {
  try {
    return `switchyard/${packageVersion()}`
  } catch {
    return 'switchyard'
  }
}
