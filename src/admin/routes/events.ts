import type { ServerResponse } from 'node:http'
import type { AuditEvent, LiveFrame } from '../../control/port.js'
import { httpError } from '../http-errors.js'
import { EventsQuery, StreamQuery } from '../schemas.js'
import type { AdminApp } from '../server.js'
import type { ServicePorts } from '../service-ports.js'

/** A comment line this often keeps proxies and load balancers from closing an idle stream. */
const HEARTBEAT_MS = 15_000
/** How soon a client reconnects after the stream ends (the SSE `retry` field). */
const RETRY_MS = 2_000

/** One Server-Sent Event: `id` (for Last-Event-ID), `event` (its type) and the event as JSON. */
function frame(event: AuditEvent): string {
  return `id: ${event.id}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`
}

/** A stream-only frame: no `id`, so a client's Last-Event-ID stays that of the last audit event. */
function liveFrame(live: LiveFrame): string {
  return `event: ${live.type}\ndata: ${JSON.stringify(live)}\n\n`
}

/**
 * GET /v1/events (the audit log, filtered) and GET /v1/events/stream: the same events as
 * Server-Sent Events as they happen. A client that comes back with `Last-Event-ID` first gets
 * what it missed (as far as the log reaches), then the live events, each exactly once.
 * Between them come this replica's id-less frames: `health` changes, and with `stats=1` one
 * `stats` frame a second (control/live-feed.ts); they are not replayed on a reconnect.
 */
export function eventRoutes(app: AdminApp, ports: ServicePorts, base = '/v1'): void {
  app.get(`${base}/events`, { schema: { querystring: EventsQuery } }, async (request) => {
    const { limit, type, since } = request.query
    return ports.of(request).events({
      ...(limit === undefined ? {} : { limit: Number(limit) }),
      ...(type === undefined ? {} : { types: type.split(',') }),
      ...(since === undefined ? {} : { since: /^\d+$/.test(since) ? Number(since) : since }),
    })
  })

  const open = new Set<ServerResponse>()
  // A stream never ends by itself: end them all when the admin API closes, or close would wait forever.
  app.addHook('preClose', async () => {
    for (const res of open) res.end()
  })

  app.get(`${base}/events/stream`, { schema: { querystring: StreamQuery } }, async (request, reply) => {
    const control = ports.of(request)
    const header = request.headers['last-event-id']
    const last = typeof header === 'string' && header !== '' ? Number(header) : undefined
    if (last !== undefined && !(Number.isSafeInteger(last) && last >= 0)) {
      throw httpError('SY_ERR_HTTP_400', 'Last-Event-ID must be the id of an event (a whole number)')
    }
    const { type, stats } = request.query
    const types = type === undefined ? undefined : type.split(',')
    const wanted = (event: AuditEvent) => event.id !== undefined && (types === undefined || types.includes(event.type))
    const res = reply.raw
    reply.hijack()
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      // nginx and other buffering proxies pass each event on at once.
      'x-accel-buffering': 'no',
    })
    res.write(`retry: ${RETRY_MS}\n\n`)
    open.add(res)
    // Subscribed before the missed events are read, so nothing falls between the two; ids drop repeats.
    let sent = last ?? Number.NEGATIVE_INFINITY
    const send = (event: AuditEvent) => {
      if (!wanted(event) || event.id! <= sent) return
      sent = event.id!
      res.write(frame(event))
    }
    const stop = control.subscribe(send)
    const stopLive = control.live(
      (live) => {
        if (live.type === 'stats' || types === undefined || types.includes(live.type)) res.write(liveFrame(live))
      },
      { stats: stats === '1' || stats === 'true' },
    )
    if (last !== undefined) for (const event of [...control.events({ since: last })].reverse()) send(event)
    else sent = control.events({ limit: 1 })[0]?.id ?? 0
    const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS)
    heartbeat.unref()
    res.on('close', () => {
      stop()
      stopLive()
      clearInterval(heartbeat)
      open.delete(res)
    })
  })
}
