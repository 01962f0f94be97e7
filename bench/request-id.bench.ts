// Micro-benchmark of the request id's share of the per-request work (log.requestId): taking a
// client's x-request-id or making one, and putting it into the upstream headers. Run with
// `npm run bench:micro`. Numbers are for comparison between commits, not assertions.
import { randomUUID } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'
import { bench, describe } from 'vitest'
import { upstreamRequestHeaders } from '../src/proxy/headers.js'
import { forwardRequestId, RequestIds } from '../src/proxy/request-id.js'

const ids = new RequestIds()
const uuid = randomUUID()
// What a browser sends, roughly: the header list the upstream headers are built from.
const browser: IncomingHttpHeaders = {
  host: 'shop.example',
  'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36',
  accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
  'accept-language': 'en-GB,en;q=0.9',
  'accept-encoding': 'gzip, deflate, br',
  cookie: 'sy_sid=0123456789abcdef.1700000000; theme=dark',
  connection: 'keep-alive',
}
const withId: IncomingHttpHeaders = { ...browser, 'x-request-id': uuid }
let sink = 0

describe('request id', () => {
  bench('new id (prefix + counter)', () => {
    sink += ids.of(undefined).length
  })
  bench('client id kept (a UUID, validated)', () => {
    sink += ids.of(uuid).length
  })
  bench('crypto.randomUUID (for comparison)', () => {
    sink += randomUUID().length
  })
})

describe('upstream headers of a browser request', () => {
  bench('without a request id (log.requestId: false)', () => {
    sink += upstreamRequestHeaders(browser, '10.0.0.1').length
  })
  bench('with a new request id', () => {
    const headers = upstreamRequestHeaders(browser, '10.0.0.1')
    forwardRequestId(headers, ids.of(browser['x-request-id']), browser['x-request-id'])
    sink += headers.length
  })
  bench("with the client's request id", () => {
    const headers = upstreamRequestHeaders(withId, '10.0.0.1')
    forwardRequestId(headers, ids.of(withId['x-request-id']), withId['x-request-id'])
    sink += headers.length
  })
})

// Keeps the results alive so the work is not optimized away.
export const keep = () => sink
