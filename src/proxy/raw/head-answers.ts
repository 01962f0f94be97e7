/** What the socket engine makes of a request head before forwarding it: a refusal's answer and error, or a hand-over. */
import { requestTarget, type RequestTarget } from '../client-errors.js'
import { PREVIEW_PATH } from '../../routing/preview.js'
import { ERRORS, ProxyError } from '../errors.js'
import { offersH2c } from '../headers.js'
import type { HeadError, RequestHead } from './head-types.js'

/** The interim answer to `Expect: 100-continue`. */
export const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n'

const STATUS_CODE: Readonly<Record<number, 'SY_ERR_HEADERS_TOO_LARGE' | 'SY_ERR_MALFORMED_REQUEST'>> = { 431: 'SY_ERR_HEADERS_TOO_LARGE' }

/** A refused head's answer: 431 for a head over the limit, else 400 naming what is wrong. */
export function headAnswer(error: HeadError): ProxyError {
  const code = STATUS_CODE[error.status] ?? 'SY_ERR_MALFORMED_REQUEST'
  return new ProxyError(code, undefined, code === 'SY_ERR_MALFORMED_REQUEST' ? `${ERRORS.SY_ERR_MALFORMED_REQUEST.message}: ${error.error}` : undefined)
}

/** The parse error as node reports it in 'clientError' (llhttp's code), for whoever listens. */
export function parseError(error: HeadError): Error & { code: string } {
  return Object.assign(new Error(error.error), { code: error.code })
}

/** Is the request's target a path (origin-form)? */
export function carried(head: RequestHead): boolean {
  return head.target.charCodeAt(0) === 0x2f
}

/** Whether the request leaves for the byte tunnel: an upgrade (or CONNECT), but not to h2c (see offersH2c). */
export function tunnelled(head: RequestHead): boolean {
  return head.upgrade && !offersH2c(head.headers.upgrade)
}

/** A preview link (PREVIEW_PATH), answered by switchyard itself (a dot never starts an application's first segment). */
export function isPreviewLink(path: string): boolean {
  return path.charCodeAt(1) === 0x2e && path.startsWith(PREVIEW_PATH)
}

/**
 * An absolute-form target (`GET http://host/path`, RFC 9112 §3.2.2) this engine carries: its
 * path goes to our target and its authority replaces Host. Undefined for any other target
 * (asterisk-form, other schemes): node's engine answers those (400).
 */
export function absoluteTarget(head: RequestHead): RequestTarget | undefined {
  const target = requestTarget(head.target)
  return target === undefined || target.host === undefined ? undefined : target
}
