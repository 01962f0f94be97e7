import type net from 'node:net'
import type { PreviewLanding } from '../../routing/preview.js'
import type { Color } from '../../routing/types.js'
import { ALLOWED_METHODS, type ProxyError } from '../errors.js'
import { COLOR_HEADER } from '../headers.js'
import type { ProxyState } from '../proxy-state.js'
import { NO_SERVICE } from '../service-routes.js'
import { clientInfo } from '../trusted-proxies.js'
import { Framing, type RequestHead } from './head-types.js'

/**
 * switchyard's own answers on a raw socket, in the same JSON shape and headers as node's engine
 * writes them (http-handler.ts sendError): status line, JSON body, the colour and the router's
 * Set-Cookie, Retry-After on a full queue, Allow on a 405, and `connection: close` unless the connection goes on.
 */
export function errorAnswer(error: ProxyError, color: Color | undefined, setCookie: string | undefined, keepAlive: boolean): string {
  const body = JSON.stringify(error)
  const json = error.toJSON()
  let head = `HTTP/1.1 ${error.statusCode} ${json.error}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n`
  if (color !== undefined) head += `${COLOR_HEADER}: ${color}\r\n`
  if (setCookie !== undefined) head += `set-cookie: ${setCookie}\r\n`
  if (error.kind === 'busy') head += 'retry-after: 1\r\n'
  else if (error.statusCode === 405) head += `allow: ${ALLOWED_METHODS}\r\n`
  head += keepAlive ? 'connection: keep-alive\r\n' : 'connection: close\r\n'
  return `${head}\r\n${body}`
}

/** A JSON answer of switchyard's own (the 404 of a request no service matches). */
export function jsonAnswer(status: number, reason: string, body: string, keepAlive: boolean): string {
  return `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\ncache-control: no-store\r\n${keepAlive ? 'connection: keep-alive\r\n' : 'connection: close\r\n'}\r\n${body}`
}

/** The answer to a preview link (as request-handler.ts answerPreview): a redirect that sets or clears the preview cookie, or 403 naming the problem. */
export function previewAnswer(landing: PreviewLanding, keepAlive: boolean): string {
  const body = JSON.stringify({ statusCode: landing.status, message: landing.message })
  let head = `HTTP/1.1 ${landing.status} ${landing.status === 302 ? 'Found' : 'Forbidden'}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\ncache-control: no-store\r\n`
  if (landing.location !== undefined) head += `location: ${landing.location}\r\n`
  if (landing.setCookie !== undefined) head += `set-cookie: ${landing.setCookie}\r\n`
  return `${head}${keepAlive ? 'connection: keep-alive\r\n' : 'connection: close\r\n'}\r\n${body}`
}

/**
 * Answers a request switchyard answers itself: a preview link (of `state`'s lane), or the 404 of
 * a request no service matches (no `state`). Returns whether the connection goes on: only after
 * a body-less request that asked to.
 */
export function ownAnswer(socket: net.Socket, head: RequestHead, state: ProxyState | undefined): boolean {
  const keepAlive = head.keepAlive && head.framing === Framing.None
  const landing = state?.router.previewLanding(head.target, clientInfo(state.trust, socket.remoteAddress, head.headers, state.tls).secure)
  socket.write(landing === undefined ? jsonAnswer(404, 'Not Found', NO_SERVICE, keepAlive) : previewAnswer(landing, keepAlive))
  return keepAlive
}
