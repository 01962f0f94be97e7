import fc from 'fast-check'
import type { IncomingHttpHeaders } from 'node:http'
import {
  ChunkedFraming, Framing, isHeadError, parseRequestHead, parseResponseHead,
  type HeadError, type RequestHead, type ResponseHead,
} from '../../../src/proxy/raw/http1.js'

/**
 * Generators of HTTP/1.1 messages (as parts, so that tests can break one part), and a driver
 * that feeds a byte stream to our parser in arbitrary pieces the way the engine will.
 */

/** A field line: name, value and the OWS around the value. */
export interface Field {
  readonly name: string
  readonly value: string
  readonly pre: string
  readonly post: string
}

export interface Chunk {
  readonly size: string
  readonly ext: string
  readonly data: string
}

export type Body =
  | { readonly kind: 'none' }
  | { readonly kind: 'length'; readonly data: string }
  | { readonly kind: 'chunked'; readonly chunks: Chunk[]; readonly last: string; readonly trailers: Field[] }

/** A message as its lines: the start line, the field lines (without CRLF), the body. */
export interface Parts {
  start: string
  fields: string[]
  /** Line ends: ends[0] after the start line, ends[i + 1] after fields[i], the last one for the empty line. */
  ends: string[]
  body: string
}

const TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
const RESERVED = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'proxy-connection', 'upgrade', 'keep-alive'])

const tchar = fc.constantFrom(...TCHARS)
const latin1 = (from: number, to: number) => fc.integer({ min: from, max: to }).map((c) => String.fromCharCode(c))
/** A field value: VCHAR, obs-text, and SP/HTAB inside only. */
const fieldValue = fc
  .array(fc.oneof({ weight: 6, arbitrary: latin1(0x21, 0x7e) }, { weight: 1, arbitrary: latin1(0x80, 0xff) }, { weight: 1, arbitrary: fc.constantFrom(' ', '\t') }), { maxLength: 24 })
  .map((chars) => chars.join('').replace(/^[ \t]+|[ \t]+$/g, ''))
const ows = fc.constantFrom('', ' ', ' ', '  ', '\t', ' \t')

const fieldName = fc.oneof(
  { weight: 3, arbitrary: fc.string({ unit: tchar, minLength: 1, maxLength: 14 }) },
  { weight: 2, arbitrary: fc.constantFrom('Cookie', 'cookie', 'Set-Cookie', 'Accept', 'User-Agent', 'Date', 'Authorization', 'X-Forwarded-For', 'Content-Type', 'Expect', '__proto__', 'constructor', 'Age', 'Vary') },
).filter((name) => {
  const lower = name.toLowerCase()
  const bare = lower.replaceAll('_', '').replaceAll('-', '')
  return !RESERVED.has(lower) && bare !== 'contentlength' && bare !== 'transferencoding' && bare !== 'host'
})

export const field: fc.Arbitrary<Field> = fc.record({ name: fieldName, value: fieldValue, pre: ows, post: ows })
export const fields = fc.array(field, { maxLength: 8 })

const bytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max }).map((b) => Buffer.from(b).toString('latin1'))
const chunkExt = fc.constantFrom('', '', ';a', ';a=b', ';name="q\\"v x"', ';a=b;c', ';x=""', ';k=v;q="\t\x80"')

const chunk: fc.Arbitrary<Chunk> = fc
  .record({ data: bytes(1, 24), ext: chunkExt, form: fc.constantFrom('lower', 'upper', 'zero') })
  .map(({ data, ext, form }) => {
    const hex = data.length.toString(16)
    return { data, ext, size: form === 'upper' ? hex.toUpperCase() : form === 'zero' ? `0${hex}` : hex }
  })

export const chunkedBody = fc.record({
  kind: fc.constant('chunked' as const),
  chunks: fc.array(chunk, { maxLength: 4 }),
  last: fc.constantFrom('0', '000', '0;done', '0;a="b"'),
  trailers: fc.array(field, { maxLength: 2 }),
})
export const body = (chunked: boolean): fc.Arbitrary<Body> =>
  fc.oneof(
    fc.constant({ kind: 'none' as const }),
    fc.record({ kind: fc.constant('length' as const), data: bytes(0, 40) }),
    ...(chunked ? [chunkedBody] : []),
  )

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD', 'PURGE', 'PROPFIND', 'MKCOL', 'TRACE', 'M-SEARCH', 'SEARCH']
const pathChar = fc.constantFrom(...'abcXYZ019-._~!$&\'()*+,;=:@%/?#"{}|\\^`[]')
const target = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: pathChar, maxLength: 30 }).map((p) => `/${p}`) },
  { weight: 1, arbitrary: fc.string({ unit: pathChar, maxLength: 10 }).map((p) => `http://example.test:8080/${p}`) },
  { weight: 1, arbitrary: fc.constant('*') },
)

export interface RequestSpec {
  readonly method: string
  readonly target: string
  readonly minor: 0 | 1
  readonly fields: Field[]
  readonly host: string | undefined
  readonly hostAt: number
  readonly connection: string | undefined
  readonly body: Body
}

const KEEP_ALIVE_1_1 = [undefined, 'keep-alive', 'foo, Keep-Alive']
const KEEP_ALIVE_1_0 = ['keep-alive', 'Keep-Alive', 'x , keep-alive']
const ANY_1_1 = [...KEEP_ALIVE_1_1, 'close', 'Close', 'foo,close', 'TE']
const ANY_1_0 = [...KEEP_ALIVE_1_0, undefined, 'close', 'TE']

/** A Host value: `uri-host [":" port]` (RFC 9110 §7.2), OWS around it; the proxy refuses any other. */
const hostValue = fc
  .tuple(
    fc.oneof(
      fc.constantFrom('a.test', 'A.Test', '127.0.0.1', '[::1]', '[2001:db8::1]', 'my_svc.internal', "x!$&'()*+,;=~%41"),
      fc.stringMatching(/^[a-z0-9.-]{1,20}$/),
    ),
    fc.constantFrom('', ':8080', ':', ':1'),
    fc.constantFrom('', ' ', '\t'),
  )
  .map(([name, port, ows]) => `${ows}${name}${port}${ows}`)

/** A valid request; `keepAlive` forces one that leaves the connection open (not last in a pipeline). */
export const request = (keepAlive: boolean, chunked?: boolean): fc.Arbitrary<RequestSpec> =>
  (chunked === true ? fc.constant<0 | 1>(1) : fc.constantFrom<0 | 1>(1, 1, 1, 0)).chain((minor) =>
    fc.record({
      method: fc.constantFrom(...METHODS),
      target,
      minor: fc.constant(minor),
      fields,
      host: minor === 1 ? hostValue : fc.option(hostValue, { nil: undefined }),
      hostAt: fc.nat(),
      connection: fc.constantFrom(...(minor === 1 ? (keepAlive ? KEEP_ALIVE_1_1 : ANY_1_1) : keepAlive ? KEEP_ALIVE_1_0 : ANY_1_0)),
      body: chunked === true && minor === 1 ? chunkedBody : body(minor === 1),
    }),
  )

const line = (f: Field): string => `${f.name}:${f.pre}${f.value}${f.post}`

/** The framing field lines of a body. */
function framingLines(b: Body): string[] {
  if (b.kind === 'length') return [`Content-Length: ${b.data.length}`]
  if (b.kind === 'chunked') return ['Transfer-Encoding: chunked']
  return []
}

export function bodyText(b: Body): string {
  if (b.kind === 'none') return ''
  if (b.kind === 'length') return b.data
  const chunks = b.chunks.map((c) => `${c.size}${c.ext}\r\n${c.data}\r\n`).join('')
  return `${chunks}${b.last}\r\n${b.trailers.map((t) => `${line(t)}\r\n`).join('')}\r\n`
}

export function requestParts(spec: RequestSpec): Parts {
  const lines = spec.fields.map(line)
  const extra = [...framingLines(spec.body)]
  if (spec.connection !== undefined) extra.push(`Connection: ${spec.connection}`)
  if (spec.host !== undefined) extra.push(`Host: ${spec.host}`)
  for (const [k, l] of extra.entries()) lines.splice((spec.hostAt + k) % (lines.length + 1), 0, l)
  return { start: `${spec.method} ${spec.target} HTTP/1.${spec.minor}`, fields: lines, ends: lines.map(() => '\r\n').concat('\r\n', '\r\n'), body: bodyText(spec.body) }
}

export function joinParts(p: Parts): string {
  return p.start + p.ends[0] + p.fields.map((f, i) => f + p.ends[i + 1]).join('') + p.ends[p.fields.length + 1] + p.body
}

export function expectedData(b: Body): string {
  if (b.kind === 'none') return ''
  if (b.kind === 'length') return b.data
  return b.chunks.map((c) => c.data).join('')
}

/** What our parser made of one message. */
export interface OurMessage<H> {
  readonly head: H
  readonly body: Buffer
  readonly trailers: string[]
}

export interface OurRun<H> {
  readonly messages: OurMessage<H>[]
  readonly error: string | undefined
  /** Bytes consumed by complete messages. */
  readonly consumed: number
}

/** Cut points for a stream of `length` bytes: fractions of it, or every byte. */
export const cuts = fc.record({ everyByte: fc.boolean(), at: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 6 }), junk: fc.boolean() })
export type Cuts = typeof cuts extends fc.Arbitrary<infer T> ? T : never

function pieceEnds(length: number, c: Cuts): number[] {
  if (c.everyByte && length <= 600) return Array.from({ length }, (_, i) => i + 1)
  const ends = new Set(c.at.map((f) => Math.floor(f * length)).filter((n) => n > 0 && n < length))
  return [...ends, length].sort((a, b) => a - b)
}

/** Bytes after `end` that a parser must not read: a head end and a last chunk. */
const JUNK = Buffer.from('\r\n\r\n0\r\n\r\n', 'latin1')

type Parse<H> = (buf: Buffer, start: number, end: number, index: number) => H | HeadError | null

/** Feeds `stream` to a head parser and ChunkedFraming in pieces, as the engine does. */
export function runOurs<H extends RequestHead | ResponseHead>(stream: Buffer, c: Cuts, parse: Parse<H>, maxTrailerSize = 4096): OurRun<H> {
  const messages: OurMessage<H>[] = []
  let pos = 0
  let head: H | undefined
  let bodyStart = 0
  let framing: ChunkedFraming | undefined
  let data: Buffer[] = []
  for (const end of pieceEnds(stream.length, c)) {
    const buf = c.junk ? Buffer.concat([stream.subarray(0, end), JUNK]) : stream.subarray(0, end)
    for (;;) {
      if (head === undefined) {
        if (pos === end) break
        const parsed = parse(buf, pos, end, messages.length)
        if (parsed === null) break
        if (isHeadError(parsed)) return { messages, error: `${parsed.status} ${parsed.error}`, consumed: pos }
        head = parsed
        pos += parsed.headLength
        bodyStart = pos
        if (parsed.framing === Framing.Chunked) {
          // The body as the engine de-chunks it for an HTTP/1.0 client: the data runs, whatever the splits.
          framing = new ChunkedFraming(maxTrailerSize)
          const runs: Buffer[] = (data = [])
          framing.onData = (piece, start, stop) => runs.push(Buffer.from(piece.subarray(start, stop)))
        }
      }
      if (head.framing === Framing.Chunked) {
        const at = framing!.feed(buf, pos, end)
        if (at === -2) return { messages, error: `chunked: ${framing!.error}`, consumed: bodyStart - head.headLength }
        if (at === -1) {
          pos = end
          break
        }
        const body = Buffer.concat(data)
        if (!body.equals(decodeChunked(stream.subarray(bodyStart, at)))) throw new Error('the data runs of a chunked body differ from its decoded data')
        messages.push({ head, body, trailers: framing!.rawTrailers })
        pos = at
      } else if (head.framing === Framing.Length || head.framing === Framing.UntilClose) {
        const length = head.framing === Framing.Length ? head.contentLength : Infinity
        if (end - bodyStart < length) {
          pos = end
          if (end === stream.length && head.framing === Framing.UntilClose) messages.push({ head, body: stream.subarray(bodyStart), trailers: [] })
          break
        }
        messages.push({ head, body: stream.subarray(bodyStart, bodyStart + length), trailers: [] })
        pos = bodyStart + length
      } else {
        messages.push({ head, body: Buffer.alloc(0), trailers: [] })
      }
      head = undefined
    }
  }
  return { messages, error: undefined, consumed: pos }
}

/** The data of a chunked body our parser framed (a plain reader: the framing was checked). */
function decodeChunked(raw: Buffer): Buffer {
  const out: Buffer[] = []
  let i = 0
  for (;;) {
    const lineEnd = raw.indexOf('\r\n', i)
    const size = parseInt(raw.toString('latin1', i, lineEnd).split(';')[0]!, 16)
    if (size === 0) return Buffer.concat(out)
    out.push(raw.subarray(lineEnd + 2, lineEnd + 2 + size))
    i = lineEnd + 2 + size + 2
  }
}

export const requestParser = (max = 16384): Parse<RequestHead> => (buf, start, end) => parseRequestHead(buf, start, end, max)
export const responseParser = (methods: string[], max = 16384): Parse<ResponseHead> => (buf, start, end, i) => parseResponseHead(buf, start, end, max, methods[i] ?? 'GET')

export type { IncomingHttpHeaders }
