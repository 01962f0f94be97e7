/**
 * Which service's lane a request goes to (several services behind one listener): the routes
 * snapshot the server swaps whole when services change, the lookup by Host and path, and the
 * 404 for a request no service matches.
 */
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import type { ErrorCode } from '../errors.js'
import { PREVIEW_PATH } from '../routing/preview.js'
import { ServiceMatcher, type ServiceMatch } from '../routing/services.js'
import { requestTarget } from './client-errors.js'
import type { ProxyResponse } from './http-handler.js'
import type { ProxyLane } from './proxy-lane.js'
import type { ProxyState } from './proxy-state.js'

/** Which lane a request belongs to: an immutable snapshot, replaced whole when services change. */
export interface Routes {
  readonly lanes: ReadonlyMap<string, ProxyLane>
  /** A single service that matches everything: no matching at all on the request path. */
  readonly only: ProxyState | undefined
  readonly matcher: ServiceMatcher<ProxyState> | undefined
  /** Where a request whose target cannot be read goes, so that its lane answers the 400. */
  readonly first: ProxyState
}

export function routesOf(lanes: ReadonlyMap<string, ProxyLane>, services: readonly { readonly name: string; readonly match: ServiceMatch }[], defaultService: string | null, single: boolean): Routes {
  const first = lanes.values().next().value!.state
  if (single) return { lanes, only: first, matcher: undefined, first }
  const matcher = new ServiceMatcher(
    services.map((s) => ({ name: s.name, match: s.match, service: lanes.get(s.name)!.state })),
    defaultService === null ? undefined : lanes.get(defaultService)?.state,
  )
  return { lanes, only: undefined, matcher, first }
}

/** The lane of a request: by its Host header and path, or the authority and path of an absolute-form target. */
export function laneOf(routes: Routes, req: IncomingMessage): ProxyState | undefined {
  if (routes.only !== undefined) return routes.only
  const url = req.url ?? ''
  if (url.charCodeAt(0) === 0x2f) {
    const found = routes.matcher!.match(req.headers.host, url)
    if (found !== undefined || !url.startsWith(PREVIEW_PATH)) return found
    // A preview link of a service matched by path prefix: any lane answers it (one signer).
    return routes.first
  }
  const target = requestTarget(url)
  if (target === undefined) return routes.first
  return routes.matcher!.match(target.host ?? req.headers.host, target.path)
}

/** The 404 body of a request no service matches. */
export const NO_SERVICE = JSON.stringify({ statusCode: 404, code: 'SY_ERR_NO_SERVICE' satisfies ErrorCode, error: 'Not Found', message: "No service of this switchyard matches the request's host and path" })

/** A request no service matches: 404 from switchyard itself, nothing forwarded. */
export function answerNoService(req: IncomingMessage, res: ProxyResponse): void {
  req.resume()
  res.writeHead(404, ['content-type', 'application/json; charset=utf-8', 'content-length', String(Buffer.byteLength(NO_SERVICE)), 'cache-control', 'no-store'])
  res.end(NO_SERVICE)
}

/** An upgrade (WebSocket) no service matches: the same 404, and the connection closed. */
export function refuseNoServiceUpgrade(socket: Duplex): void {
  socket.end(`HTTP/1.1 404 Not Found\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(NO_SERVICE)}\r\nconnection: close\r\n\r\n${NO_SERVICE}`)
}
