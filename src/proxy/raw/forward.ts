import { notForwarded, type RequestTarget } from '../client-errors.js'
import { ProxyError } from '../errors.js'
import { forwardedFields, trustedForwarding, upstreamRequestHeaders } from '../headers.js'
import { withoutHeader } from '../mirror.js'
import type { ProxyState } from '../proxy-state.js'
import { forwardRequestId, REQUEST_ID_HEADER } from '../request-id.js'
import { clientInfo } from '../trusted-proxies.js'
import type { ClientSide } from './connection-context.js'
import { RawExchange } from './exchange.js'
import { Framing, type RequestHead } from './http1.js'
import { MirrorTap } from './mirror-tap.js'

/**
 * One request of a lane on the socket engine, as handleRequest does it on node's: the client
 * (through trusted proxies), one table read and one route, a target of the colour, the refusals
 * that need no upstream (TRACE and fragments, the router's, the body limit, no targets, a full queue), and the head
 * for the upstream (hop-by-hop headers dropped, X-Forwarded-* and x-request-id set). Returns the
 * exchange, ready to `send` — or already settled when it was refused. A request the route samples
 * for mirroring gets its shadow job here (blue's answer is captured as it streams).
 */
export function forwardRequest(state: ProxyState, conn: ClientSide, head: RequestHead, absolute?: RequestTarget): RawExchange {
  const startedAt = performance.now()
  // Absolute-form: the named authority replaces Host (RFC 9112 §3.2.2); only the path goes upstream.
  const headers = absolute?.host === undefined ? head.headers : { ...head.headers, host: absolute.host }
  const peer = conn.socket.remoteAddress
  const client = state.trust === null ? undefined : clientInfo(state.trust, peer, headers, state.tls)
  const remoteAddress = client === undefined ? peer : client.address
  const secure = client === undefined ? state.tls : client.secure
  const route = state.router.route(state.tables.current(), headers, remoteAddress, secure, head.method)
  const pool = state.pools[route.color]
  const target = pool.pick()
  const exchange = new RawExchange(state, conn, { method: head.method, url: head.target }, route.color, route.setCookie, target, pool, startedAt)
  exchange.client = remoteAddress
  const incomingId = headers[REQUEST_ID_HEADER]
  const requestId = state.requestIds?.of(incomingId)
  exchange.requestId = requestId
  const limits = state.limits
  const refused = notForwarded(head.method, head.target)
  if (refused !== undefined) exchange.fail(refused)
  else if (route.reject !== undefined) exchange.fail(new ProxyError('SY_ERR_BAD_REQUEST', undefined, route.reject))
  else if (limits.maxBodySize > 0 && head.framing === Framing.Length && head.contentLength > limits.maxBodySize) exchange.fail(new ProxyError('SY_ERR_BODY_TOO_LARGE'))
  else if (target === undefined) exchange.fail(new ProxyError('SY_ERR_NO_TARGETS'))
  // Only a capped pool makes requests wait for a connection.
  else if (limits.maxConnectionsPerTarget > 0 && limits.maxPending > 0 && target.sockets.pending >= limits.maxPending) exchange.fail(new ProxyError('SY_ERR_UPSTREAM_BUSY'))
  if (exchange.settled) return exchange
  const trustedPeer = client?.trustedPeer === true
  // A client must not mark its own request as a shadow (see mirror.ts withoutHeader).
  const shadowMark = state.mirror?.settings.header
  const marked = shadowMark !== undefined && headers[shadowMark] !== undefined
  const path = absolute?.path ?? head.target
  let out = `${head.method} ${path} HTTP/1.1\r\n`
  // HTTP/1.0 allows a request without Host; HTTP/1.1 (upstream) does not: the target's own, as undici sends.
  if (headers.host === undefined) out += `host: ${target!.origin.slice(target!.origin.indexOf('//') + 2)}\r\n`
  // The client's field lines go up as sent when nothing but dropping lines is asked of them;
  // `lines` is then only what the proxy adds, else every field (the head rebuilt from headers).
  let lines: string[]
  let upstream: string[] | undefined
  if (head.passOn !== undefined && absolute === undefined && !marked && route.mirror !== true && (requestId === undefined || incomingId === undefined || incomingId === requestId)) {
    out += head.passOn
    lines = forwardedFields([], headers, peer, state.tls, trustedPeer)
    if (trustedPeer && head.forwardingDropped) trustedForwarding(lines, head.rawHeaders)
    if (requestId !== undefined && incomingId === undefined) lines.push(REQUEST_ID_HEADER, requestId)
  } else {
    upstream = upstreamRequestHeaders(headers, peer, state.tls, trustedPeer)
    if (marked) upstream = withoutHeader(upstream, shadowMark)
    if (requestId !== undefined) forwardRequestId(upstream, requestId, incomingId)
    lines = upstream
  }
  for (let i = 0; i < lines.length; i += 2) out += `${lines[i]!}: ${lines[i + 1]!}\r\n`
  // The body goes up in the framing it came in (Content-Length is kept; TE is hop-by-hop).
  if (head.framing === Framing.Chunked) out += 'transfer-encoding: chunked\r\n'
  const withBody = head.framing !== Framing.None
  exchange.prepare(`${out}connection: keep-alive\r\n\r\n`, withBody)
  const job = route.mirror === true && state.mirror !== null && upstream !== undefined ? state.mirror.begin(head.method, path, head.headers, upstream, target!) : undefined
  if (job !== undefined) exchange.mirror = new MirrorTap(job, withBody)
  return exchange
}
