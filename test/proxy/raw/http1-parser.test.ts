import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { Framing, type RequestHead, type ResponseHead } from '../../../src/proxy/raw/http1.js'
import {
  chunkedBody, cuts, expectedData, field, fields, joinParts, request, requestParser, requestParts, responseParser, runOurs, bodyText,
  type Body, type Cuts, type OurMessage, type Parts, type RequestSpec,
} from './http1-gen.js'
import { llhttpParse, type RefMessage } from './llhttp-reference.js'

/**
 * Property tests of the raw path's HTTP/1.1 parser against node's llhttp (strict): every valid
 * stream, cut into any pieces, reads as node reads it; every broken one is refused, and what we
 * accept before the break is what node accepted too (no differential).
 */

// Deterministic: a fixed seed (FC_SEED=n to explore others); a failure prints seed and path to replay.
fc.configureGlobal({ seed: Number(process.env.FC_SEED ?? 0x5eed), numRuns: Number(process.env.FC_RUNS ?? 600) })

const latin1 = (s: string) => Buffer.from(s, 'latin1')

function expectSameRequest(ours: OurMessage<RequestHead>, ref: RefMessage): void {
  expect({
    method: ours.head.method, url: ours.head.target, minor: ours.head.minor, rawHeaders: ours.head.rawHeaders,
    keepAlive: ours.head.keepAlive, upgrade: ours.head.upgrade, body: ours.body.toString('latin1'), trailers: ours.trailers,
  }).toStrictEqual({
    method: ref.method, url: ref.url, minor: ref.minor, rawHeaders: ref.rawHeaders,
    keepAlive: ref.keepAlive, upgrade: ref.upgrade, body: ref.body.toString('latin1'), trailers: ref.trailers,
  })
  expect(ours.head.headers).toStrictEqual(ref.headers)
  expect(ref.complete).toBe(true)
}

/** Valid requests, all but the last keeping the connection open. */
const pipeline = fc
  .tuple(fc.array(request(true), { maxLength: 2 }), request(false))
  .map(([before, last]) => [...before, last])

describe('valid requests read as llhttp reads them, in any pieces', () => {
  it('pipelines of requests', () => {
    fc.assert(
      fc.property(pipeline, cuts, (specs: RequestSpec[], c: Cuts) => {
        const stream = latin1(specs.map((s) => joinParts(requestParts(s))).join(''))
        const ref = llhttpParse(stream, 'request')
        expect(ref.error).toBeUndefined()
        const ours = runOurs(stream, c, requestParser())
        expect(ours.error).toBeUndefined()
        expect(ours.consumed).toBe(stream.length)
        expect(ours.messages).toHaveLength(specs.length)
        ours.messages.forEach((m, i) => {
          expectSameRequest(m, ref.messages[i]!)
          expect(m.body.toString('latin1')).toBe(expectedData(specs[i]!.body))
          expect(m.head.framing).toBe({ none: Framing.None, length: specs[i]!.body.kind === 'length' && m.head.contentLength > 0 ? Framing.Length : Framing.None, chunked: Framing.Chunked }[specs[i]!.body.kind])
        })
      }),
    )
  })
})

/** Ways to break one message. Each yields a message that must be refused. */
const MUTATIONS = {
  bareLf: (p: Parts, n: number) => void (p.ends[n % p.ends.length] = '\n'),
  // Not the empty line's: a head ending in a lone CR may yet be followed by its LF.
  bareCr: (p: Parts, n: number) => void (p.ends[n % (p.ends.length - 1)] = '\r'),
  ctlInValue: (p: Parts, n: number, m: number) => mutateField(p, n, (f) => insert(f, f.indexOf(':') + 1 + (m % (f.length - f.indexOf(':'))), pick(CTLS, m >> 4))),
  badNameByte: (p: Parts, n: number, m: number) => mutateField(p, n, (f) => insert(f, m % (f.indexOf(':') + 1), pick(NAME_BREAKERS, m >> 4))),
  obsFold: (p: Parts, n: number, m: number) => addField(p, n, `${pick([' ', '\t'], m)}folded`),
  spaceBeforeColon: (p: Parts, n: number, m: number) => mutateField(p, n, (f) => insert(f, f.indexOf(':'), pick([' ', '\t', '  '], m))),
  emptyName: (p: Parts, n: number) => addField(p, n, ': x'),
  clAndTe: (p: Parts, n: number, m: number) => setFraming(p, m % 2 === 0 ? ['Content-Length: 5', 'Transfer-Encoding: chunked'] : ['Transfer-Encoding: chunked', 'Content-Length: 5'], '0\r\n\r\n', n),
  duplicateCl: (p: Parts, n: number, m: number) => setFraming(p, ['Content-Length: 3', `Content-Length: ${3 + (m % 2)}`], 'abcd', n),
  badCl: (p: Parts, n: number, m: number) => setFraming(p, [`Content-Length:${pick(BAD_CL, m)}`], 'abcde', n),
  badTe: (p: Parts, n: number, m: number) => setFraming(p, pick(BAD_TE, m), '0\r\n\r\n', n),
  underscore: (p: Parts, n: number, m: number) => addField(p, n, pick(['Transfer_Encoding: chunked', 'Content_Length: 5', 'content_length: 0', 'Ho_st: x'], m)),
  badVersion: (p: Parts, _n: number, m: number) => void (p.start = p.start.replace(/HTTP\/1\.[01]$/, pick(BAD_VERSIONS, m))),
  badRequestLine: (p: Parts, _n: number, m: number) => {
    const [method = '', target = '', version = ''] = p.start.split(' ')
    p.start = pick(BAD_LINES, m)(method, target, version)
  },
  hosts: (p: Parts, n: number, m: number) => {
    p.fields = p.fields.filter((f) => !f.toLowerCase().startsWith('host:'))
    p.ends = p.fields.map(() => '\r\n').concat('\r\n', '\r\n')
    p.start = p.start.replace(/HTTP\/1\.0$/, 'HTTP/1.1')
    if (m % 2 === 0) ['Host: a', 'host: b'].forEach((h, i) => addField(p, n + i, h))
  },
} satisfies Record<string, (p: Parts, n: number, m: number) => void>

/** Breaking a chunked body (the message is chunked). */
const CHUNK_MUTATIONS = {
  badSize: (b: string, n: number) => `${pick(BAD_SIZES, n)}\r\n${b}`,
  badExtension: (b: string, n: number) => `1${pick(BAD_EXTENSIONS, n)}\r\nx\r\n${b}`,
  lfAfterSize: (b: string) => `1\nx\r\n${b}`,
  dataTooLong: (b: string, n: number) => `2\r\nxy${pick(['z', '\n', ' '], n)}\r\n${b}`,
  lfAfterData: (b: string) => `2\r\nxy\n${b}`,
  badTrailer: (b: string, n: number) => b.replace(/\r\n$/, `${pick(BAD_TRAILERS, n)}\r\n\r\n`),
  lfAtEnd: (b: string) => `${b.slice(0, -2)}\n`,
  overflow: (b: string) => `fffffffffffffffff\r\n${b}`,
} satisfies Record<string, (body: string, n: number) => string>

const CTLS = [...Array.from({ length: 32 }, (_, c) => String.fromCharCode(c)).filter((c) => c !== '\t'), '\x7f']
const NAME_BREAKERS = [' ', '\t', '(', ')', ',', '/', ';', '<', '=', '>', '?', '@', '[', '\\', ']', '{', '}', '"', '\x00', '\x7f', '\x80', '\xff', '\n', '\r']
const BAD_CL = [' -1', ' +5', ' 0x5', ' 5 5', ' ', '', ' 1e3', ' 99999999999999999999', ' 9007199254740992', ' 5,5', '\t5', ' 5\t', ' 05.0']
const BAD_TE = [
  ['Transfer-Encoding: gzip, chunked'], ['Transfer-Encoding: chunked, chunked'], ['Transfer-Encoding: chunked ;x'], ['Transfer-Encoding: chunked;x'],
  ['Transfer-Encoding: xchunked'], ['Transfer-Encoding: gzip'], ['Transfer-Encoding: identity'], ['Transfer-Encoding:\tchunked'], ['Transfer-Encoding: chunked\t'],
  ['Transfer-Encoding: chunked', 'Transfer-Encoding: chunked'], ['Transfer-Encoding: ,chunked'], ['Transfer-Encoding: '],
]
const BAD_VERSIONS = ['HTTP/1.2', 'HTTP/2.0', 'HTTP/0.9', 'http/1.1', 'HTTP/1.1 ', 'HTTP/11', 'HTTP/1', 'HTTP/1.1\t', 'HTTP/ 1.1', 'HTTP/9.9', 'HTTP/1.1\x00', 'HTTP/1.x']
/** Breaks a request line `method SP target SP version`. */
const BAD_LINES: Array<(method: string, target: string, version: string) => string> = [
  (m, t, v) => `${m}  ${t} ${v}`, (m, t, v) => `${m}\t${t} ${v}`, (m, t, v) => `${m} ${t}  ${v}`, (m, t, v) => `${m} ${t} x ${v}`,
  (m, t, v) => `${m} ${t}\x80 ${v}`, (m, t, v) => `${m} ${t}\x01 ${v}`, (m, t, v) => `${m} ${t}\x7f ${v}`, (m, t, v) => `${m.toLowerCase()} ${t} ${v}`,
  (_m, t, v) => `FOO ${t} ${v}`, (_m, t, v) => ` ${t} ${v}`, (m, _t, v) => `${m} ${v}`, (m, _t, v) => `${m} ?x ${v}`,
  (m, t, v) => `${m} ${t}\t${v}`, (m, t, v) => `${m} ${t} ${v} `, (m, t) => `${m} ${t}`, (m, t, v) => `${m} .${t} ${v}`,
]
const BAD_SIZES = ['zz', '-1', '', ' 1', '1 ', '0x1', '+1', '1\t', '\t1']
const BAD_EXTENSIONS = [';', '; a=b', ';a =b', ';a= b', ';a=', ';a=b c', ';a="x', ';=b', ';a="\x01"', ';a=b ', ' ;a=b', ';a,b', ';a=\x80']
const BAD_TRAILERS = ['X-T : 1', ' X-T: 1', 'X-T: 1\x00', ': 1', 'Content-Length: 1', 'Transfer-Encoding: chunked', 'Host: x', 'X-T\x7f: 1', 'Trans_fer-Encoding: x']

function pick<T>(list: readonly T[], n: number): T {
  return list[Math.abs(n) % list.length]!
}
function insert(s: string, at: number, what: string): string {
  return s.slice(0, at) + what + s.slice(at)
}
function mutateField(p: Parts, n: number, change: (line: string) => string): void {
  if (p.fields.length === 0) addField(p, 0, 'X-Added: value')
  const i = n % p.fields.length
  p.fields[i] = change(p.fields[i]!)
}
function addField(p: Parts, n: number, text: string): void {
  p.fields.splice(n % (p.fields.length + 1), 0, text)
  p.ends.push('\r\n')
}
/** Replaces the framing fields and body. */
function setFraming(p: Parts, lines: string[], body: string, n: number): void {
  p.fields = p.fields.filter((f) => !/^(content-length|transfer-encoding):/i.test(f))
  p.ends = p.fields.map(() => '\r\n').concat('\r\n', '\r\n')
  p.start = p.start.replace(/HTTP\/1\.0$/, 'HTTP/1.1')
  if (!p.fields.some((f) => /^host:/i.test(f))) addField(p, 0, 'Host: a')
  lines.forEach((l, i) => addField(p, n + i, l))
  p.body = body
}

const mutation = fc.record({ kind: fc.constantFrom(...(Object.keys(MUTATIONS) as Array<keyof typeof MUTATIONS>)), n: fc.nat(), m: fc.nat() })
const chunkMutation = fc.record({ kind: fc.constantFrom(...(Object.keys(CHUNK_MUTATIONS) as Array<keyof typeof CHUNK_MUTATIONS>)), n: fc.nat() })

/** Runs a stream whose last message is broken: we refuse it, and agree with node up to it. */
function expectRefusedAfter(valid: RequestSpec[], broken: string, c: Cuts): void {
  const prefix = valid.map((s) => joinParts(requestParts(s))).join('')
  const stream = latin1(prefix + broken)
  const ours = runOurs(stream, c, requestParser())
  expect(ours.error, `accepted ${JSON.stringify(broken)}`).toBeDefined()
  expect(ours.messages).toHaveLength(valid.length)
  const ref = llhttpParse(stream, 'request')
  ours.messages.forEach((m, i) => expectSameRequest(m, ref.messages[i]!))
}

describe('broken requests are refused; what comes before them reads as in llhttp', () => {
  it('broken heads', () => {
    fc.assert(
      fc.property(fc.array(request(true), { maxLength: 2 }), request(false), mutation, cuts, (valid, spec, mut, c) => {
        const parts = requestParts(spec)
        MUTATIONS[mut.kind](parts, mut.n, mut.m)
        expectRefusedAfter(valid, joinParts(parts), c)
      }),
    )
  })

  it('broken chunked bodies', () => {
    fc.assert(
      fc.property(fc.array(request(true), { maxLength: 2 }), request(false, true), chunkMutation, cuts, (valid, spec, mut, c) => {
        const parts = requestParts(spec)
        parts.body = CHUNK_MUTATIONS[mut.kind](parts.body, mut.n)
        expectRefusedAfter(valid, joinParts(parts), c)
      }),
    )
  })
})

interface ResponseSpec {
  readonly status: number
  readonly reason: string
  readonly minor: 0 | 1
  readonly fields: { name: string; value: string; pre: string; post: string }[]
  readonly method: string
  readonly body: Body
  readonly close: boolean
}

const response = (last: boolean): fc.Arbitrary<ResponseSpec> =>
  fc.record({
    // Not 101: llhttp stops at an upgrade.
    status: fc.oneof(fc.constantFrom(200, 204, 304, 404, 500, 100, 103), fc.integer({ min: 102, max: 999 })),
    reason: fc.constantFrom('OK', '', 'Not Found', 'x\ty \x80', ' lead'),
    minor: fc.constantFrom<0 | 1>(1, 1, 0),
    fields,
    method: fc.constantFrom('GET', 'GET', 'HEAD', 'POST'),
    body: fc.oneof(
      fc.record({ kind: fc.constant('length' as const), data: fc.uint8Array({ maxLength: 30 }).map((b) => Buffer.from(b).toString('latin1')) }),
      chunkedBody,
      ...(last ? [fc.constant({ kind: 'none' as const })] : []),
    ),
    close: fc.constant(last),
  })

function responseText(r: ResponseSpec): string {
  const bodyless = r.method === 'HEAD' || r.status < 200 || r.status === 204 || r.status === 304
  // A chunked body needs HTTP/1.1 (RFC 9112 §6.1); a body until close needs the last place.
  const minor = r.body.kind === 'chunked' ? 1 : r.minor
  const lines = r.fields.map((f) => `${f.name}:${f.pre}${f.value}${f.post}`)
  if (r.body.kind === 'length') lines.push(`Content-Length: ${r.body.data.length}`)
  if (r.body.kind === 'chunked') lines.push('Transfer-Encoding: chunked')
  if (minor === 0 && r.body.kind !== 'none') lines.push('Connection: keep-alive')
  const head = `HTTP/1.${minor} ${r.status}${r.reason === '' ? '' : ` ${r.reason}`}\r\n${lines.map((l) => `${l}\r\n`).join('')}\r\n`
  return head + (bodyless ? '' : bodyText(r.body))
}

describe('valid responses read as llhttp reads them', () => {
  it('sequences of responses on one connection', () => {
    fc.assert(
      fc.property(fc.array(response(false), { maxLength: 2 }), response(true), cuts, (before, last, c) => {
        const specs = [...before, last]
        const methods = specs.map((s) => s.method)
        const stream = latin1(specs.map(responseText).join(''))
        const ref = llhttpParse(stream, 'response', 16384, methods)
        expect(ref.error).toBeUndefined()
        const ours = runOurs<ResponseHead>(stream, c, responseParser(methods))
        expect(ours.error).toBeUndefined()
        expect(ours.messages).toHaveLength(ref.messages.length)
        ours.messages.forEach((m, i) => {
          const r = ref.messages[i]!
          expect({ status: m.head.status, reason: m.head.reason, minor: m.head.minor, rawHeaders: m.head.rawHeaders, body: m.body.toString('latin1'), trailers: m.trailers })
            .toStrictEqual({ status: r.status, reason: r.reason, minor: r.minor, rawHeaders: r.rawHeaders, body: r.body.toString('latin1'), trailers: r.trailers })
          expect(m.head.headers).toStrictEqual(r.headers)
          // node's binding reports keep-alive before it is told the response is to HEAD: it guesses a body until close.
          if (m.head.framing !== Framing.UntilClose && methods[i] !== 'HEAD') expect(m.head.keepAlive).toBe(r.keepAlive)
        })
      }),
      { numRuns: 150 },
    )
  })

  it('the field generator is not empty', () => {
    expect(fc.sample(field, 5)).toHaveLength(5)
  })
})
