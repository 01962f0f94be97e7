import type { Captured, Pair } from '../../src/shadow/captured.js'

/** A whole JSON answer of `value`, with overrides. */
export function json(value: unknown, over: Partial<Captured> = {}): Captured {
  return answer({ headers: { 'content-type': 'application/json; charset=utf-8' }, body: Buffer.from(JSON.stringify(value)), ...over })
}

/** A whole answer, 200 text/plain "ok" unless overridden. */
export function answer(over: Partial<Captured> = {}): Captured {
  return {
    status: 200,
    headers: { 'content-type': 'text/plain' },
    body: Buffer.from('ok'),
    truncated: false,
    complete: true,
    durationMs: 20,
    ttfbMs: 5,
    ...over,
  }
}

/** An SSE answer of `events` frames. */
export function sse(events: number, over: Partial<Captured> = {}): Captured {
  return answer({ headers: { 'content-type': 'text/event-stream' }, body: null, events, ...over })
}

export function pair(blue: Captured, green: Captured, over: Partial<Pair> = {}): Pair {
  return { route: '/api', method: 'GET', path: '/api/things?id=7', blue, green, ...over }
}
