import http, { type ClientRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http'
import https from 'node:https'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { Color } from '../routing/types.js'
import { refusal, requestTarget } from './client-errors.js'
import { describeError, ERRORS, ProxyError, toProxyError } from './errors.js'
import { offersH2c, rawResponseHead, upstreamRequestHeaders } from './headers.js'
import { withoutHeader } from './mirror.js'
import type { OpenUpgrade, ProxyState, Recorded } from './proxy-state.js'
import { errorAnswer } from './raw/answers.js'
import { forwardRequestId, REQUEST_ID_HEADER } from './request-id.js'
import { clientInfo } from './trusted-proxies.js'
import { Tunnel } from './tunnel.js'
import type { ErrorKind } from './types.js'
import type { UpstreamTarget } from './upstream-pool.js'

/**
 * What an upgrade needs of its request: node's IncomingMessage (node's engine), or the head the
 * socket engine parsed with the client's socket.
 */
export interface UpgradeRequest {
  readonly method?: string | undefined
  readonly url?: string | undefined
  readonly headers: IncomingHttpHeaders
  readonly socket: { readonly remoteAddress?: string | undefined }
  /** node's engine: what node parsed beside the headers, checked as requests are (client-errors.ts refusal). */
  readonly rawHeaders?: string[]
  readonly httpVersion?: string
}

/** The close reason a drained colour's WebSockets get, with status 1001. */
export const DRAINED_REASON = 'switchyard: colour drained'

/** The close reason at a shutdown deadline, with status 1001. */
export const SHUTDOWN_REASON = 'switchyard: shutting down'

/**
 * One upgrade request (WebSocket or any other protocol switch): routed like an HTTP request,
 * replayed upstream, and on 101 turned into a two-way tunnel. The handshake outcome is
 * recorded once; the tunnel counts as in flight until the client's socket closes.
 */
class UpgradeExchange implements OpenUpgrade, Recorded {
  readonly epoch: number
  /** Its x-request-id (log.requestId), sent upstream with the handshake. */
  readonly requestId: string | undefined
  readonly #state: ProxyState
  readonly #req: UpgradeRequest
  readonly #client: Duplex
  readonly #head: Buffer
  readonly #color: Color
  readonly #setCookie: string | undefined
  readonly #target: UpstreamTarget | undefined
  readonly #startedAt = performance.now()
  #upstreamRequest: ClientRequest | undefined
  #upstreamSocket: Duplex | undefined
  #tunnel: Tunnel | undefined
  #timer: NodeJS.Timeout | undefined
  /** handshake: waiting for upstream; failed: our error answer is out; forwarding: a non-101 answer; tunnel: after 101. */
  #phase: 'handshake' | 'failed' | 'forwarding' | 'tunnel' = 'handshake'
  #recorded = false
  #released = false
  /** An override value the router refused: the handshake is answered 400. */
  readonly #reject: string | undefined
  /** The client's address (through trusted proxies), for the access log. */
  readonly #clientAddress: string | undefined

  constructor(state: ProxyState, req: UpgradeRequest, client: Duplex, head: Buffer) {
    this.epoch = state.epoch
    this.#state = state
    this.#req = req
    this.#client = client
    this.#head = head
    const peer = req.socket.remoteAddress
    const from = state.trust === null ? undefined : clientInfo(state.trust, peer, req.headers, state.tls)
    const secure = from === undefined ? state.tls : from.secure
    this.#clientAddress = from === undefined ? peer : from.address
    const route = state.router.route(state.tables.current(), req.headers, this.#clientAddress, secure, 'GET')
    this.#reject = route.reject
    this.#color = route.color
    this.#setCookie = route.setCookie
    this.#target = state.pools[route.color].pick()
    this.requestId = state.requestIds?.of(req.headers[REQUEST_ID_HEADER])
  }

  get color(): Color {
    return this.#color
  }

  get request(): UpgradeRequest {
    return this.#req
  }

  get startedAt(): number {
    return this.#startedAt
  }

  get client(): string | undefined {
    return this.#clientAddress
  }

  get origin(): string | undefined {
    return this.#target?.origin
  }

  get tunnelled(): boolean {
    return this.#tunnel !== undefined
  }

  /** The colour drained: a tunnel closes cleanly; a handshake still pending is left to finish. */
  drain(): void {
    this.#tunnel?.goAway(DRAINED_REASON)
  }

  shutdown(): void {
    if (this.#tunnel === undefined) this.#teardown()
    else this.#tunnel.goAway(SHUTDOWN_REASON)
  }

  start(): void {
    const client = this.#client
    const target = this.#target
    this.#state.acquire(this.#color, target)
    this.#state.tunnels.add(this)
    client.on('error', this.#teardown)
    client.on('close', this.#onClientClose)
    const req = this.#req
    const requested = requestTarget(req.url)
    const refused = refusal(req, requested, this.#reject)
    if (refused !== undefined) {
      this.#fail(refused)
      return
    }
    if (target === undefined) {
      this.#fail(new ProxyError('SY_ERR_NO_TARGETS'))
      return
    }

    const peer = req.socket.remoteAddress
    const shadowMark = this.#state.mirror?.settings.header
    // Absolute-form: only the path goes upstream, the authority it names as Host (as requests do).
    const named = requested?.host === undefined ? req.headers : { ...req.headers, host: requested.host }
    const sent = upstreamRequestHeaders(named, peer, this.#state.tls, this.#state.trust?.has(peer) === true)
    // A client never marks its own request as a shadow (mirror.header).
    const headers = shadowMark !== undefined && req.headers[shadowMark] !== undefined ? withoutHeader(sent, shadowMark) : sent
    // An h2c offer goes up as a plain request (offersH2c): the upstream's answer is then forwarded as one.
    if (!offersH2c(req.headers.upgrade)) headers.push('connection', 'Upgrade', 'upgrade', headerValue(req.headers.upgrade) ?? 'websocket')
    if (this.requestId !== undefined) forwardRequestId(headers, this.requestId, req.headers[REQUEST_ID_HEADER])
    if (named.host === undefined) headers.push('host', target.port === 80 ? target.hostname : `${target.hostname}:${target.port}`)

    const request = (target.secure ? https : http).request({
      host: target.hostname,
      port: target.port,
      method: req.method ?? 'GET',
      path: requested!.path,
      headers,
      agent: false,
      // upstreams.tls: the same verification as the HTTP path's pools.
      ...target.tls,
    })
    this.#upstreamRequest = request
    request.on('upgrade', this.#onUpgrade)
    request.on('response', this.#onResponse)
    request.on('error', this.#onUpstreamError)
    request.on('socket', this.#onSocket)
    this.#arm('SY_ERR_UPSTREAM_CONNECT', this.#state.timeouts.connect)
    request.end()
  }

  // Node's ClientRequest has no connect timeout: time the connect, then the handshake answer.
  #arm(code: 'SY_ERR_UPSTREAM_CONNECT' | 'SY_ERR_UPSTREAM_TIMEOUT', ms: number): void {
    clearTimeout(this.#timer)
    this.#timer = ms > 0 ? setTimeout(this.#onTimeout, ms, code) : undefined
  }

  readonly #onTimeout = (code: 'SY_ERR_UPSTREAM_CONNECT' | 'SY_ERR_UPSTREAM_TIMEOUT'): void => {
    this.#fail(new ProxyError(code, new Error(`${ERRORS[code].message} (websocket handshake)`)))
  }

  readonly #onSocket = (socket: Socket): void => {
    socket.once('connect', () => this.#arm('SY_ERR_UPSTREAM_TIMEOUT', this.#state.timeouts.request))
  }

  readonly #onUpgrade = (res: IncomingMessage, upstream: Socket, upstreamHead: Buffer): void => {
    clearTimeout(this.#timer)
    this.#upstreamSocket = upstream
    upstream.on('error', this.#teardown)
    if (this.#phase !== 'handshake') {
      upstream.destroy()
      return
    }
    this.#phase = 'tunnel'
    this.#target?.succeeded()
    const client = this.#client
    const upgrade = headerValue(res.headers.upgrade) ?? 'websocket'
    client.write(
      rawResponseHead(101, res.statusMessage ?? 'Switching Protocols', res.rawHeaders, this.#color, this.#setCookie, `connection: Upgrade\r\nupgrade: ${upgrade}\r\n`),
    )
    this.#record(101, undefined)
    upstream.setNoDelay(true)
    if (typeof (client as Socket).setNoDelay === 'function') (client as Socket).setNoDelay(true)
    const websocket = headerValue(this.#req.headers.upgrade)?.trim().toLowerCase() === 'websocket'
    this.#tunnel = new Tunnel(client, upstream, websocket, this.#head, upstreamHead, this.#state.timeouts.send ?? 0)
  }

  // The upstream declined the switch: forward its answer as a plain response, then close.
  readonly #onResponse = (res: IncomingMessage): void => {
    clearTimeout(this.#timer)
    if (this.#phase !== 'handshake') {
      res.destroy()
      return
    }
    this.#phase = 'forwarding'
    this.#target?.succeeded()
    const status = res.statusCode ?? 502
    this.#client.write(rawResponseHead(status, res.statusMessage ?? '', res.rawHeaders, this.#color, this.#setCookie, 'connection: close\r\n'))
    this.#record(status, undefined)
    res.on('error', this.#teardown)
    res.pipe(this.#client)
  }

  readonly #onUpstreamError = (err: Error): void => {
    clearTimeout(this.#timer)
    if (this.#phase === 'handshake') this.#fail(toProxyError(err))
    // After our own error answer the upstream request is gone on purpose; elsewhere, cut both.
    else if (this.#phase !== 'failed') this.#teardown()
  }

  readonly #onClientClose = (): void => {
    if (!this.#recorded) this.#record(499, 'client')
    // A tunnel lets the upstream take what the client sent before it left, then ends it.
    if (this.#tunnel === undefined) this.#teardown()
    if (!this.#released) {
      this.#released = true
      this.#state.tunnels.delete(this)
      this.#state.release(this.#color, this.#target)
    }
  }

  readonly #teardown = (): void => {
    clearTimeout(this.#timer)
    this.#upstreamRequest?.destroy()
    this.#upstreamSocket?.destroy()
    this.#client.destroy()
  }

  // Answers a failed handshake with our JSON error on the raw socket.
  #fail(error: ProxyError): void {
    if (this.#phase !== 'handshake') return
    this.#phase = 'failed'
    clearTimeout(this.#timer)
    this.#upstreamRequest?.destroy()
    if (this.#recorded) return
    if (error.kind !== undefined && error.kind !== 'client') this.#target?.failed(describeError(error))
    this.#record(error.statusCode, error.kind)
    const client = this.#client
    if (!client.writable) return
    client.end(errorAnswer(error, this.#color, this.#setCookie, false))
  }

  #record(status: number, kind: ErrorKind | undefined): void {
    this.#recorded = true
    // A handshake has no first byte of a body to time: -1.
    this.#state.record(this, status, kind, -1)
  }
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value
}

/** The server's 'upgrade' listener: proxies the handshake and then the tunnel. */
export function handleUpgrade(state: ProxyState, req: UpgradeRequest, client: Duplex, head: Buffer): void {
  new UpgradeExchange(state, req, client, head).start()
}
