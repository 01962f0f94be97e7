import type { IncomingHttpHeaders } from 'node:http'
import { describe, expect, it } from 'vitest'
import { clientResponseHeaders, connectionListed, rawResponseHead, upstreamRequestHeaders } from '../../src/proxy/headers.js'

function pairs(flat: ReadonlyArray<string | string[]>): Array<[string, string | string[]]> {
  const out: Array<[string, string | string[]]> = []
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i] as string, flat[i + 1]!])
  return out
}

describe('connectionListed', () => {
  it('returns nothing for the standard values', () => {
    expect(connectionListed(undefined)).toBeUndefined()
    expect(connectionListed('keep-alive')).toBeUndefined()
    expect(connectionListed('close')).toBeUndefined()
    expect(connectionListed('Upgrade')).toBeUndefined()
    expect(connectionListed('Keep-Alive, Upgrade')).toBeUndefined()
  })

  it('lists extra names, lowercased and trimmed', () => {
    expect(connectionListed('keep-alive, X-Foo ,x-bar')).toEqual(['x-foo', 'x-bar'])
    expect(connectionListed(['close', 'X-Baz'])).toEqual(['x-baz'])
  })
})

describe('upstreamRequestHeaders', () => {
  it('drops hop-by-hop and Connection-listed headers and keeps the rest, Host included', () => {
    const headers: IncomingHttpHeaders = {
      host: 'shop.example',
      connection: 'keep-alive, x-private',
      'x-private': '1',
      'keep-alive': 'timeout=5',
      'proxy-connection': 'keep-alive',
      'proxy-authorization': 'Basic x',
      te: 'trailers',
      trailer: 'x-sum',
      'transfer-encoding': 'chunked',
      upgrade: 'h2c',
      expect: '100-continue',
      accept: 'text/plain',
      'content-length': '3',
    }
    expect(pairs(upstreamRequestHeaders(headers, '10.0.0.1'))).toEqual([
      ['host', 'shop.example'],
      ['accept', 'text/plain'],
      ['content-length', '3'],
      ['x-forwarded-for', '10.0.0.1'],
      ['x-forwarded-proto', 'http'],
      ['x-forwarded-host', 'shop.example'],
    ])
  })

  const forwarded: IncomingHttpHeaders = {
    host: 'a.example',
    'x-forwarded-for': '1.1.1.1, 2.2.2.2',
    'x-forwarded-proto': 'https',
    'x-forwarded-host': 'spoofed.example',
  }

  it('replaces an ordinary peer’s X-Forwarded-For, -Proto and -Host', () => {
    expect(pairs(upstreamRequestHeaders(forwarded, '3.3.3.3'))).toEqual([
      ['host', 'a.example'],
      ['x-forwarded-for', '3.3.3.3'],
      ['x-forwarded-proto', 'http'],
      ['x-forwarded-host', 'a.example'],
    ])
    expect(pairs(upstreamRequestHeaders(forwarded, '3.3.3.3', true))).toContainEqual(['x-forwarded-proto', 'https'])
    // A peer whose address is unknown (its socket went) sends no chain of its own.
    expect(pairs(upstreamRequestHeaders({ 'x-forwarded-for': '1.1.1.1' }, undefined))).toEqual([['x-forwarded-proto', 'http']])
  })

  it('keeps a trusted proxy’s X-Forwarded-* and appends it to X-Forwarded-For', () => {
    expect(pairs(upstreamRequestHeaders(forwarded, '3.3.3.3', false, true))).toEqual([
      ['host', 'a.example'],
      ['x-forwarded-for', '1.1.1.1, 2.2.2.2, 3.3.3.3'],
      ['x-forwarded-proto', 'https'],
      ['x-forwarded-host', 'spoofed.example'],
    ])
    // What it did not send is filled in as for anyone.
    expect(pairs(upstreamRequestHeaders({ host: 'a.example' }, '3.3.3.3', true, true))).toEqual([
      ['host', 'a.example'],
      ['x-forwarded-for', '3.3.3.3'],
      ['x-forwarded-proto', 'https'],
      ['x-forwarded-host', 'a.example'],
    ])
  })
})

describe('clientResponseHeaders', () => {
  it('drops hop-by-hop headers, adds the colour and appends the assigned cookie', () => {
    const headers: IncomingHttpHeaders = {
      'content-type': 'text/plain',
      connection: 'keep-alive, x-hop',
      'x-hop': 'secret',
      'keep-alive': 'timeout=5',
      'transfer-encoding': 'chunked',
      'set-cookie': ['a=1', 'b=2'],
      'x-switchyard-color': 'spoofed',
    }
    expect(pairs(clientResponseHeaders(headers, 'green', 'sy_sid=abc; Path=/'))).toEqual([
      ['content-type', 'text/plain'],
      ['set-cookie', ['a=1', 'b=2']],
      ['x-switchyard-color', 'green'],
      ['set-cookie', 'sy_sid=abc; Path=/'],
    ])
  })
})

describe('rawResponseHead', () => {
  it('serializes a head for a raw socket without hop-by-hop headers', () => {
    const head = rawResponseHead(
      101,
      'Switching Protocols',
      ['Upgrade', 'websocket', 'Connection', 'Upgrade', 'Sec-WebSocket-Accept', 'abc='],
      'blue',
      undefined,
      'connection: Upgrade\r\nupgrade: websocket\r\n',
    )
    expect(head).toBe(
      'HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: abc=\r\nx-switchyard-color: blue\r\n' +
        'connection: Upgrade\r\nupgrade: websocket\r\n\r\n',
    )
  })
})
