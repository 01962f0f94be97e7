import { setTimeout as sleep } from 'node:timers/promises'
import type { EventView } from './api-types.js'
import type { AdminClient } from './client.js'
import { RefusedError, UnreachableError } from './errors.js'

/** One Server-Sent Event as it arrived. */
/**
 * Answers that say "not now" rather than "no": a switchyard that is stopping (its admin API
 * answers 503 while it closes), its state store away (503), or a proxy in front of it that
 * cannot reach it (502, 504). The stream is reopened after them, as after a lost connection.
 */
const TRANSIENT: ReadonlySet<number> = new Set([502, 503, 504])

export interface SseMessage {
  /** The last event id (it carries over to messages without one, as EventSource keeps it). */
  readonly id: string | undefined
  /** Whether this message set `id:` itself: audit events do, the server's live-only frames (health, stats) do not. */
  readonly ownId: boolean
  readonly event: string
  readonly data: string
}

/** Splits a text/event-stream into messages as chunks arrive (the WHATWG rules the server's frames use). */
export class SseParser {
  #buffer = ''
  #data: string[] = []
  #event = ''
  #id: string | undefined
  #ownId = false
  /** The server's `retry:` in ms, once it sent one. */
  retry: number | undefined

  push(text: string): SseMessage[] {
    this.#buffer += text
    const messages: SseMessage[] = []
    for (;;) {
      const end = this.#buffer.search(/\r\n|\r|\n/)
      // A lone \r at the end may be the first half of \r\n: wait for the next chunk.
      if (end === -1 || (end === this.#buffer.length - 1 && this.#buffer.endsWith('\r'))) break
      const line = this.#buffer.slice(0, end)
      this.#buffer = this.#buffer.slice(end + (this.#buffer.startsWith('\r\n', end) ? 2 : 1))
      const message = this.#line(line)
      if (message !== undefined) messages.push(message)
    }
    return messages
  }

  #line(line: string): SseMessage | undefined {
    if (line === '') {
      const message = this.#data.length === 0 ? undefined : { id: this.#id, ownId: this.#ownId, event: this.#event || 'message', data: this.#data.join('\n') }
      this.#data = []
      this.#event = ''
      this.#ownId = false
      return message
    }
    if (line.startsWith(':')) return undefined
    const colon = line.indexOf(':')
    const field = colon === -1 ? line : line.slice(0, colon)
    const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '')
    if (field === 'data') this.#data.push(value)
    else if (field === 'event') this.#event = value
    else if (field === 'id' && !value.includes('\0')) {
      this.#id = value
      this.#ownId = true
    }
    else if (field === 'retry' && /^\d+$/.test(value)) this.retry = Number(value)
    return undefined
  }
}

/** The server sends a comment every 15 s: this long without a byte means the connection is dead. */
const IDLE_MS = 45_000
/** Longest pause between two reconnects (the server asks for 2 s). */
const MAX_RETRY_MS = 2_000

export interface FollowOptions {
  /** `?type=split,revert`, or ''. */
  readonly query: string
  /** Resume after this event: the server first sends what came after it. */
  readonly lastEventId: number | undefined
  /** Ends the following (Ctrl-C, a finished wait); followStream then returns. */
  readonly signal: AbortSignal
  /** Each audit event (a message with its own id), in order, once. A RefusedError it throws ends the following (unless 502, 503 or 504: a switchyard stopping or a store away); others count as a lost stream. */
  readonly onEvent: (event: EventView) => void | Promise<void>
  /** The stream is open (again, when `afterLoss`: an earlier try failed or the stream dropped): every new event will come. */
  readonly onOpen?: (afterLoss: boolean) => void | Promise<void>
  /** The stream was lost; the next try comes after `retryMs`. */
  readonly onLost?: (reason: string, retryMs: number) => void
}

/**
 * Follows GET /v1/events/stream until `signal` aborts. A dropped or silent connection is
 * reopened with Last-Event-ID (250 ms, then doubling up to 2 s between tries), so no event is
 * missed or repeated as far as the server's log reaches. A refusal (401, 400) throws.
 */
export async function followStream(client: AdminClient, options: FollowOptions): Promise<void> {
  const { signal } = options
  let last = options.lastEventId
  let lost = false
  let attempt = 0
  let retryMs = MAX_RETRY_MS
  while (!signal.aborted) {
    const connection = new AbortController()
    let idle: NodeJS.Timeout | undefined
    const arm = () => {
      clearTimeout(idle)
      idle = setTimeout(() => connection.abort(new Error(`no data for ${IDLE_MS / 1000}s`)), IDLE_MS)
    }
    let reason = 'the server ended the stream'
    try {
      arm()
      const body = await client.openStream(options.query, last, AbortSignal.any([signal, connection.signal]))
      attempt = 0
      await options.onOpen?.(lost)
      lost = false
      const parser = new SseParser()
      const decoder = new TextDecoder()
      for await (const chunk of body) {
        arm()
        for (const message of parser.push(decoder.decode(chunk, { stream: true }))) {
          // Live-only frames (health, stats) carry no id: they are not the audit log.
          if (!message.ownId || message.id === undefined || !/^\d+$/.test(message.id)) continue
          last = Number(message.id)
          let event: EventView
          try {
            event = JSON.parse(message.data) as EventView
          } catch {
            continue
          }
          await options.onEvent(event)
        }
        if (parser.retry !== undefined) retryMs = Math.min(parser.retry, MAX_RETRY_MS)
      }
    } catch (err) {
      if (signal.aborted) return
      if (err instanceof RefusedError && !TRANSIENT.has(err.status)) throw err
      reason = err instanceof RefusedError ? err.message : err instanceof UnreachableError ? err.reason : connection.signal.aborted ? String((connection.signal.reason as Error).message) : String((err as Error).message)
    } finally {
      clearTimeout(idle)
      connection.abort()
    }
    if (signal.aborted) return
    lost = true
    const wait = Math.min(retryMs, 250 * 2 ** attempt++)
    options.onLost?.(reason, wait)
    try {
      await sleep(wait, undefined, { signal })
    } catch {
      return
    }
  }
}
