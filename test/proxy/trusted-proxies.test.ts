import http from 'node:http'
import pino from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { createProxyServer, type ProxyServer } from '../../src/proxy/proxy-server.js'
import { clientInfo, TrustedProxies } from '../../src/proxy/trusted-proxies.js'
import { pickColor, Router, type RoutingPolicy } from '../../src/routing/router.js'
import { makeTable } from '../../src/routing/types.js'
import { RecordingSink, TIMEOUTS } from '../helpers/upstream-proxy-harness.js'
import { startUpstream, type Echo, type Upstream } from '../helpers/upstream-server.js'

function trust(...entries: string[]): TrustedProxies {
  const compiled = TrustedProxies.compile(entries)
  if (compiled === null) throw new Error('empty')
  return compiled
}

describe('TrustedProxies', () => {
  it('is null for an empty list, so the request path skips it', () => {
    expect(TrustedProxies.compile([])).toBeNull()
  })

  it('matches IPv4 addresses and CIDRs, and IPv4-mapped IPv6 peers against them', () => {
    const t = trust('10.0.0.0/8', '192.168.1.7', '172.16.0.0/12')
    for (const yes of ['10.0.0.1', '10.255.255.255', '192.168.1.7', '172.31.0.1', '::ffff:10.1.2.3', '::FFFF:192.168.1.7', '::ffff:0a00:0001']) {
      expect(t.has(yes), yes).toBe(true)
    }
    for (const no of ['11.0.0.1', '192.168.1.8', '172.32.0.1', '::ffff:11.0.0.1', '::1', '2001:db8::1', 'junk', '', undefined]) {
      expect(t.has(no), String(no)).toBe(false)
    }
  })

  it('matches IPv6 CIDRs, and IPv4-mapped CIDRs against IPv4 peers', () => {
    const t = trust('2001:db8::/32', '::1', 'fe80::/10', '::ffff:127.0.0.0/104')
    for (const yes of ['2001:db8::1', '2001:0db8:ffff::', '::1', '0:0:0:0:0:0:0:1', 'fe80::1%eth0', 'febf::1', '127.0.0.1', '::ffff:127.9.9.9']) {
      expect(t.has(yes), yes).toBe(true)
    }
    for (const no of ['2001:db9::1', '::2', 'fec0::1', '128.0.0.1', '::127.0.0.1']) {
      expect(t.has(no), no).toBe(false)
    }
    expect(trust('0.0.0.0/0').has('203.0.113.9')).toBe(true)
    expect(trust('::/0').has('2001:db8::5')).toBe(true)
  })

  it('refuses entries that are not addresses or CIDRs, naming them', () => {
    expect(() => TrustedProxies.compile(['10.0.0.0/8', '10.0.0.0/33'])).toThrow('[1] "10.0.0.0/33" has an invalid prefix length (0 to 32)')
    expect(() => TrustedProxies.compile(['lb.internal'])).toThrow('[0] "lb.internal" is not an IPv4 or IPv6 address or CIDR')
    expect(() => TrustedProxies.compile(['010.0.0.1'])).toThrow('is not an IPv4 or IPv6 address')
    expect(() => TrustedProxies.compile(['1.2.3'])).toThrow('is not an IPv4 or IPv6 address')
    expect(() => TrustedProxies.compile(['1::2::3'])).toThrow('is not an IPv4 or IPv6 address')
    expect(() => TrustedProxies.compile(['2001:db8::/129'])).toThrow('invalid prefix length (0 to 128)')
    expect(() => TrustedProxies.compile(['::ffff:0:0/64'])).toThrow('IPv4-mapped range')
    expect(() => TrustedProxies.compile(['10.0.0.0/x'])).toThrow('invalid prefix length')
  })

  it('walks X-Forwarded-For from the right past trusted hops to the client', () => {
    const t = trust('10.0.0.0/8')
    expect(t.clientAddress('10.0.0.1', undefined)).toBe('10.0.0.1')
    expect(t.clientAddress('10.0.0.1', '203.0.113.9')).toBe('203.0.113.9')
    // A client may put anything on the left; only what trusted hops appended counts.
    expect(t.clientAddress('10.0.0.1', '6.6.6.6, 203.0.113.9, 10.0.0.2')).toBe('203.0.113.9')
    // Every hop trusted: the left-most is the client.
    expect(t.clientAddress('10.0.0.1', '10.9.9.9, 10.0.0.2')).toBe('10.9.9.9')
    // Ports and brackets are dropped; empty entries skipped.
    expect(t.clientAddress('10.0.0.1', '203.0.113.9:5123, ')).toBe('203.0.113.9')
    expect(t.clientAddress('10.0.0.1', '[2001:db8::7]:443')).toBe('2001:db8::7')
    expect(t.clientAddress('10.0.0.1', '2001:db8::7')).toBe('2001:db8::7')
    // Garbage stops the walk at the last trusted hop: never a made-up address.
    expect(t.clientAddress('10.0.0.1', '203.0.113.9, unknown, 10.0.0.2')).toBe('10.0.0.2')
    expect(t.clientAddress('10.0.0.1', 'unknown')).toBe('10.0.0.1')
    // Repeated headers arrive as a list.
    expect(t.clientAddress('10.0.0.1', ['203.0.113.9', '10.0.0.2'])).toBe('203.0.113.9')
  })
})

describe('clientInfo', () => {
  const t = trust('10.0.0.0/8')
  const forwarded = { 'x-forwarded-for': '203.0.113.9', 'x-forwarded-proto': 'https' }

  it('is the peer, secure only over TLS, without trusted proxies', () => {
    expect(clientInfo(null, '10.0.0.1', forwarded, false)).toEqual({ address: '10.0.0.1', secure: false, trustedPeer: false })
    expect(clientInfo(null, '10.0.0.1', forwarded, true)).toEqual({ address: '10.0.0.1', secure: true, trustedPeer: false })
  })

  it('believes a trusted peer: the client from X-Forwarded-For, secure from X-Forwarded-Proto', () => {
    expect(clientInfo(t, '10.0.0.1', forwarded, false)).toEqual({ address: '203.0.113.9', secure: true, trustedPeer: true })
    expect(clientInfo(t, '::ffff:10.0.0.1', { 'x-forwarded-proto': 'HTTPS, http' }, false)).toMatchObject({ address: '::ffff:10.0.0.1', secure: true })
    // The balancer says its client came over plain HTTP, even though it talks TLS to us.
    expect(clientInfo(t, '10.0.0.1', { 'x-forwarded-proto': 'http' }, true)).toMatchObject({ secure: false })
    // It says nothing: this connection decides.
    expect(clientInfo(t, '10.0.0.1', {}, true)).toMatchObject({ secure: true })
  })

  it('ignores what anyone else says', () => {
    expect(clientInfo(t, '203.0.113.50', forwarded, false)).toEqual({ address: '203.0.113.50', secure: false, trustedPeer: false })
  })
})

// Loopback is a /8 on Linux: 127.0.0.2 is a trusted balancer, 127.0.0.1 an ordinary client.
const BALANCER = '127.0.0.2'
const DIRECT = '127.0.0.1'

interface Reply {
  status: number
  headers: http.IncomingHttpHeaders
  body: string
}

function send(port: number, from: string, headers: Record<string, string>): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/', localAddress: from, agent: false, headers }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => (body += chunk))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
    })
    req.on('error', reject)
    req.end()
  })
}

describe('trusted proxies on the data path', () => {
  const open: Array<{ close(): Promise<void> }> = []
  afterEach(async () => {
    for (const item of open.splice(0).reverse()) await item.close()
  })

  async function setup(policy: Partial<RoutingPolicy>, greenBuckets = 0, accessLog = false, engine: 'sockets' | 'node' = 'sockets') {
    const blue = await startUpstream('blue')
    const green = await startUpstream('green')
    open.push(blue, green)
    const lines: Array<Record<string, unknown>> = []
    const table = makeTable(1, greenBuckets)
    const proxy: ProxyServer = createProxyServer({
      tables: { current: () => table },
      router: new Router({ keys: ['header:x-user-id'], cookie: '', cookieMaxAgeSeconds: 60, overrideHeader: 'x-switchyard-color', ...policy }),
      sink: new RecordingSink(),
      upstreams: { blue: [blue.url], green: [green.url] },
      timeouts: TIMEOUTS,
      logger: pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) }),
      accessLog,
      trustedProxies: [`${BALANCER}/32`],
      engine,
    })
    const { port } = await proxy.listen(0, '127.0.0.1')
    open.push({ close: () => proxy.close(0) })
    return { port, blue, green, table, lines }
  }

  const spoof = { 'x-forwarded-for': '6.6.6.6', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'spoofed.example', host: 'shop.example' }

  function seen(upstream: Upstream): http.IncomingHttpHeaders {
    return upstream.requests.at(-1)!.headers
  }

  it('replaces X-Forwarded-For, -Proto and -Host from an untrusted peer', async () => {
    const { port, blue } = await setup({})
    expect((await send(port, DIRECT, spoof)).status).toBe(200)
    expect(seen(blue)).toMatchObject({ 'x-forwarded-for': DIRECT, 'x-forwarded-proto': 'http', 'x-forwarded-host': 'shop.example', host: 'shop.example' })
    const echo = JSON.parse((await send(port, DIRECT, spoof)).body) as Echo
    expect(echo.headers['x-forwarded-for']).toBe(DIRECT)
  })

  it('keeps a trusted peer’s X-Forwarded-* and appends the peer to X-Forwarded-For', async () => {
    const { port, blue } = await setup({})
    expect((await send(port, BALANCER, { ...spoof, 'x-forwarded-for': '6.6.6.6, 203.0.113.9' })).status).toBe(200)
    expect(seen(blue)).toMatchObject({
      'x-forwarded-for': `6.6.6.6, 203.0.113.9, ${BALANCER}`,
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'spoofed.example',
      host: 'shop.example',
    })
    // What it leaves out is filled in as for anyone.
    await send(port, BALANCER, { host: 'shop.example' })
    expect(seen(blue)).toMatchObject({ 'x-forwarded-for': BALANCER, 'x-forwarded-proto': 'http', 'x-forwarded-host': 'shop.example' })
  })

  /** Forwarding fields an app may read beside the trio: each would let a client choose its own address, scheme or path. */
  const family = {
    forwarded: 'for=6.6.6.6;proto=https;host=spoofed.example',
    'x-real-ip': '6.6.6.6',
    'x-forwarded-port': '443',
    'x-forwarded-prefix': '/evil',
    'x-forwarded-server': 'spoofed.example',
    'x-forwarded-ssl': 'on',
  }

  it.each(['sockets', 'node'] as const)('drops Forwarded, X-Real-IP and the other X-Forwarded-* from an untrusted peer; keeps a trusted one’s (%s engine)', async (engine) => {
    const { port, blue } = await setup({}, 0, false, engine)
    // As sent, and with a Connection field naming another field (the socket engine then rebuilds the head).
    for (const extra of [{}, { connection: 'keep-alive, x-hop' }]) {
      expect((await send(port, DIRECT, { ...spoof, ...family, ...extra })).status).toBe(200)
      const untrusted = seen(blue)
      for (const name of Object.keys(family)) expect(untrusted[name], name).toBeUndefined()
      expect(untrusted).toMatchObject({ 'x-forwarded-for': DIRECT, 'x-forwarded-proto': 'http', 'x-forwarded-host': 'shop.example' })

      expect((await send(port, BALANCER, { ...spoof, ...family, ...extra })).status).toBe(200)
      expect(seen(blue)).toMatchObject({ ...family, 'x-forwarded-for': `6.6.6.6, ${BALANCER}`, 'x-forwarded-proto': 'https' })
    }
  })

  it('`ip` stickiness uses the client behind a trusted balancer, and the peer otherwise', async () => {
    const { port, table } = await setup({ keys: ['ip'] }, 5_000)
    // Two client addresses that the split puts on different colours.
    const addresses = Array.from({ length: 64 }, (_, i) => `203.0.113.${i + 1}`)
    const onBlue = addresses.find((ip) => pickColor(table, ip) === 'blue')!
    const onGreen = addresses.find((ip) => pickColor(table, ip) === 'green')!
    expect((await send(port, BALANCER, { 'x-forwarded-for': onBlue })).headers['x-switchyard-color']).toBe('blue')
    expect((await send(port, BALANCER, { 'x-forwarded-for': onGreen })).headers['x-switchyard-color']).toBe('green')
    // A hop the balancer added after the client (itself trusted) does not hide the client.
    expect((await send(port, BALANCER, { 'x-forwarded-for': `${onGreen}, ${BALANCER}` })).headers['x-switchyard-color']).toBe('green')
    // From an untrusted peer every "client" is that peer.
    const direct = pickColor(table, DIRECT)
    for (const ip of [onBlue, onGreen]) {
      expect((await send(port, DIRECT, { 'x-forwarded-for': ip })).headers['x-switchyard-color']).toBe(direct)
    }
  })

  it('`secure` (the sticky cookie’s Secure flag) follows X-Forwarded-Proto only from a trusted peer', async () => {
    const { port } = await setup({ keys: [], cookie: 'sy_sid', cookieSecure: 'auto' })
    const viaBalancer = await send(port, BALANCER, { 'x-forwarded-proto': 'https' })
    expect(String(viaBalancer.headers['set-cookie'])).toMatch(/; Secure/)
    const spoofed = await send(port, DIRECT, { 'x-forwarded-proto': 'https' })
    expect(String(spoofed.headers['set-cookie'])).toMatch(/^sy_sid=/)
    expect(String(spoofed.headers['set-cookie'])).not.toMatch(/; Secure/)
    const plain = await send(port, BALANCER, { 'x-forwarded-proto': 'http' })
    expect(String(plain.headers['set-cookie'])).not.toMatch(/; Secure/)
  })

  it('logs the client behind a trusted balancer in the access log', async () => {
    const { port, lines } = await setup({}, 0, true)
    await send(port, BALANCER, { 'x-forwarded-for': '203.0.113.9' })
    await send(port, DIRECT, { 'x-forwarded-for': '203.0.113.9' })
    expect(lines.filter((line) => line.msg === 'request').map((line) => line.client)).toEqual(['203.0.113.9', DIRECT])
  })
})
