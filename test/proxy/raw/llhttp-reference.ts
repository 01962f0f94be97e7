import { IncomingMessage, type IncomingHttpHeaders } from 'node:http'
import { createRequire } from 'node:module'
import type { Socket } from 'node:net'

/**
 * The reference our parser is checked against: node's own llhttp binding (the HTTPParser that
 * node:http drives), strict (no lenient flags, as insecureHTTPParser: false), fed in-process:
 * deterministic and fast. Header objects are built by node's IncomingMessage itself.
 */

interface ParserError extends Error {
  code: string
  reason: string
  bytesParsed: number
}

interface NodeHTTPParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void
  execute(data: Buffer): number | ParserError
  finish(): undefined | ParserError
  close(): void
  [key: number]: unknown
}

interface HTTPParserClass {
  new (): NodeHTTPParser
  REQUEST: number
  RESPONSE: number
  kOnHeaders: number
  kOnHeadersComplete: number
  kOnBody: number
  kOnMessageComplete: number
}

const require = createRequire(import.meta.url)
const common = require('_http_common') as { HTTPParser: HTTPParserClass; methods: string[] }
const { HTTPParser, methods } = common

/** One message as node saw it. */
export interface RefMessage {
  readonly minor: number
  readonly major: number
  readonly method: string | undefined
  readonly url: string
  readonly status: number
  readonly reason: string
  readonly rawHeaders: string[]
  readonly headers: IncomingHttpHeaders
  readonly upgrade: boolean
  readonly keepAlive: boolean
  body: Buffer
  trailers: string[]
  complete: boolean
}

export interface RefResult {
  readonly messages: RefMessage[]
  /** The parser's error code (HPE_*), if it refused the stream. */
  readonly error: string | undefined
}

/** node:http's headers object for these raw headers. */
export function nodeHeaders(raw: string[]): IncomingHttpHeaders {
  const message = new IncomingMessage(null as unknown as Socket) as IncomingMessage & { _addHeaderLines(h: string[], n: number): void }
  message._addHeaderLines(raw, raw.length)
  return message.headers
}

/**
 * Parses `stream` with llhttp. `requestMethods` (responses only): the method of the request
 * each response answers, in order (HEAD responses have no body).
 */
export function llhttpParse(stream: Buffer, kind: 'request' | 'response', maxHeaderSize = 16384, requestMethods: string[] = []): RefResult {
  const parser = new HTTPParser()
  parser.initialize(kind === 'request' ? HTTPParser.REQUEST : HTTPParser.RESPONSE, {}, maxHeaderSize, 0)
  const messages: RefMessage[] = []
  let pending: string[] = []
  let pendingUrl = ''
  // More than 32 fields: node's binding flushes them (and the url) here before headers-complete.
  parser[HTTPParser.kOnHeaders] = (headers: string[], url: string) => {
    pending.push(...headers)
    pendingUrl += url
  }
  parser[HTTPParser.kOnHeadersComplete] = (
    major: number, minor: number, headers: string[] | undefined, method: number, url: string | undefined,
    status: number, reason: string | undefined, upgrade: boolean, keepAlive: boolean,
  ) => {
    const rawHeaders = headers ?? pending
    if (url === undefined) url = pendingUrl
    pending = []
    pendingUrl = ''
    messages.push({
      major, minor, method: kind === 'request' ? methods[method] : undefined, url: url ?? '', status, reason: reason ?? '',
      rawHeaders, headers: nodeHeaders(rawHeaders), upgrade, keepAlive, body: Buffer.alloc(0), trailers: [], complete: false,
    })
    // As node's client: no body after a HEAD request or in a 1xx response (llhttp itself skips 204 and 304).
    return kind === 'response' && (requestMethods[messages.length - 1] === 'HEAD' || (status >= 100 && status < 200)) ? 1 : 0
  }
  parser[HTTPParser.kOnBody] = (chunk: Buffer) => {
    const current = messages.at(-1)!
    current.body = Buffer.concat([current.body, chunk])
  }
  parser[HTTPParser.kOnMessageComplete] = () => {
    const current = messages.at(-1)!
    current.trailers = pending
    current.complete = true
    pending = []
    pendingUrl = ''
  }
  const result = parser.execute(stream)
  const error = result instanceof Error ? result.code : undefined
  parser.close()
  return { messages, error }
}
