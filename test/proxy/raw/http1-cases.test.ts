import { describe, expect, it } from 'vitest'
import {
  ChunkedFraming, Framing, isHeadError, parseRequestHead, parseResponseHead,
  type HeadError, type RequestHead, type ResponseHead,
} from '../../../src/proxy/raw/http1.js'
import { HOSTILE_HEADS, HOST_LINE } from '../../helpers/hostile-heads.js'
import { llhttpParse } from './llhttp-reference.js'

/** Fixed cases of the raw path's HTTP/1.1 parser: each refusal with its status, and the edges. */

const H = HOST_LINE
const latin1 = (s: string) => Buffer.from(s, 'latin1')

function request(text: string, max = 8192): RequestHead | HeadError | null {
  const buf = latin1(text)
  return parseRequestHead(buf, 0, buf.length, max)
}
function response(text: string, method = 'GET', max = 8192): ResponseHead | HeadError | null {
  const buf = latin1(text)
  return parseResponseHead(buf, 0, buf.length, max, method)
}
function accepted<T extends RequestHead | ResponseHead>(head: T | HeadError | null): T {
  if (head === null || isHeadError(head)) throw new Error(`refused: ${JSON.stringify(head)}`)
  return head
}
/** Feeds a chunked body one byte at a time; the index it ends at, or the error (and its code). */
function chunked(body: string, maxTrailerSize = 1024): number | string {
  const framing = new ChunkedFraming(maxTrailerSize)
  const buf = latin1(body)
  for (let i = 0; i < buf.length; i++) {
    const at = framing.feed(buf, i, i + 1)
    if (at === -2) return `error: ${framing.error} [${framing.errorCode}]`
    if (at >= 0) return at
  }
  return -1
}

/** Refused heads: [name, bytes, status]. The first rows are the hostile corpus of test/proxy/hostile-http.test.ts (unknown versions are 400, as node answers, not 505). */
const REFUSED: Array<readonly [string, string, number]> = [
  ...HOSTILE_HEADS,
  // The rest of the brief's list.
  ['Content-Length in hex', `POST / HTTP/1.1\r\n${H}Content-Length: 0x5\r\n\r\n`, 400],
  ['Content-Length with a space inside', `POST / HTTP/1.1\r\n${H}Content-Length: 5 5\r\n\r\n`, 400],
  ['an empty Content-Length', `POST / HTTP/1.1\r\n${H}Content-Length: \r\n\r\n`, 400],
  ['a Content-Length list', `POST / HTTP/1.1\r\n${H}Content-Length: 5, 5\r\n\r\n`, 400],
  ['a Content-Length past MAX_SAFE_INTEGER', `POST / HTTP/1.1\r\n${H}Content-Length: 9007199254740992\r\n\r\n`, 400],
  ['a Content-Length of 20 digits', `POST / HTTP/1.1\r\n${H}Content-Length: 99999999999999999999\r\n\r\n`, 400],
  ['a tab before a Content-Length', `POST / HTTP/1.1\r\n${H}Content-Length:\t5\r\n\r\n`, 400],
  ['chunked twice in one field', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked, chunked\r\n\r\n`, 400],
  ['chunked twice in two fields', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n`, 400],
  ['chunked with a parameter', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked ;x\r\n\r\n`, 400],
  ['chunked after a tab', `POST / HTTP/1.1\r\n${H}Transfer-Encoding:\tchunked\r\n\r\n`, 400],
  ['chunked folded onto the next line', `POST / HTTP/1.1\r\n${H}Transfer-Encoding:\r\n\tchunked\r\n\r\n`, 400],
  ['Transfer-Encoding in HTTP/1.0', `POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, 400],
  ['Transfer_Encoding', `POST / HTTP/1.1\r\n${H}Transfer_Encoding: chunked\r\n\r\n`, 400],
  ['Content_Length', `POST / HTTP/1.1\r\n${H}Content_Length: 5\r\n\r\n`, 400],
  ['a bare LF ending the request line', `GET / HTTP/1.1\n${H}\r\n`, 400],
  ['bare LFs only', `GET / HTTP/1.1\nHost: a\n\n`, 400],
  ['a bare LF ending the head', `GET / HTTP/1.1\r\n${H}\n`, 400],
  ['a bare CR ending a line', `GET / HTTP/1.1\r\n${H}X-A: b\rX-B: c\r\n\r\n`, 400],
  ['a control byte in a value', `GET / HTTP/1.1\r\n${H}X-A: a\u0001\r\n\r\n`, 400],
  ['DEL in a value', `GET / HTTP/1.1\r\n${H}X-A: a\u007f\r\n\r\n`, 400],
  ['NUL in a name', `GET / HTTP/1.1\r\n${H}X\u0000A: b\r\n\r\n`, 400],
  ['a non-token name', `GET / HTTP/1.1\r\n${H}X(A): b\r\n\r\n`, 400],
  ['an empty name', `GET / HTTP/1.1\r\n${H}: b\r\n\r\n`, 400],
  ['a line with no colon', `GET / HTTP/1.1\r\n${H}X-A\r\n\r\n`, 400],
  ['obs-fold as the first field line', `GET / HTTP/1.1\r\n X-A: b\r\n${H}\r\n`, 400],
  ['a tab before a colon', `GET / HTTP/1.1\r\n${H}X-A\t: b\r\n\r\n`, 400],
  ['two spaces after the method', `GET  / HTTP/1.1\r\n${H}\r\n`, 400],
  ['a tab between method and target', `GET\t/ HTTP/1.1\r\n${H}\r\n`, 400],
  ['a space after the version', `GET / HTTP/1.1 \r\n${H}\r\n`, 400],
  ['a lowercase version', `GET / http/1.1\r\n${H}\r\n`, 400],
  ['HTTP/1.2', `GET / HTTP/1.2\r\n${H}\r\n`, 400],
  ['HTTP/2.0', `GET / HTTP/2.0\r\n${H}\r\n`, 400],
  ['HTTP/0.9', `GET / HTTP/0.9\r\n${H}\r\n`, 400],
  ['a space in the target', `GET /a b HTTP/1.1\r\n${H}\r\n`, 400],
  ['a control byte in the target', `GET /a\u0001 HTTP/1.1\r\n${H}\r\n`, 400],
  ['a non-ASCII byte in the target', `GET /\u00e9 HTTP/1.1\r\n${H}\r\n`, 400],
  ['a target of no form', `GET a HTTP/1.1\r\n${H}\r\n`, 400],
  ['a lowercase method', `get / HTTP/1.1\r\n${H}\r\n`, 400],
  ['a request line without a version', `GET /\r\n${H}\r\n`, 400],
  ['a long target', `GET /${'a'.repeat(9000)} HTTP/1.1\r\n${H}\r\n`, 414],
  // Where llhttp's code depends on where a line breaks.
  ['garbage', 'garbage\r\n\r\n', 400],
  ['a method alone', 'GET\r\n\r\n', 400],
  ['a bare CR ending the request line', `GET / HTTP/1.1\rX`, 400],
  ['a bare CR after the target', `GET /a\rb HTTP/1.1\r\n${H}\r\n`, 400],
  ['HTTP without a version', `GET / HTTP\r\n${H}\r\n`, 400],
  ['HTTP/1.2 and a bare CR', `GET / HTTP/1.2\rX`, 400],
  ['a bare CR opening a line', `GET / HTTP/1.1\r\n${H}\rX: y\r\n\r\n`, 400],
  ['a bare CR after an empty value', `GET / HTTP/1.1\r\n${H}X: \rY\r\n\r\n`, 400],
  ['a bare LF after an empty value', `GET / HTTP/1.1\r\n${H}X:\nY: 1\r\n\r\n`, 400],
  ['a bare CR in a name', `GET / HTTP/1.1\r\n${H}X\rA: b\r\n\r\n`, 400],
  ['a bare CR ending the head', `GET / HTTP/1.1\r\n${H}\r\r\n`, 400],
  ['a bare LF in an incomplete value', `GET / HTTP/1.1\r\n${H}X: a\n`, 400],
  ['a bare CR in an incomplete value', `GET / HTTP/1.1\r\n${H}X: a\rb`, 400],
  ['Transfer-Encoding gzip in HTTP/1.0', 'POST / HTTP/1.0\r\nTransfer-Encoding: gzip\r\n\r\n', 400],
  ['Content-Length then Transfer-Encoding in HTTP/1.0', 'POST / HTTP/1.0\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n', 400],
  ['a Connection naming Content-Length', `POST / HTTP/1.1\r\n${H}Content-Length: 1\r\nConnection: keep-alive, Content-Length\r\n\r\nx`, 400],
  ['a Connection naming Host', `GET / HTTP/1.1\r\n${H}Connection: host\r\n\r\n`, 400],
]

/**
 * Our code for the heads llhttp accepts (and we refuse): the closest llhttp name. Every other
 * refusal carries exactly llhttp's code.
 */
const OUR_CODES: Readonly<Record<string, string>> = {
  'a coding before chunked': 'HPE_INVALID_TRANSFER_ENCODING',
  'two Host headers': 'HPE_INVALID_HEADER_TOKEN',
  'no Host header in HTTP/1.1': 'HPE_INVALID_HEADER_TOKEN',
  'a Content-Length past MAX_SAFE_INTEGER': 'HPE_INVALID_CONTENT_LENGTH',
  'a tab before a Content-Length': 'HPE_INVALID_CONTENT_LENGTH',
  'chunked after a tab': 'HPE_INVALID_TRANSFER_ENCODING',
  'Transfer-Encoding in HTTP/1.0': 'HPE_INVALID_TRANSFER_ENCODING',
  Transfer_Encoding: 'HPE_INVALID_HEADER_TOKEN',
  Content_Length: 'HPE_INVALID_HEADER_TOKEN',
  'two spaces after the method': 'HPE_INVALID_URL',
  'HTTP/2.0': 'HPE_INVALID_VERSION',
  'HTTP/0.9': 'HPE_INVALID_VERSION',
  'a request line without a version': 'HPE_INVALID_VERSION',
  'a Connection naming Content-Length': 'HPE_INVALID_HEADER_TOKEN',
  'a Connection naming Host': 'HPE_INVALID_HEADER_TOKEN',
}

describe('refused request heads', () => {
  it.each(REFUSED)('%s', (_name, text, status) => {
    const head = request(text)
    expect(head).not.toBeNull()
    expect(isHeadError(head!)).toBe(true)
    expect((head as HeadError).status).toBe(status)
    expect((head as HeadError).error).toMatch(/\w/)
  })

  it.each(REFUSED)('%s: llhttp\'s code', (name, text) => {
    const code = (request(text) as HeadError).code
    const ref = llhttpParse(latin1(text), 'request', 8192).error
    expect(code).toBe(ref ?? OUR_CODES[name])
    if (ref !== undefined) expect(OUR_CODES[name]).toBeUndefined()
  })

  it('names the problem', () => {
    expect(request(REFUSED[0]![1])).toEqual({ error: 'Content-Length and Transfer-Encoding together', status: 400, code: 'HPE_INVALID_TRANSFER_ENCODING' })
    expect((request(`POST / HTTP/1.1\r\n${H}Transfer_Encoding: chunked\r\n\r\n`) as HeadError).error).toContain('Transfer_Encoding')
  })
})

describe('request heads', () => {
  it('reads a browser request, with node\'s header object', () => {
    const text = `GET /a?b=1 HTTP/1.1\r\n${H}Cookie: a=1\r\ncookie: b=2\r\nAccept: x\r\nAccept:  y \r\nUser-Agent: one\r\nUser-Agent: two\r\nSet-Cookie: s1\r\nSet-Cookie: s2\r\nX-Obs: caf\u00e9\r\n\r\n`
    const head = accepted(request(text))
    const ref = llhttpParse(latin1(text), 'request').messages[0]!
    expect(head.rawHeaders).toStrictEqual(ref.rawHeaders)
    expect(head.headers).toStrictEqual(ref.headers)
    expect(head.headers).toMatchObject({ cookie: 'a=1; b=2', accept: 'x, y', 'user-agent': 'one', 'set-cookie': ['s1', 's2'], 'x-obs': 'caf\u00e9' })
    expect(head).toMatchObject({ method: 'GET', target: '/a?b=1', minor: 1, framing: Framing.None, keepAlive: true, upgrade: false, headLength: text.length })
  })

  it('passOn: the field lines as sent, without hop-by-hop ones, X-Forwarded-* or Expect; none when a name repeats or Connection names one', () => {
    const text = `POST / HTTP/1.1\r\n${H}Connection: keep-alive\r\nX-Forwarded-For: 1.2.3.4\r\nX-A:  a \r\nTE: trailers\r\nExpect: 100-continue\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: h\r\nUpgrade: websocket\r\nB: 2\r\nProxy-Authorization: x\r\n\r\n`
    expect(accepted(request(text)).passOn).toBe(`${H}X-A:  a \r\nB: 2\r\n`)
    expect(accepted(request(`GET / HTTP/1.0\r\nB: 1\r\n\r\n`)).passOn).toBe('B: 1\r\n')
    expect(accepted(request(`GET / HTTP/1.1\r\n${H}\r\n`)).passOn).toBe(H)
    expect(accepted(request(`GET / HTTP/1.1\r\n${H}Accept: x\r\naccept: y\r\n\r\n`)).passOn).toBeUndefined()
    expect(accepted(request(`GET / HTTP/1.1\r\n${H}Constructor: x\r\n\r\n`)).passOn).toBeUndefined()
    expect(accepted(request(`GET / HTTP/1.1\r\n${H}Connection: close, X-Hop\r\nX-Hop: 1\r\n\r\n`)).passOn).toBeUndefined()
  })

  it('waits for the rest of a head, then counts the empty lines before it (as llhttp skips them)', () => {
    const text = `\r\n\r\nPOST / HTTP/1.1\r\n${H}Content-Length: 3\r\n\r\nabc`
    const buf = latin1(text)
    for (let end = 0; end < text.indexOf('abc'); end++) expect(parseRequestHead(buf, 0, end, 8192)).toBeNull()
    expect(accepted(parseRequestHead(buf, 0, buf.length, 8192))).toMatchObject({ framing: Framing.Length, contentLength: 3, headLength: text.indexOf('abc') })
  })

  it('reads only buf[start, end)', () => {
    const buf = latin1(`xxGET / HTTP/1.1\r\n${H}\r\n\r\n`)
    expect(parseRequestHead(buf, 2, buf.length - 3, 8192)).toBeNull()
    expect(accepted(parseRequestHead(buf, 2, buf.length - 2, 8192)).headLength).toBe(buf.length - 4)
  })

  it.each([
    ['HTTP/1.1', '', true], ['HTTP/1.1', 'Connection: close\r\n', false], ['HTTP/1.1', 'Connection: foo, Close\r\n', false],
    ['HTTP/1.0', '', false], ['HTTP/1.0', 'Connection: Keep-Alive\r\n', true], ['HTTP/1.0', 'Connection: keep-alive, close\r\n', false],
    ['HTTP/1.1', 'Proxy-Connection: close\r\n', false],
  ])('keep-alive: %s %j', (version, fields, keepAlive) => {
    expect(accepted(request(`GET / ${version}\r\n${H}${fields}\r\n`)).keepAlive).toBe(keepAlive)
  })

  it('upgrade as node: a Connection upgrade token and an Upgrade field, or CONNECT', () => {
    expect(accepted(request(`GET / HTTP/1.1\r\n${H}Connection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n`)).upgrade).toBe(true)
    expect(accepted(request(`GET / HTTP/1.1\r\n${H}Upgrade: websocket\r\n\r\n`)).upgrade).toBe(false)
    expect(accepted(request(`GET / HTTP/1.1\r\n${H}Connection: upgrade\r\nUpgrade:\r\n\r\n`)).upgrade).toBe(false)
    expect(accepted(request(`CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n\r\n`))).toMatchObject({ upgrade: true, target: 'a.test:443' })
  })

  it('Expect: 100-continue, case-insensitive', () => {
    expect(accepted(request(`POST / HTTP/1.1\r\n${H}Content-Length: 1\r\nExpect: 100-Continue\r\n\r\n`)).expectContinue).toBe(true)
    expect(accepted(request(`POST / HTTP/1.1\r\n${H}Content-Length: 1\r\n\r\n`)).expectContinue).toBe(false)
  })

  it('chunked in any case; Content-Length 0 and none are no body; HTTP/1.0 needs no Host', () => {
    expect(accepted(request(`POST / HTTP/1.1\r\n${H}Transfer-Encoding: CHUNKED\r\n\r\n`)).framing).toBe(Framing.Chunked)
    expect(accepted(request(`POST / HTTP/1.1\r\n${H}Content-Length: 0\r\n\r\n`))).toMatchObject({ framing: Framing.None, contentLength: 0 })
    expect(accepted(request('GET / HTTP/1.0\r\n\r\n'))).toMatchObject({ minor: 0, framing: Framing.None })
  })

  it('counts the head against maxHeaderSize as node does: target, names, values from their first byte', () => {
    const text = 'GET /abc HTTP/1.1\r\nHost:    a   \r\nX:   b  \r\n\r\n'
    // node: 4 + 4 + 4 + 1 + 3 = 16 bytes counted; refused when the count reaches the limit.
    expect(isHeadError(request(text, 16)!)).toBe(true)
    expect(isHeadError(request(text, 17)!)).toBe(false)
    expect(llhttpParse(latin1(text), 'request', 16).error).toBe('HPE_HEADER_OVERFLOW')
    expect(llhttpParse(latin1(text), 'request', 17).error).toBeUndefined()
  })

  it('refuses an incomplete head once it is too large, or has a bare LF or CR', () => {
    expect(request(`GET /${'a'.repeat(20_000)}`)).toMatchObject({ status: 414 })
    expect(request(`GET / HTTP/1.1\r\n${H}X: ${'a'.repeat(20_000)}`)).toMatchObject({ status: 431 })
    expect(request(`GET / HTTP/1.1\r\n${H}X: a\n`)).toMatchObject({ status: 400 })
    expect(request(`GET / HTTP/1.1\r\n${H}X: a\rb`)).toMatchObject({ status: 400 })
    expect(request(`GET / HTTP/1.1\r\n${H}X: a\r`)).toBeNull()
  })
})

/** Our code for the response heads llhttp accepts (and we refuse). */
const OUR_RESPONSE_CODES: Readonly<Record<string, string>> = {
  'chunked not last': 'HPE_INVALID_TRANSFER_ENCODING',
  'a coding before chunked': 'HPE_INVALID_TRANSFER_ENCODING',
  'a coding without chunked': 'HPE_INVALID_TRANSFER_ENCODING',
  identity: 'HPE_INVALID_TRANSFER_ENCODING',
  'a Connection naming Content-Length': 'HPE_INVALID_HEADER_TOKEN',
  'chunked twice': 'HPE_INVALID_TRANSFER_ENCODING',
  'TE in HTTP/1.0': 'HPE_INVALID_TRANSFER_ENCODING',
  'a status under 100': 'HPE_INVALID_STATUS',
  'a control byte in the reason': 'HPE_INVALID_STATUS',
  'HTTP/2.0': 'HPE_INVALID_VERSION',
}

describe('response heads', () => {
  it.each([
    ['a Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n', 'GET', Framing.Length, true],
    ['chunked', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n', 'GET', Framing.Chunked, true],
    ['no framing', 'HTTP/1.1 200 OK\r\n\r\n', 'GET', Framing.UntilClose, false],
    ['HEAD', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n', 'HEAD', Framing.None, true],
    ['204', 'HTTP/1.1 204 No Content\r\n\r\n', 'GET', Framing.None, true],
    ['304', 'HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n', 'GET', Framing.None, true],
    ['100', 'HTTP/1.1 100 Continue\r\n\r\n', 'POST', Framing.None, true],
    ['a 2xx to CONNECT', 'HTTP/1.1 200 Connection Established\r\n\r\n', 'CONNECT', Framing.None, true],
    ['HTTP/1.0 without keep-alive', 'HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n', 'GET', Framing.Length, false],
    ['HTTP/1.0 with keep-alive', 'HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n', 'GET', Framing.Length, true],
    ['Connection: close', 'HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\n', 'GET', Framing.Length, false],
    ['no reason, no SP', 'HTTP/1.1 200\r\nContent-Length: 1\r\n\r\n', 'GET', Framing.Length, true],
  ])('%s', (_name, text, method, framing, keepAlive) => {
    expect(accepted(response(text, method))).toMatchObject({ framing, keepAlive, headLength: text.length })
  })

  it.each([
    ['CL with TE', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n'],
    ['two Content-Lengths', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n'],
    ['two equal Content-Lengths', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n'],
    ['chunked not last', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n'],
    ['a coding before chunked', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n'],
    ['a coding without chunked', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n'],
    ['identity', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\n'],
    ['a Connection naming Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: Content-Length\r\n\r\n'],
    ['chunked twice', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n'],
    ['TE in HTTP/1.0', 'HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'],
    ['a two-digit status', 'HTTP/1.1 20 OK\r\n\r\n'],
    ['a status under 100', 'HTTP/1.1 099 OK\r\n\r\n'],
    ['a four-digit status', 'HTTP/1.1 2000 OK\r\n\r\n'],
    ['a control byte in the reason', 'HTTP/1.1 200 O\u0001K\r\n\r\n'],
    ['HTTP/2.0', 'HTTP/2.0 200 OK\r\n\r\n'],
    ['a bare LF', 'HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n'],
    ['obs-fold', 'HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n'],
    ['NUL in a value', 'HTTP/1.1 200 OK\r\nX: a\u0000\r\n\r\n'],
    ['a lowercase version', 'http/1.1 200 OK\r\n\r\n'],
    ['no SP after the version', 'HTTP/1.1x200 OK\r\n\r\n'],
    ['a bare LF after the status', 'HTTP/1.1 200\nX: y\r\n\r\n'],
    ['a bare CR ending the status line', 'HTTP/1.1 200 OK\rX'],
    ['obs-fold as the first field line', 'HTTP/1.1 200 OK\r\n X: y\r\n\r\n'],
  ])('refuses %s, with llhttp\'s code', (name, text) => {
    const head = response(text)
    expect(isHeadError(head!)).toBe(true)
    const ref = llhttpParse(latin1(text), 'response', 8192, ['GET']).error
    expect((head as HeadError).code).toBe(ref ?? OUR_RESPONSE_CODES[name])
    if (ref !== undefined) expect(OUR_RESPONSE_CODES[name]).toBeUndefined()
  })

  it.each([
    [
      'keeps the status line and fields as sent, without hop-by-hop fields or an upstream colour',
      'HTTP/1.1 200 OK\r\nServer: up\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nX-A:  spaced\t \r\nTransfer-Encoding: chunked\r\nx-switchyard-color: green\r\nTE: trailers\r\nTrailer: x\r\nUpgrade: h2c\r\nProxy-Connection: keep-alive\r\nset-cookie: a=1\r\n\r\n',
      'HTTP/1.1 200 OK\r\nServer: up\r\nX-A:  spaced\t \r\nset-cookie: a=1\r\n',
    ],
    ['drops a first and a last field', 'HTTP/1.1 404 Not Found\r\nConnection: close\r\nA: 1\r\nB: 2\r\nKeep-Alive: x\r\n\r\n', 'HTTP/1.1 404 Not Found\r\nA: 1\r\nB: 2\r\n'],
    ['drops every field', 'HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\n\r\n', 'HTTP/1.1 204 No Content\r\n'],
    ['writes an HTTP/1.0 status line as HTTP/1.1', 'HTTP/1.0 200 Fine\r\nContent-Length: 1\r\n\r\n', 'HTTP/1.1 200 Fine\r\nContent-Length: 1\r\n'],
    ['gives a status line without a reason its SP', 'HTTP/1.1 201\r\nA: 1\r\n\r\n', 'HTTP/1.1 201 \r\nA: 1\r\n'],
  ])('passOn %s', (_name, text, passOn) => {
    expect(accepted(response(text)).passOn).toBe(passOn)
  })

  it('passOn is undefined when Connection names a field to drop; rawHeaders still read every field', () => {
    const head = accepted(response('HTTP/1.1 200 OK\r\nX-Hop: 1\r\nConnection: keep-alive, X-Hop\r\nContent-Length: 0\r\n\r\n'))
    expect(head.passOn).toBeUndefined()
    expect(head.rawHeaders).toEqual(['X-Hop', '1', 'Connection', 'keep-alive, X-Hop', 'Content-Length', '0'])
    expect(head.headers).toMatchObject({ 'x-hop': '1', 'content-length': '0' })
    expect(accepted(response('HTTP/1.1 200 OK\r\nConnection: Keep-Alive, Upgrade\r\n\r\n')).passOn).toBe('HTTP/1.1 200 OK\r\n')
  })

  it.each([
    ['timeout=5', 5000],
    ['timeout=5, max=100', 5000],
    ['max=100, Timeout=2', 2000],
    ['timeout = 5', 0],
    ['max=100', 0],
    ['timeout=abc', 0],
    ['timeout=0', 0],
    ['timeout=-3', 0],
  ])('keepAliveMs of Keep-Alive: %s is %i, and the field is not passed on', (value, ms) => {
    const head = accepted(response(`HTTP/1.1 200 OK\r\nKeep-Alive: ${value}\r\nContent-Length: 0\r\n\r\n`))
    expect(head.keepAliveMs).toBe(ms)
    expect(head.passOn).toBe('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n')
  })
})

/** Our code for the chunked bodies llhttp accepts (and we refuse). */
const OUR_CHUNKED_CODES: Readonly<Record<string, string>> = {
  'seventeen digits': 'HPE_INVALID_CHUNK_SIZE',
  'a size over MAX_SAFE_INTEGER': 'HPE_INVALID_CHUNK_SIZE',
  'an empty extension value': 'HPE_STRICT',
  // node's own refusal past its (larger) bound on extensions.
  'extensions over the limit': 'HPE_CHUNK_EXTENSIONS_OVERFLOW',
  'a Host trailer': 'HPE_INVALID_HEADER_TOKEN',
}

describe('chunked bodies', () => {
  it.each([
    ['one chunk', '5\r\nhello\r\n0\r\n\r\n'],
    ['extensions', '5;a=b;c="d \\" e"\r\nhello\r\n0;last\r\n\r\n'],
    ['trailers', '5\r\nhello\r\n0\r\nX-T: 1\r\nY:2\r\n\r\n'],
    ['uppercase hex and leading zeros', '0A\r\n0123456789\r\n000\r\n\r\n'],
    ['sixteen digits', '000000000000000A\r\n0123456789\r\n0\r\n\r\n'],
  ])('ends at the byte after its final CRLF: %s', (_name, body) => {
    expect(chunked(`${body}GET`)).toBe(body.length)
  })

  it.each([
    ['a size not hex', 'zz\r\n', 'not hex'], ['seventeen digits', '00000000000000001\r\nx\r\n', 'too large'],
    ['a size over MAX_SAFE_INTEGER', '20000000000000\r\n', 'too large'], ['an empty size', '\r\n', 'not hex'],
    ['a space after the size', '5 \r\nhello\r\n', 'Invalid byte'], ['BWS before an extension', '5 ;a\r\n', 'Invalid byte'],
    ['a space after ;', '5; a\r\n', 'extension name'], ['a space before =', '5;a =b\r\n', 'Whitespace'],
    ['an empty extension value', '5;a=\r\n', 'extension value'], ['an unterminated quote', '5;a="b\r\n', 'quoted'],
    ['a bare LF after the size', '5\nhello\r\n', 'bare LF'], ['a bare CR after the size', '5\rhello\r\n', 'bare CR'],
    ['data longer than its size', '5\r\nhello!\r\n', 'longer'], ['a bare LF after data', '5\r\nhello\n0\r\n\r\n', 'bare LF'],
    ['a bare LF ending the body', '0\r\n\n', 'bare LF'], ['a trailer with a space before its colon', '0\r\nX : 1\r\n\r\n', 'Whitespace'],
    ['a bare LF in a trailer', '0\r\nX: 1\nY: 2\r\n\r\n', 'bare LF'], ['a Content-Length trailer', '0\r\nContent-Length: 5\r\n\r\n', 'Content-Length'],
    ['an obs-fold trailer', '0\r\nX: 1\r\n 2\r\n\r\n', 'obs-fold'], ['a NUL in a trailer', '0\r\nX: \u0000\r\n\r\n', 'NUL'],
    ['extensions over the limit', `1;a=${'b'.repeat(5000)}\r\n`, 'limit'], ['trailers over the limit', `0\r\nX: ${'a'.repeat(2000)}\r\n\r\n`, 'limit'],
    ['a bare CR after data', '5\r\nhello\rX', 'bare CR'], ['a bare CR ending the body', '0\r\n\rX', 'bare CR'],
    ['a bare CR in a trailer value', '0\r\nX: 1\rY\r\n\r\n', 'bare CR'], ['a bare CR after an empty trailer value', '0\r\nX:\rY\r\n\r\n', 'bare CR'],
    ['a bare LF after an empty trailer value', '0\r\nX: \nY\r\n\r\n', 'bare LF'], ['a Transfer-Encoding trailer', '0\r\nTransfer-Encoding: chunked\r\n\r\n', 'Transfer-Encoding'],
    ['a Host trailer', '0\r\nHost: x\r\n\r\n', 'Host'], ['a bare LF after extensions', '5;a\n', 'bare LF'],
  ])('refuses %s, with llhttp\'s code', (name, body, problem) => {
    const result = chunked(body)
    expect(result).toEqual(expect.stringContaining('error'))
    expect(result).toEqual(expect.stringContaining(problem))
    const head = `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n`
    const ref = llhttpParse(latin1(head + body), 'request', 1024).error
    expect(result).toEqual(expect.stringContaining(`[${ref ?? OUR_CHUNKED_CODES[name]}]`))
    if (ref !== undefined) expect(OUR_CHUNKED_CODES[name]).toBeUndefined()
  })

  it('counts data bytes, keeps trailers, and refuses bytes fed after the end', () => {
    const framing = new ChunkedFraming(1024)
    const buf = latin1('3\r\nabc\r\n2\r\nde\r\n0\r\nX-T: v \r\n\r\n')
    expect(framing.feed(buf, 0, 10)).toBe(-1)
    expect(framing.dataBytes).toBe(3)
    expect(framing.feed(buf, 10, buf.length)).toBe(buf.length)
    expect(framing.dataBytes).toBe(5)
    expect(framing.rawTrailers).toStrictEqual(['X-T', 'v'])
    expect(framing.feed(buf, 0, 1)).toBe(-2)
  })

  it('a huge chunk is skipped without reading it', () => {
    const framing = new ChunkedFraming(1024)
    const buf = Buffer.concat([latin1('100000\r\n'), Buffer.alloc(0x100000, 0x0a), latin1('\r\n0\r\n\r\n')])
    expect(framing.feed(buf, 0, buf.length)).toBe(buf.length)
    expect(framing.dataBytes).toBe(0x100000)
  })
})
