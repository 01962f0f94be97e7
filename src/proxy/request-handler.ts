import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http'
import { PREVIEW_PATH } from '../routing/preview.js'
import { BodyLimit, bodyTooLarge, refusal, requestTarget, setCurrentExchange } from './client-errors.js'
import { ProxyError } from './errors.js'
import { upstreamRequestHeaders } from './headers.js'
import { HttpExchange, onClientClose, type ProxyResponse } from './http-handler.js'
import { BodyTee, withoutHeader } from './mirror.js'
import type { ProxyState } from './proxy-state.js'
import { forwardRequestId, REQUEST_ID_HEADER } from './request-id.js'
import { clientInfo } from './trusted-proxies.js'

/**
 * Cuts a request whose body goes silent for `ms` (nginx's client_body_timeout): the socket's
 * inactivity timer runs only while the body is being read. A closure per request with a body.
 */
function watchBody(req: IncomingMessage, exchange: HttpExchange, ms: number): void {
  const socket = req.socket
  const stalled = (): void => exchange.bodyStalled()
  // On the request, not the socket: node destroys a timed-out socket that nobody listens for.
  req.setTimeout(ms, stalled)
  const done = (): void => {
    socket.setTimeout(0)
    req.off('timeout', stalled)
  }
  req.once('end', done)
  req.once('close', done)
}

/** Answers a preview link: the preview cookie and a redirect, or 403 naming the problem. */
function answerPreview(state: ProxyState, req: IncomingMessage, res: ServerResponse, url: string, secure: boolean): void {
  req.resume()
  const landing = state.router.previewLanding(url, secure)
  const body = JSON.stringify({ statusCode: landing.status, message: landing.message })
  const head: string[] = ['content-type', 'application/json; charset=utf-8', 'content-length', String(Buffer.byteLength(body)), 'cache-control', 'no-store']
  if (landing.location !== undefined) head.push('location', landing.location)
  if (landing.setCookie !== undefined) head.push('set-cookie', landing.setCookie)
  res.writeHead(landing.status, head)
  res.end(body)
}

function hasBody(headers: IncomingHttpHeaders): boolean {
  const length = headers['content-length']
  return headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0')
}

/** The request listener: one table read, one route, one dispatch on the chosen colour's pool. */
export function handleRequest(state: ProxyState, req: IncomingMessage, res: ProxyResponse): void {
  const startedAt = performance.now()
  const peer = req.socket.remoteAddress
  // Without trusted proxies (the default) the client is the peer: nothing to work out.
  const client = state.trust === null ? undefined : clientInfo(state.trust, peer, req.headers, state.tls)
  const remoteAddress = client === undefined ? peer : client.address
  const secure = client === undefined ? state.tls : client.secure
  const url = req.url
  // A preview link (a dot never starts an application's first path segment): answered here.
  if (url !== undefined && url.charCodeAt(1) === 0x2e && url.startsWith(PREVIEW_PATH)) {
    answerPreview(state, req, res, url, secure)
    return
  }
  const route = state.router.route(state.tables.current(), req.headers, remoteAddress, secure, req.method)
  const color = route.color
  const pool = state.pools[color]
  const target = pool.pick()

  const exchange = new HttpExchange(state, req, res, color, route.setCookie, target, startedAt, pool)
  res.exchange = exchange
  exchange.client = remoteAddress
  const incomingId = req.headers[REQUEST_ID_HEADER]
  const requestId = state.requestIds?.of(incomingId)
  exchange.requestId = requestId
  res.on('close', onClientClose)
  setCurrentExchange(req.socket, exchange)
  state.acquire(color, target)
  const requested = requestTarget(req.url)
  const refused = refusal(req, requested, route.reject)
  // refusal answers every target requestTarget could not read.
  if (refused !== undefined || requested === undefined) {
    exchange.fail(refused!)
    return
  }

  const limits = state.limits
  if (bodyTooLarge(req.headers, limits.maxBodySize)) {
    exchange.fail(new ProxyError('SY_ERR_BODY_TOO_LARGE'))
    return
  }
  if (target === undefined) {
    exchange.fail(new ProxyError('SY_ERR_NO_TARGETS'))
    return
  }
  // Only a capped pool makes requests wait for a connection; undici counts them as pending.
  if (limits.maxConnectionsPerTarget > 0 && limits.maxPending > 0 && target.pool.stats.pending >= limits.maxPending) {
    exchange.fail(new ProxyError('SY_ERR_UPSTREAM_BUSY'))
    return
  }

  const timeouts = state.timeouts
  const withBody = hasBody(req.headers)
  // Absolute-form (`GET http://host/path`): the path goes to our target, never to the named
  // host; as RFC 9112 §3.2.2 asks, the named authority replaces the Host header.
  const headers = requested.host === undefined ? req.headers : { ...req.headers, host: requested.host }
  // A chunked body is counted as it streams; a Content-Length one was checked above.
  const bodyLimit =
    withBody && limits.maxBodySize > 0 && req.headers['content-length'] === undefined ? new BodyLimit(req, limits.maxBodySize) : undefined
  if (withBody && timeouts.body !== undefined && timeouts.body > 0) watchBody(req, exchange, timeouts.body)
  let upstreamHeaders = upstreamRequestHeaders(headers, peer, state.tls, client?.trustedPeer === true)
  const shadowMark = state.mirror?.settings.header
  if (shadowMark !== undefined && req.headers[shadowMark] !== undefined) upstreamHeaders = withoutHeader(upstreamHeaders, shadowMark)
  if (requestId !== undefined) forwardRequestId(upstreamHeaders, requestId, incomingId)
  const method = req.method ?? 'GET'
  // The IncomingMessage itself: undici streams it upstream with backpressure.
  let body: IncomingMessage | BodyLimit | BodyTee | null = bodyLimit ?? (withBody ? req : null)
  const mirror = route.mirror === true && state.mirror !== null ? state.mirror.begin(method, requested.path, req.headers, upstreamHeaders, target) : undefined
  if (mirror !== undefined) {
    exchange.mirror = mirror
    // A body (of known length, within mirror.maxBodySize) is teed on its way to blue; the shadows get it once whole.
    if (withBody) body = new BodyTee(req, mirror)
  }
  exchange.dispatch(
    target,
    { path: requested.path, method, headers: upstreamHeaders, body, headersTimeout: timeouts.request, bodyTimeout: timeouts.idle },
    !withBody,
    bodyLimit,
  )
  if (mirror !== undefined && !withBody) mirror.send(null)
}
