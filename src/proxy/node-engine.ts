import http, { type IncomingMessage } from 'node:http'
import https from 'node:https'
import type { Duplex } from 'node:stream'
import { bodyTooLarge, handleClientError, handleConnect } from './client-errors.js'
import { ProxyResponse } from './http-handler.js'
import { handleRequest } from './request-handler.js'
import { answerNoService, laneOf, refuseNoServiceUpgrade, type Routes } from './service-routes.js'
import type { CertificateStore } from './tls.js'
import type { ProxyLimits } from './types.js'
import { handleUpgrade } from './websocket.js'

/** What node's engine is built from. */
export interface NodeEngineOptions {
  /** The services' lanes now (swapped whole by a reload). */
  readonly routes: () => Routes
  readonly limits: ProxyLimits
  readonly headersTimeout: number
  readonly keepAliveMs: number
  /** HTTPS with these certificates; plain HTTP when undefined (also behind the socket engine, which undoes TLS itself). */
  readonly certificates: CertificateStore | undefined
}

/**
 * node's engine: node:http's server with switchyard's request, upgrade, CONNECT, Expect and
 * parse-error handlers. It listens itself with `proxy.engine: node`; behind the socket engine it
 * never listens and takes the connections that engine hands it (raw/engine.ts).
 */
export function nodeEngine(options: NodeEngineOptions): http.Server | https.Server {
  const { routes, limits, headersTimeout, certificates } = options
  const httpOptions: http.ServerOptions<typeof IncomingMessage, typeof ProxyResponse> = {
    ServerResponse: ProxyResponse,
    keepAliveTimeout: options.keepAliveMs,
    // Long uploads and streamed answers must not be cut; headersTimeout still stops slow-loris.
    requestTimeout: 0,
    headersTimeout,
    // node checks headersTimeout on this period (30 s by default): check often enough that
    // a short timeout is kept to within about half of itself.
    connectionsCheckingInterval: Math.min(30_000, Math.max(50, Math.floor(headersTimeout / 2))),
    maxHeaderSize: limits.maxHeaderSize,
    // handleRequest refuses a missing Host itself, with a JSON body like every other refusal.
    requireHostHeader: false,
  }
  const onRequest = (req: IncomingMessage, res: ProxyResponse): void => {
    const state = laneOf(routes(), req)
    if (state === undefined) answerNoService(req, res)
    else handleRequest(state, req, res)
  }
  const server =
    certificates === undefined
      ? http.createServer<typeof IncomingMessage, typeof ProxyResponse>(httpOptions, onRequest)
      : // The same node:http machinery over TLS: requests, clientError, upgrades and CONNECT below
        // are handled exactly as on the plain listener. A client that never finishes its
        // handshake is held no longer than one that never finishes its headers.
        https.createServer<typeof IncomingMessage, typeof ProxyResponse>({ ...httpOptions, ...certificates.serverOptions(), handshakeTimeout: headersTimeout }, onRequest)
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const state = laneOf(routes(), req)
    if (state === undefined) refuseNoServiceUpgrade(socket)
    else handleUpgrade(state, req, socket, head)
  })
  // Without these, node answers parse errors with a bare 400 and drops CONNECT silently.
  server.on('clientError', handleClientError)
  server.on('connect', handleConnect)
  // `Expect: 100-continue` with a body over the limit gets 413 instead of 100 Continue.
  server.on('checkContinue', (req: IncomingMessage, res: ProxyResponse) => {
    const state = laneOf(routes(), req)
    if (state === undefined) return answerNoService(req, res)
    if (!bodyTooLarge(req.headers, limits.maxBodySize)) res.writeContinue()
    handleRequest(state, req, res)
  })
  return server
}
