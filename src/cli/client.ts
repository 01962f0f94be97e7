import { RefusedError, UnreachableError } from './errors.js'

/** How long one admin request may take before the API counts as unreachable. */
const REQUEST_TIMEOUT_MS = 30_000

export interface ClientOptions {
  /** The admin API's base URL, e.g. http://127.0.0.1:9090 (a path prefix is kept). */
  readonly url: string
  /** admin.token, sent as `Authorization: Bearer`. */
  readonly token: string | undefined
  /** The service whose routes a service-scoped path addresses; undefined: the unscoped routes, as before services. */
  readonly service?: string | undefined
}

// The routes that exist per service (/v1/services/{name}/...). Everything else is global and
// never rewritten: /v1/reload, /v1/preview, /v1/services itself, /metrics, /healthz.
const SCOPED = /^\/v1\/(split|promote|rollback|upstreams|rollout|events|mirror|status)(?=[/?]|$)/

/** `path` addressed to `service`: `/v1/split?x` becomes `/v1/services/api/split?x`; global paths, or no service, stay as they are. */
export function scopedPath(path: string, service: string | undefined): string {
  if (service === undefined) return path
  return path.replace(SCOPED, (_, rest: string) => `/v1/services/${encodeURIComponent(service)}/${rest}`)
}

/** Why a fetch failed, in a word a person can look up: ECONNREFUSED, ENOTFOUND, a timeout. */
function transportReason(err: unknown): string {
  if (err instanceof Error && err.name === 'TimeoutError') return `no answer within ${REQUEST_TIMEOUT_MS / 1000}s`
  // fetch wraps transport failures as TypeError('fetch failed', { cause }); several addresses give an AggregateError.
  let cause: unknown = (err as { cause?: unknown }).cause ?? err
  if (cause instanceof AggregateError && cause.errors.length > 0) cause = cause.errors[0]
  const code = (cause as { code?: unknown }).code
  const text = typeof code === 'string' ? code : cause instanceof Error ? cause.message : String(cause)
  return /CERT|SELF_SIGNED|UNABLE_TO_VERIFY/.test(text) ? `${text}: trust the admin certificate's CA with NODE_EXTRA_CA_CERTS=FILE` : text
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown
  } catch {
    return undefined
  }
}

/** What to try next after a refusal the catalog code alone does not explain. */
function hintFor(status: number, code: unknown, route: string): string {
  if (status === 401) return 'pass the admin token with --token or SWITCHYARD_ADMIN_TOKEN'
  if (status === 429) return 'too many failed tokens from this address: wait a minute, then use the right one'
  if (code === 'SY_ERR_NO_ROLLOUT') return '"switchyard rollout start" begins one'
  if (code === 'SY_ERR_SERVICE_REQUIRED') return 'name one with --service NAME or SWITCHYARD_SERVICE'
  if (code === 'SY_ERR_UNKNOWN_SERVICE') return '"switchyard services" lists them'
  if (status === 404 && code === undefined) return `${route} is not a route of this server: is --url the admin API of a switchyard that has it?`
  return ''
}

/**
 * The admin API over HTTP, and nothing else: every command drives switchyard through the
 * documented routes. Refusals throw RefusedError (exit 1) with the server's code and message;
 * a server that cannot be reached throws UnreachableError (exit 3).
 */
export class AdminClient {
  readonly #base: string
  readonly #token: string | undefined
  readonly #service: string | undefined

  constructor(options: ClientOptions) {
    this.#base = options.url.replace(/\/+$/, '')
    this.#token = options.token
    this.#service = options.service
  }

  /** The admin URL as given, for messages. */
  get url(): string {
    return this.#base
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path)
  }

  /**
   * One request; `body` goes as JSON with `content-type: application/json`. A 204 resolves
   * with undefined. Commands pass the unscoped path; the client addresses --service here.
   */
  async request<T>(method: string, unscoped: string, body?: unknown): Promise<T> {
    const path = scopedPath(unscoped, this.#service)
    const headers = this.#headers(body === undefined ? {} : { 'content-type': 'application/json' })
    const init: RequestInit = { method, headers, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) }
    if (body !== undefined) init.body = JSON.stringify(body)
    const res = await this.#fetch(path, init)
    let text: string
    try {
      text = await res.text()
    } catch (err) {
      throw new UnreachableError(this.#base, transportReason(err))
    }
    const json = parseJson(text)
    if (!res.ok) throw this.#refusal(res, json, text, `${method} ${path.split('?')[0]}`)
    // No Content: the answer is that it was done.
    if (res.status === 204) return undefined as T
    if (json === undefined) {
      throw new RefusedError(res.status, 'NOT_JSON', `the answer to ${method} ${path} is not JSON: is --url the admin API's address (not the proxy's)?`, text)
    }
    return json as T
  }

  /**
   * Opens GET /v1/events/stream (Server-Sent Events), resuming after `lastEventId`. Resolves
   * once the answer's headers are in: from then on the server sends every new event.
   */
  async openStream(query: string, lastEventId: number | undefined, signal: AbortSignal): Promise<ReadableStream<Uint8Array>> {
    const extra: Record<string, string> = { accept: 'text/event-stream' }
    if (lastEventId !== undefined) extra['last-event-id'] = String(lastEventId)
    const path = scopedPath('/v1/events/stream', this.#service)
    const res = await this.#fetch(`${path}${query}`, { headers: this.#headers(extra), signal })
    if (!res.ok || res.body === null) {
      const text = await res.text().catch(() => '')
      throw this.#refusal(res, parseJson(text), text, `GET ${path}`)
    }
    return res.body
  }

  async #fetch(path: string, init: RequestInit): Promise<Response> {
    try {
      return await fetch(`${this.#base}${path}`, init)
    } catch (err) {
      // The caller's own abort (Ctrl-C, a finished wait) is not the server's fault.
      if (err instanceof Error && err.name === 'AbortError') throw err
      throw new UnreachableError(this.#base, transportReason(err))
    }
  }

  #headers(extra: Record<string, string>): Record<string, string> {
    return { ...extra, ...(this.#token === undefined || this.#token === '' ? {} : { authorization: `Bearer ${this.#token}` }) }
  }

  #refusal(res: Response, json: unknown, text: string, route: string): RefusedError {
    const body = (typeof json === 'object' && json !== null ? json : {}) as { code?: unknown; message?: unknown }
    const code = typeof body.code === 'string' ? body.code : `HTTP_${res.status}`
    const message = typeof body.message === 'string' ? body.message : text.trim().slice(0, 200) || res.statusText
    return new RefusedError(res.status, code, message, json ?? text, hintFor(res.status, body.code, route))
  }
}
