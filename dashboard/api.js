// The admin API as the dashboard uses it: the token (kept in this tab's sessionStorage), JSON
// calls that send it as a bearer token, and the event stream read with fetch(), because
// EventSource cannot send an Authorization header. With several services, the service-scoped
// paths are sent to the service chosen (`resolve`), so callers always write `/v1/split`.

const KEY = 'switchyard.adminToken'

/** A refusal of the admin API: its status, catalog code and message. */
export class ApiError extends Error {
  constructor(status, message, code) {
    super(message)
    this.status = status
    this.code = code
  }
}

/** A read about the service shown before a switch, answered after it: dropped, never shown. */
export class StaleAnswer extends Error {}

let unauthorized = () => undefined

/** Who hears of a 401 (the page shows the login again). */
export function onUnauthorized(handler) {
  unauthorized = handler
}

export function token() {
  return sessionStorage.getItem(KEY)
}

export function setToken(value) {
  if (value === null) sessionStorage.removeItem(KEY)
  else sessionStorage.setItem(KEY, value)
}

/** The service the scoped calls address; null: the unscoped `/v1/...` routes (the `default` service). */
let service = null

/** Paths that belong to one service: `/v1/split`, `/v1/rollout/pause`, `/v1/events/stream?stats=1`, ... */
const SCOPED = /^\/v1\/(split|promote|rollback|upstreams|rollout|events|mirror|status)(?=[/?]|$)/

/** Sends the service-scoped calls to `name` from now on (null: back to the unscoped routes). */
export function useService(name) {
  service = name
}

/** `/v1/split` -> `/v1/services/api/split` while `api` is chosen; any other path as it is. */
export function resolve(path) {
  if (service === null) return path
  return path.replace(SCOPED, (scoped) => `/v1/services/${encodeURIComponent(service)}${scoped.slice('/v1'.length)}`)
}

function headers(extra = {}) {
  const t = token()
  return t === null ? { ...extra } : { ...extra, authorization: `Bearer ${t}` }
}

/** One JSON call; resolves with the parsed answer, throws an ApiError when refused. */
export async function call(method, path, body, { quiet401 = false } = {}) {
  const init = { method, headers: headers(), cache: 'no-store' }
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json'
    init.body = JSON.stringify(body)
  }
  const asked = service
  const res = await fetch(resolve(path), init)
  const text = await res.text()
  if (method === 'GET' && asked !== service) throw new StaleAnswer(`${path} of service ${asked} answered after a switch`)
  let data
  try {
    data = text === '' ? null : JSON.parse(text)
  } catch {
    data = null
  }
  if (res.ok) return data
  if (res.status === 401 && !quiet401) unauthorized()
  throw new ApiError(res.status, (data && data.message) || text || `HTTP ${res.status}`, data && data.code)
}

/**
 * Parses one SSE block (the lines between two blank lines) into {id, event, data}; null for a
 * block without data (a comment, or `retry:` alone). `retry` is reported through `onRetry`.
 */
export function parseFrame(block, onRetry) {
  let id = null
  let event = 'message'
  const data = []
  for (const line of block.split('\n')) {
    if (line === '' || line.startsWith(':')) continue
    const colon = line.indexOf(':')
    const field = colon === -1 ? line : line.slice(0, colon)
    let value = colon === -1 ? '' : line.slice(colon + 1)
    if (value.startsWith(' ')) value = value.slice(1)
    if (field === 'data') data.push(value)
    else if (field === 'event') event = value
    else if (field === 'id' && !value.includes('\0')) id = value
    else if (field === 'retry' && /^\d+$/.test(value)) onRetry(Number(value))
  }
  return data.length === 0 ? null : { id, event, data: data.join('\n') }
}

/**
 * Follows a Server-Sent Events stream with fetch(): reconnects after the server's `retry`
 * delay (longer after repeated failures) and sends Last-Event-ID, so the server replays the
 * events missed meanwhile. Frames without an id leave Last-Event-ID alone.
 * `onOpen` runs at each (re)connection, `onState` gets 'live' | 'reconnecting' | 'stopped'.
 * The path is resolved once: a stream follows the service chosen when it started.
 * Returns a function that stops it.
 */
export function follow(path, { onFrame, onOpen = () => undefined, onState = () => undefined }) {
  const url = resolve(path)
  let lastId = null
  let retry = 2000
  let failures = 0
  let stopped = false
  let controller = null

  const run = async () => {
    while (!stopped) {
      controller = new AbortController()
      try {
        const res = await fetch(url, {
          headers: headers(lastId === null ? { accept: 'text/event-stream' } : { accept: 'text/event-stream', 'last-event-id': lastId }),
          cache: 'no-store',
          signal: controller.signal,
        })
        if (res.status === 401) {
          stopped = true
          onState('stopped')
          unauthorized()
          return
        }
        if (!res.ok || res.body === null) throw new Error(`HTTP ${res.status}`)
        failures = 0
        onState('live')
        onOpen()
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
        let buffer = ''
        let carriage = ''
        for (;;) {
          const { done, value } = await reader.read()
          if (done) break
          // CRLF and CR end lines too; a CR at a chunk's end may be the first half of a CRLF.
          let text = carriage + value
          carriage = text.endsWith('\r') ? '\r' : ''
          if (carriage !== '') text = text.slice(0, -1)
          buffer += text.replace(/\r\n?/g, '\n')
          for (let end = buffer.indexOf('\n\n'); end !== -1; end = buffer.indexOf('\n\n')) {
            const frame = parseFrame(buffer.slice(0, end), (ms) => (retry = ms))
            buffer = buffer.slice(end + 2)
            if (frame === null) continue
            if (frame.id !== null) lastId = frame.id
            try {
              onFrame(frame)
            } catch (err) {
              console.error('a frame could not be shown', err)
            }
          }
        }
      } catch (err) {
        if (stopped) return
        console.warn('event stream interrupted', err)
      }
      if (stopped) return
      failures++
      onState('reconnecting')
      await new Promise((resolve) => setTimeout(resolve, Math.min(retry * failures, 30_000)))
    }
  }
  void run()
  return () => {
    stopped = true
    controller?.abort()
    onState('stopped')
  }
}

/** Runs `load` now, or once more after the run in progress (never two at once, never one lost). */
export function coalesced(load) {
  let running = null
  let again = false
  const run = async () => {
    if (running !== null) {
      again = true
      return running
    }
    running = (async () => {
      do {
        again = false
        try {
          await load()
        } catch (err) {
          if (err.status !== 401 && !(err instanceof StaleAnswer)) console.warn(err)
        }
      } while (again)
      running = null
    })()
    return running
  }
  return run
}
