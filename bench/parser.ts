/**
 * Micro-benchmark of the raw path's HTTP/1.1 head parser against node's own llhttp binding
 * (the HTTPParser node:http drives). Run: npx tsx bench/parser.ts
 *
 * "llhttp" is the C parser plus the binding handing JS the raw header strings; "llhttp +
 * headers" adds node's IncomingMessage building the headers object, which our parser also
 * returns. Neither includes node:http's socket and stream machinery.
 */
import { IncomingMessage } from 'node:http'
import { createRequire } from 'node:module'
import type { Socket } from 'node:net'
import { ChunkedFraming, parseRequestHead, parseResponseHead } from '../src/proxy/raw/http1.js'

interface NodeHTTPParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void
  execute(data: Buffer): number | Error
  [key: number]: unknown
}
const require = createRequire(import.meta.url)
const { HTTPParser } = require('_http_common') as {
  HTTPParser: { new (): NodeHTTPParser; REQUEST: number; RESPONSE: number; kOnHeadersComplete: number; kOnMessageComplete: number }
}

const REQUEST = Buffer.from(
  'GET /assets/app.js?v=3 HTTP/1.1\r\n' +
    'Host: www.example.com\r\n' +
    'Connection: keep-alive\r\n' +
    'User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36\r\n' +
    'Accept: */*\r\n' +
    'Sec-Fetch-Site: same-origin\r\n' +
    'Sec-Fetch-Mode: no-cors\r\n' +
    'Referer: https://www.example.com/\r\n' +
    'Accept-Encoding: gzip, deflate, br\r\n' +
    'Accept-Language: en-US,en;q=0.9\r\n' +
    'Cookie: session=8f14e45fceea167a5a36dedd4bea2543; theme=dark\r\n' +
    '\r\n',
  'latin1',
)
const RESPONSE = Buffer.from(
  'HTTP/1.1 200 OK\r\n' +
    'Date: Tue, 02 Dec 2025 10:00:00 GMT\r\n' +
    'Content-Type: application/javascript; charset=utf-8\r\n' +
    'Content-Length: 48213\r\n' +
    'Connection: keep-alive\r\n' +
    'Cache-Control: public, max-age=31536000, immutable\r\n' +
    'ETag: "5e8f-1a2b3c"\r\n' +
    'Vary: Accept-Encoding\r\n' +
    '\r\n',
  'latin1',
)
const CHUNKED = Buffer.from(`${'1000\r\n' + 'x'.repeat(4096) + '\r\n'}`.repeat(16) + '0\r\n\r\n', 'latin1')

let sink = 0

/** ns per call of `run`, best of a few rounds after warm-up. */
function measure(run: () => void, iterations = 300_000): number {
  for (let i = 0; i < 50_000; i++) run()
  let best = Infinity
  for (let round = 0; round < 5; round++) {
    const started = process.hrtime.bigint()
    for (let i = 0; i < iterations; i++) run()
    best = Math.min(best, Number(process.hrtime.bigint() - started) / iterations)
  }
  return best
}

function llhttp(kind: 'request' | 'response', buf: Buffer, withHeaders: boolean): () => void {
  const parser = new HTTPParser()
  const type = kind === 'request' ? HTTPParser.REQUEST : HTTPParser.RESPONSE
  parser[HTTPParser.kOnHeadersComplete] = (_major: number, _minor: number, headers: string[]) => {
    if (withHeaders) {
      const message = new IncomingMessage(null as unknown as Socket) as IncomingMessage & { _addHeaderLines(h: string[], n: number): void }
      message._addHeaderLines(headers, headers.length)
      sink += Object.keys(message.headers).length
    } else {
      sink += headers.length
    }
    // A response's body is not part of its head: skip it as a HEAD response.
    return kind === 'response' ? 1 : 0
  }
  parser[HTTPParser.kOnMessageComplete] = () => undefined
  return () => {
    parser.initialize(type, {}, 16384, 0)
    const n = parser.execute(buf)
    if (typeof n !== 'number') throw n
  }
}

const rows: Array<[string, number]> = [
  [`switchyard parseRequestHead (${REQUEST.length} B)`, measure(() => {
    const head = parseRequestHead(REQUEST, 0, REQUEST.length, 16384)
    sink += head === null ? 0 : 1
  })],
  ['llhttp request', measure(llhttp('request', REQUEST, false))],
  ['llhttp request + headers object', measure(llhttp('request', REQUEST, true))],
  [`switchyard parseResponseHead (${RESPONSE.length} B)`, measure(() => {
    const head = parseResponseHead(RESPONSE, 0, RESPONSE.length, 16384, 'GET')
    sink += head === null ? 0 : 1
  })],
  ['llhttp response', measure(llhttp('response', RESPONSE, false))],
  ['llhttp response + headers object', measure(llhttp('response', RESPONSE, true))],
  [`switchyard ChunkedFraming (${CHUNKED.length} B, 16 chunks)`, measure(() => {
    sink += new ChunkedFraming(4096).feed(CHUNKED, 0, CHUNKED.length)
  }, 100_000)],
]
for (const [name, ns] of rows) console.log(`${name.padEnd(52)} ${ns.toFixed(0).padStart(6)} ns`)
if (sink === 0.5) console.log(sink)
