import type { Color } from '../../routing/types.js'
import { passedResponseHead, rawResponseHead } from '../headers.js'
import { isHeadError, parseResponseHead, type ResponseHead } from './http1.js'

/** The upstream's final (non-1xx) response head and where its body starts in `buf`. */
export interface FinalHead {
  readonly head: ResponseHead
  readonly buf: Buffer
  readonly bodyAt: number
}

/**
 * Reads the upstream's answer up to its final head: 1xx informational heads before it are
 * skipped (not forwarded, as node's engine does); a 101 to a request that asked for no upgrade,
 * or a head that breaks HTTP, is an Error (the upstream's fault). Undefined with `rest`: not
 * complete yet, keep `rest` and call again with it joined to what comes next.
 */
export function finalHead(received: Buffer, maxHeaderSize: number, method: string): FinalHead | Error | { readonly rest: Buffer | undefined } {
  let buf = received
  let pos = 0
  for (;;) {
    const head = parseResponseHead(buf, pos, buf.length, maxHeaderSize, method)
    if (head === null) return { rest: pos === 0 ? buf : buf.subarray(pos) }
    if (isHeadError(head)) return new Error(head.error)
    pos += head.headLength
    if (head.status >= 200) return { head, buf, bodyAt: pos }
    if (head.status === 101) return new Error('101 Switching Protocols to a request without Upgrade')
    if (pos === buf.length) return { rest: undefined }
    buf = buf.subarray(pos)
    pos = 0
  }
}

/** The head the client gets for an upstream's answer: its own, passed on, with the colour, Set-Cookie and `extra` lines. */
export function clientHead(response: ResponseHead, color: Color, setCookie: string | undefined, extra: string): string {
  const passOn = response.passOn
  return passOn === undefined
    ? rawResponseHead(response.status, response.reason, response.rawHeaders, color, setCookie, extra)
    : passedResponseHead(passOn, color, setCookie, extra)
}
