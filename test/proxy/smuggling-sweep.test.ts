/**
 * Request smuggling and parser differentials, swept byte by byte through a running proxy (the
 * default engine) to a raw upstream that records every byte it gets:
 * - a Transfer-Encoding field disguised in every published way (the byte sweeps of request
 *   smuggling scanners: each control and non-ASCII byte before the name, before the colon, after
 *   it and after the value; case, quotes, lists, lookalike names, fields split by a bare CR or
 *   LF) beside a Content-Length, is answered 400 and never reaches the upstream, since a server
 *   behind us might read it as chunked where we read the length;
 * - a chunked body broken in any of the ways parsers disagree on is answered 400;
 * - an upstream answer whose framing a client could read two ways gets our 502, never its bytes.
 * The head-level refusals are also checked one by one in test/proxy/raw/http1-cases.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseResponses, rawConnect, recordingUpstream, type RecordingUpstream } from '../helpers/raw-http.js'
import { startProxy, type TestProxy } from '../helpers/upstream-proxy-harness.js'

/** The upstream's answers, by request path; any other path gets 200 "ok". */
const ANSWERS: Record<string, string> = {
  'cl-and-te': 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
  'te-and-cl': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 20\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
  'two-lengths': 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!',
  'two-equal-lengths': 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello',
  'length-list': 'HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\nhello',
  'signed-length': 'HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello',
  'hex-length': 'HTTP/1.1 200 OK\r\nContent-Length: 0x5\r\n\r\nhello',
  'gzip-coding': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nhello',
  'coding-before-chunked': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
  'chunked-not-last': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\nhello',
  'lookalike-coding': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: xchunked\r\nContent-Length: 5\r\n\r\nhello',
  'space-before-colon': 'HTTP/1.1 200 OK\r\nTransfer-Encoding : chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
  'underscore-name': 'HTTP/1.1 200 OK\r\nContent_Length: 7\r\nContent-Length: 5\r\n\r\nhello',
  'bare-lf-head': 'HTTP/1.1 200 OK\nContent-Length: 5\n\nhello',
  'obs-fold': 'HTTP/1.1 200 OK\r\nX-A: 1\r\n 2\r\nContent-Length: 5\r\n\r\nhello',
  'nul-in-value': 'HTTP/1.1 200 OK\r\nX-A: a\u0000b\r\nContent-Length: 5\r\n\r\nhello',
  'cr-in-value': 'HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 5\r\n\r\nhello',
  'four-digit-status': 'HTTP/1.1 2000 OK\r\nContent-Length: 5\r\n\r\nhello',
  'http-2-status-line': 'HTTP/2.0 200 OK\r\nContent-Length: 5\r\n\r\nhello',
  'chunk-size-space': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n',
  'chunk-size-bare-lf': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n',
  'chunk-size-overflow': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\nhello\r\n0\r\n\r\n',
  'unasked-101': 'HTTP/1.1 101 Switching Protocols\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello',
  'connection-names-length': 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: Content-Length\r\n\r\nhello',
}

/**
 * Requests whose Connection field names a field the next hop needs. Dropped as RFC 9110 asks
 * of other named fields, Content-Length would leave its body to be read upstream as the next
 * request (here a whole one), and Host would leave an HTTP/1.1 request without one.
 */
const SMUGGLED = 'GET /smuggled HTTP/1.1\r\nHost: internal\r\n\r\n'
const DROPS_NEEDED: Record<string, string> = {
  'Connection: Content-Length': `POST /drop HTTP/1.1\r\nHost: app.test\r\nContent-Length: ${SMUGGLED.length}\r\nConnection: Content-Length\r\n\r\n${SMUGGLED}`,
  'Connection: keep-alive, content-length': `POST /drop HTTP/1.1\r\nHost: app.test\r\nContent-Length: ${SMUGGLED.length}\r\nConnection: keep-alive, content-length\r\n\r\n${SMUGGLED}`,
  'Content-Length named in a second Connection field': `POST /drop HTTP/1.1\r\nHost: app.test\r\nConnection: keep-alive\r\nContent-Length: ${SMUGGLED.length}\r\nConnection: CONTENT-LENGTH\r\n\r\n${SMUGGLED}`,
  'Connection: Host': 'GET /drop HTTP/1.1\r\nHost: app.test\r\nConnection: Host\r\n\r\n',
}

/** Disguises of `Transfer-Encoding: chunked` that no sweep of bytes makes. */
const NAMED_GADGETS: Record<string, string> = {
  'a space before the name': ' Transfer-Encoding: chunked',
  'a tab after the colon': 'Transfer-Encoding:\tchunked',
  'tabs around the colon': 'Transfer-Encoding\t:\tchunked',
  'a space for the dash': 'Transfer Encoding: chunked',
  'an underscore for the dash': 'Transfer_Encoding: chunked',
  'a space for the dash, no space after the colon': 'Transfer Encoding:chunked',
  'a space before the colon': 'Transfer-Encoding : chunked',
  'two spaces after the colon': 'Transfer-Encoding:  chunked',
  'chunked, then another coding': 'Transfer-Encoding: chunked, cow',
  'another coding, then chunked': 'Transfer-Encoding: cow, chunked',
  'chunked folded onto the next line': 'Transfer-Encoding:\n chunked',
  'chunked folded with CRLF': 'Transfer-Encoding:\r\n chunked',
  'chunked in double quotes': 'Transfer-Encoding: "chunked"',
  'chunked in single quotes': "Transfer-Encoding: 'chunked'",
  'a prefix of chunked': 'Transfer-Encoding: chunk',
  'mixed case': 'TrAnSFer-EnCODinG: cHuNkeD',
  'upper case': 'TRANSFER-ENCODING: CHUNKED',
  'another coding, then chunked in a second field': 'Transfer-Encoding: cow\r\nTransfer-Encoding: chunked',
  'chunked in two fields': 'Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked',
  'a CR inside the name': 'Transfer\r-Encoding: chunked',
  'chunked among other words': 'Transfer-Encoding: cow chunked bar',
  'chunked with a parameter': 'Transfer-Encoding: chunked;q=1',
  'an empty coding first': 'Transfer-Encoding: ,chunked',
  'a bare CR ending the field before': 'X: X\rTransfer-Encoding: chunked',
  'a bare LF ending the field before': 'X: X\nTransfer-Encoding: chunked',
  'identity': 'Transfer-Encoding: identity',
  'an empty value': 'Transfer-Encoding: ',
}

/** Every byte that is neither a visible ASCII character nor a space, at the four places scanners put one. */
function sweptGadgets(): Record<string, string> {
  const gadgets: Record<string, string> = {}
  for (let code = 0; code < 256; code++) {
    if (code >= 0x20 && code < 0x7f) continue
    const b = String.fromCharCode(code)
    const hex = code.toString(16).padStart(2, '0')
    gadgets[`0x${hex} before the name`] = `${b}Transfer-Encoding: chunked`
    gadgets[`0x${hex} before the colon`] = `Transfer-Encoding${b}: chunked`
    gadgets[`0x${hex} after the colon`] = `Transfer-Encoding:${b}chunked`
    gadgets[`0x${hex} after the value`] = `Transfer-Encoding: chunked${b}`
  }
  return gadgets
}

/** Chunked bodies broken where parsers disagree. */
const BROKEN_CHUNKS: Record<string, string> = {
  'a size with a space before its CRLF': '5 \r\nhello\r\n0\r\n\r\n',
  'a size with a tab before its CRLF': '5\t\r\nhello\r\n0\r\n\r\n',
  'a space before the size': ' 5\r\nhello\r\n0\r\n\r\n',
  'a 0x size': '0x5\r\nhello\r\n0\r\n\r\n',
  'a signed size': '+5\r\nhello\r\n0\r\n\r\n',
  'a negative size': '-5\r\nhello\r\n0\r\n\r\n',
  'an empty size': '\r\nhello\r\n0\r\n\r\n',
  'a size past 64 bits': 'fffffffffffffffff5\r\nhello\r\n0\r\n\r\n',
  'a size past MAX_SAFE_INTEGER': '20000000000000\r\nhello\r\n0\r\n\r\n',
  'a size with an underscore': '5_\r\nhello\r\n0\r\n\r\n',
  'a bare LF after the size': '5\nhello\r\n0\r\n\r\n',
  'a bare LF after the data': '5\r\nhello\n0\r\n\r\n',
  'a bare CR after the data': '5\r\nhello\r0\r\n\r\n',
  'a bare LF after the last chunk': '5\r\nhello\r\n0\n\r\n',
  'a bare LF ending the body': '5\r\nhello\r\n0\r\n\n',
  'more data than the size': '5\r\nhelloX\r\n0\r\n\r\n',
  'less data than the size': '5\r\nhell\r\n0\r\n\r\n',
  'no CRLF after the data': '5\r\nhello0\r\n\r\n',
  'a CRLF inside a quoted extension': '5;a="\r\n"\r\nhello\r\n0\r\n\r\n',
  'a bare LF in an extension': '5;a\nhello\r\n0\r\n\r\n',
  'a bare CR in an extension': '5;a\rb\r\nhello\r\n0\r\n\r\n',
  'a space before an extension': '5 ;a=b\r\nhello\r\n0\r\n\r\n',
  'an extension without a name': '5;\r\nhello\r\n0\r\n\r\n',
  'a control byte in an extension': '5;a=\u0001\r\nhello\r\n0\r\n\r\n',
  'a Content-Length trailer': '5\r\nhello\r\n0\r\nContent-Length: 50\r\n\r\n',
  'a Transfer-Encoding trailer': '5\r\nhello\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n',
  'a trailer ended by a bare LF': '5\r\nhello\r\n0\r\nX-T: 1\n\r\n',
  'a folded trailer': '5\r\nhello\r\n0\r\nX-T: 1\r\n 2\r\n\r\n',
  'a trailer without a colon': '5\r\nhello\r\n0\r\nXT\r\n\r\n',
  'a space in a trailer name': '5\r\nhello\r\n0\r\nX T: 1\r\n\r\n',
  'a control byte in a trailer': '5\r\nhello\r\n0\r\nX-T: \u0001\r\n\r\n',
}

/** A request with `gadget` beside a Content-Length whose body is a chunked message to a reader of TE. */
function withGadget(gadget: string): string {
  return `POST /gadget HTTP/1.1\r\n${gadget}\r\nHost: app.test\r\nContent-Length: 4\r\n\r\n1\r\nZ\r\nQ`
}

/** The first status the client got, and every byte. */
interface Reply {
  status: number
  text: string
}

/** Our 502 for an upstream that broke HTTP, with none of the upstream's body. */
function ourProtocolError(r: Reply): boolean {
  return r.status === 502 && parseResponses(r.text)[0]?.body.includes('SY_ERR_UPSTREAM_PROTOCOL') === true && !r.text.includes('hello')
}

/**
 * node's engine (fallback) reads answers with undici, which calls back with the head before the
 * body's framing is read: when a chunk size is broken, the head is already out, and a cut (no
 * last chunk) is what tells the client. It reads `HTTP/2.0` as a version it can parse and
 * re-frames the body, so the client gets one clean HTTP/1.1 answer.
 */
const NODE_ENGINE_CUTS = ['chunk-size-space', 'chunk-size-bare-lf', 'chunk-size-overflow']
const NODE_ENGINE_REFRAMES = ['http-2-status-line']

/** Sends `bytes` on a fresh connection and returns, once the proxy closed it, the first status and every byte. */
async function exchange(port: number, bytes: string): Promise<Reply> {
  const connection = await rawConnect(port, Buffer.from(bytes, 'latin1'))
  const timer = setTimeout(() => connection.socket.destroy(), 10_000)
  await connection.closed
  clearTimeout(timer)
  const [first] = parseResponses(connection.text())
  return { status: first?.status ?? 0, text: connection.text() }
}

/** Runs `cases` through `run`, `width` at a time. */
async function inBatches<T>(cases: readonly T[], width: number, run: (c: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < cases.length; i += width) await Promise.all(cases.slice(i, i + width).map(run))
}

describe('smuggling sweeps through the proxy', () => {
  let proxy: TestProxy
  let upstream: RecordingUpstream

  beforeAll(async () => {
    upstream = await recordingUpstream((head, socket) => {
      const path = head.slice(head.indexOf(' ') + 2, head.indexOf(' HTTP/'))
      socket.end(Buffer.from(ANSWERS[path] ?? 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok', 'latin1'))
    })
    proxy = await startProxy({ blue: [upstream.url], green: [upstream.url] })
  })

  afterAll(async () => {
    await proxy?.close()
    await upstream?.close()
  })

  /** Runs `test` on the proxy of `engine`: the file's (sockets), or one on node's engine before the same upstream. */
  async function onEngine(engine: 'sockets' | 'node', test: (port: number) => Promise<void>): Promise<void> {
    if (engine === 'sockets') return test(proxy.port)
    const fallback = await startProxy({ blue: [upstream.url], green: [upstream.url], engine })
    try {
      await test(fallback.port)
    } finally {
      await fallback.close()
    }
  }

  /** Sends each case, `width` at a time; returns the names of those `refused` does not accept, with their status. */
  async function notRefused<T>(port: number, cases: ReadonlyArray<readonly [string, T]>, width: number, bytes: (c: T) => string, refused: (reply: Reply, c: T) => boolean): Promise<string[]> {
    const passed: string[] = []
    await inBatches(cases, width, async ([name, c]) => {
      const reply = await exchange(port, bytes(c))
      if (!refused(reply, c)) passed.push(`${name}: ${reply.status}`)
    })
    return passed
  }

  it.each(['sockets', 'node'] as const)('a disguised Transfer-Encoding beside a Content-Length: 400 and closed, never forwarded (every byte at every place; %s engine)', async (engine) => {
    const gadgets = Object.entries({ ...NAMED_GADGETS, ...sweptGadgets() })
    expect(gadgets.length).toBeGreaterThan(600)
    await onEngine(engine, async (port) => {
      upstream.received = ''
      expect(await notRefused(port, gadgets, 16, withGadget, (r) => r.status === 400 && /connection: close/i.test(r.text))).toEqual([])
      expect(upstream.received).toBe('')
      // The upstream is reachable: a request without a gadget gets there.
      expect((await exchange(port, 'GET / HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n')).status).toBe(200)
      expect(upstream.received).toContain('GET / HTTP/1.1')
    })
  })

  it.each(['sockets', 'node'] as const)('a Connection field naming Content-Length or Host: 400, never forwarded (%s engine)', async (engine) => {
    await onEngine(engine, async (port) => {
      upstream.received = ''
      expect(await notRefused(port, Object.entries(DROPS_NEEDED), 4, (bytes) => bytes, (r) => r.status === 400 && r.text.includes('which the next hop needs'))).toEqual([])
      expect(upstream.received).toBe('')
    })
  })

  it.each(['sockets', 'node'] as const)('a Host that is not a host and port: 400, never forwarded; real ones pass (%s engine)', async (engine) => {
    const bad = ['a b', 'a/b', 'a\\b', 'a@b', 'a, b', 'a:x', 'a:80:80', '[::1', '[]', 'a\u0080b', 'a?b', 'a#b', 'a"b', 'a<b>', 'a{b}']
    await onEngine(engine, async (port) => {
      upstream.received = ''
      const cases = bad.map((host) => [JSON.stringify(host), host] as const)
      expect(await notRefused(port, cases, 8, (host) => `GET /host HTTP/1.1\r\nHost: ${host}\r\n\r\n`, (r) => r.status === 400)).toEqual([])
      expect(upstream.received).toBe('')
      for (const host of ['app.test', 'APP.test:8080', '127.0.0.1:1', '[::1]:80', 'my_svc.internal', '']) {
        const reply = await exchange(port, `GET /host HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`)
        expect(reply.status, host).toBe(200)
      }
    })
  })

  it('a chunked body broken where parsers disagree: 400 and closed', async () => {
    const chunked = (body: string) => `POST /chunks HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\n${body}`
    expect(await notRefused(proxy.port, Object.entries(BROKEN_CHUNKS), 16, chunked, (r) => r.status === 400)).toEqual([])
    // The same request with a well-formed body (extensions, leading zeros, a trailer) goes through.
    const good = await exchange(proxy.port, 'POST /chunks HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0005;a="x y"\r\nhello\r\n0\r\nX-T: 1\r\n\r\n')
    expect(good.status).toBe(200)
    expect(upstream.received).toContain('0005;a="x y"\r\nhello\r\n0\r\nX-T: 1\r\n\r\n')
  })

  it('an upstream answer a client could read two ways: our 502, none of its bytes', async () => {
    const paths = Object.keys(ANSWERS).map((path) => [path, path] as const)
    expect(await notRefused(proxy.port, paths, 8, (path) => `GET /${path} HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n`, ourProtocolError)).toEqual([])
  })

  it('node engine: the same answers get our 502, or a cut where undici sent the head before the body broke', async () => {
    await onEngine('node', async (port) => {
      const paths = Object.keys(ANSWERS)
        .filter((path) => !NODE_ENGINE_REFRAMES.includes(path))
        .map((path) => [path, path] as const)
      const refused = (r: Reply, path: string) => {
        if (NODE_ENGINE_CUTS.includes(path)) return r.status === 200 && !r.text.includes('hello') && !r.text.endsWith('0\r\n\r\n')
        // undici trips its own assertion on a 101 nobody asked for: a 502 still, counted as a reset.
        return path === 'unasked-101' ? r.status === 502 && !r.text.includes('hello') : ourProtocolError(r)
      }
      expect(await notRefused(port, paths, 8, (path) => `GET /${path} HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n`, refused)).toEqual([])
    })
  })
})

describe('h2c upgrades', () => {
  it.each(['sockets', 'node'] as const)('an h2c offer goes up as a plain HTTP/1.1 request, never a tunnel (%s engine)', async (engine) => {
    // An upstream that would switch to h2c when asked: a tunnel would let the client speak HTTP/2 to it.
    const upstream = await recordingUpstream((head, socket) =>
      socket.end(/^upgrade: *h2c/im.test(head) ? 'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n' : 'HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nhttp/1.1'),
    )
    const seen = upstream.heads
    const proxy = await startProxy({ blue: [upstream.url], green: [upstream.url], engine })
    try {
      // What curl --http2 sends to an http:// URL.
      const reply = await exchange(proxy.port, 'GET /h2c HTTP/1.1\r\nHost: app.test\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\nConnection: close\r\n\r\n')
      expect(reply.status).toBe(200)
      expect(parseResponses(reply.text)[0]!.body).toBe('http/1.1')
      expect(seen).toHaveLength(1)
      expect(seen[0]).not.toMatch(/^(upgrade|http2-settings):/im)
      expect(seen[0]).not.toMatch(/^connection:.*upgrade/im)
    } finally {
      await proxy.close()
      await upstream.close()
    }
  })
})
