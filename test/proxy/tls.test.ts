import { copyFileSync } from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import net, { type AddressInfo } from 'node:net'
import { join } from 'node:path'
import type { TLSSocket } from 'node:tls'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import WebSocket, { WebSocketServer } from 'ws'
import { resolveConfig } from '../../src/config/load.js'
import type { App } from '../../src/app.js'
import type { Config } from '../../src/config/schema.js'
import { startTestApp, testConfig } from '../helpers/app.js'
import { runCli, writeConfig } from '../helpers/cli.js'
import { startColorUpstream, type ColorUpstream } from '../helpers/color-upstream.js'
import { HAVE_OPENSSL, makeTestCa, replaceFile, servedFingerprint, type IssuedCert, type TestCa } from '../helpers/tls-certs.js'
import { eventually, until } from '../helpers/wait.js'

type TestApp = App & { logs: { lines: () => Record<string, unknown>[] } }

let ca: TestCa
let a: IssuedCert
let b: IssuedCert
let blue: ColorUpstream
let green: ColorUpstream
const apps: App[] = []

beforeAll(async () => {
  if (!HAVE_OPENSSL) return
  ca = makeTestCa()
  a = ca.issue('a', ['a.test'])
  b = ca.issue('b', ['b.test', '*.b.test'])
  ;[blue, green] = await Promise.all([startColorUpstream('blue'), startColorUpstream('green')])
})
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close()
})
afterAll(async () => {
  await Promise.all([blue?.close(), green?.close()])
})

/** A pair of files of its own for a test that rewrites them: a copy of `from`. */
function ownPair(name: string, from: IssuedCert): { cert: string; key: string } {
  const cert = join(ca.dir, `${name}.live.pem`)
  const key = join(ca.dir, `${name}.live.key`)
  copyFileSync(from.cert, cert)
  copyFileSync(from.key, key)
  return { cert, key }
}

async function start(proxy: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<TestApp & { config: Config }> {
  const config = await testConfig([blue.url], [green.url], { proxy: { host: '127.0.0.1', port: 0, ...proxy }, ...extra })
  const app = await startTestApp(config)
  apps.push(app)
  return Object.assign(app, { config })
}

function portOf(url: string): number {
  return Number(new URL(url).port)
}

interface Answer {
  status: number
  headers: http.IncomingHttpHeaders
  body: string
  socket: TLSSocket
}

/** One HTTPS request to 127.0.0.1 with `servername` (SNI and the name verified), trusting the test CA. */
function get(url: string, servername: string, agent?: https.Agent, path = '/'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const target = new URL(path, url)
    const req = https.request(target, { ca: ca.ca, servername, ...(agent === undefined ? { agent: false } : { agent }) }, (res) => {
      // Taken now: a keep-alive agent takes the socket back once the answer ends.
      const socket = res.socket as TLSSocket
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => (body += chunk))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, socket }))
    })
    req.on('error', reject)
    req.end()
  })
}

function errorLines(app: TestApp, key: string): Record<string, unknown>[] {
  return app.logs.lines().filter((line) => line.level === 50 && String(line.err ?? line.msg).includes(key))
}

/** A port nobody listens on right now. */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo
      server.close(() => resolve(port))
    })
  })
}

describe.skipIf(!HAVE_OPENSSL)('TLS front door', () => {
  it('serves HTTPS with the configured certificate, and proxies as over HTTP', async () => {
    const app = await start({ tls: { cert: a.cert, key: a.key } })
    expect(app.proxyUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/)
    const answer = await get(app.proxyUrl, 'a.test')
    expect(answer.status).toBe(200)
    expect(answer.body).toBe('blue')
    expect(answer.headers['x-switchyard-color']).toBe('blue')
    expect(answer.socket.getPeerCertificate().fingerprint256).toBe(a.fingerprint)
  })

  it('carries WebSockets (wss://) and closes only a connection whose handshake fails', async () => {
    const upstream = http.createServer((_req, res) => res.end('plain'))
    const wss = new WebSocketServer({ server: upstream })
    wss.on('connection', (socket) => socket.on('message', (data: Buffer) => socket.send(`echo ${data.toString()}`)))
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve))
    const target = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`
    const config = await testConfig([target], [target], { proxy: { host: '127.0.0.1', port: 0, tls: { cert: a.cert, key: a.key } } })
    const app = await startTestApp(config)
    apps.push(app)
    try {
      // ws passes TLS options on to tls.connect; servername is one it does not declare.
      const options: WebSocket.ClientOptions & { servername: string } = { ca: ca.ca, servername: 'a.test' }
      const socket = new WebSocket(app.proxyUrl.replace('https', 'wss'), options)
      const reply = await new Promise<string>((resolve, reject) => {
        socket.on('open', () => socket.send('over tls'))
        socket.on('message', (data: Buffer) => resolve(data.toString()))
        socket.on('error', reject)
      })
      expect(reply).toBe('echo over tls')
      socket.close()

      // Plain HTTP on the HTTPS port: the connection is closed, nothing is answered.
      const port = portOf(app.proxyUrl)
      const plain = await new Promise<string>((resolve) => {
        let got = ''
        const raw = net.connect(port, '127.0.0.1', () => raw.write('GET / HTTP/1.1\r\nHost: a.test\r\n\r\n'))
        raw.on('data', (chunk: Buffer) => (got += chunk.toString('latin1')))
        raw.on('error', () => undefined)
        raw.on('close', () => resolve(got))
      })
      expect(plain).not.toContain('HTTP/1.1')
      // A client that does not trust the certificate gives up; the next one is served.
      await expect(new Promise((resolve, reject) => https.get(app.proxyUrl, { agent: false, servername: 'a.test' }, resolve).on('error', reject))).rejects.toThrow()
      expect((await get(app.proxyUrl, 'a.test')).status).toBe(200)
    } finally {
      upstream.closeAllConnections()
      wss.close()
      await new Promise<void>((resolve) => upstream.close(() => resolve()))
    }
  })

  it('picks the certificate by SNI; the first is the default', async () => {
    const app = await start({ tls: [{ cert: a.cert, key: a.key }, { cert: b.cert, key: b.key }] })
    const port = portOf(app.proxyUrl)
    expect(await servedFingerprint(port, 'a.test', ca.ca)).toBe(a.fingerprint)
    expect(await servedFingerprint(port, 'b.test', ca.ca)).toBe(b.fingerprint)
    expect(await servedFingerprint(port, 'x.b.test', ca.ca)).toBe(b.fingerprint)
    expect(await servedFingerprint(port, 'B.TEST', ca.ca)).toBe(b.fingerprint)
    expect(await servedFingerprint(port, 'unknown.test', ca.ca)).toBe(a.fingerprint)
    expect(await servedFingerprint(port, undefined, ca.ca)).toBe(a.fingerprint)
    // Verified end to end: each name gets a certificate valid for it.
    expect((await get(app.proxyUrl, 'b.test')).status).toBe(200)
    expect((await get(app.proxyUrl, 'a.test')).status).toBe(200)
  })

  it('a servername in the config overrides the names in the certificate', async () => {
    const app = await start({ tls: [{ cert: a.cert, key: a.key }, { cert: b.cert, key: b.key, servername: 'other.test' }] })
    const port = portOf(app.proxyUrl)
    expect(await servedFingerprint(port, 'other.test', ca.ca)).toBe(b.fingerprint)
    expect(await servedFingerprint(port, 'b.test', ca.ca)).toBe(a.fingerprint)
  })

  it('serves a certificate swapped on disk to new connections; a connection made before keeps working', async () => {
    const files = ownPair('swap', a)
    const app = await start({ tls: files })
    const port = portOf(app.proxyUrl)
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 })
    try {
      const before = await get(app.proxyUrl, 'a.test', agent)
      expect(before.socket.getPeerCertificate().fingerprint256).toBe(a.fingerprint)

      const next = ca.issue('a-next', ['a.test'])
      // The key first, then the certificate: for a moment the pair does not match, and is refused.
      replaceFile(files.key, next.keyPem)
      replaceFile(files.cert, next.certPem)
      await eventually(async () => (await servedFingerprint(port, 'a.test', ca.ca)) === next.fingerprint)
      expect((await get(app.proxyUrl, 'a.test')).status).toBe(200)

      // The keep-alive connection from before: same socket, its old certificate, still served.
      const after = await get(app.proxyUrl, 'a.test', agent, '/again')
      expect(after.status).toBe(200)
      expect(after.socket).toBe(before.socket)
      expect(after.socket.getPeerCertificate().fingerprint256).toBe(a.fingerprint)
      expect(app.logs.lines().some((line) => line.msg === 'TLS certificates reloaded')).toBe(true)
    } finally {
      agent.destroy()
    }
  })

  it('reloads certificates through app.reload (the SIGHUP path), new paths included', async () => {
    const config = await testConfig([blue.url], [green.url], { proxy: { host: '127.0.0.1', port: 0, tls: { cert: a.cert, key: a.key } } })
    const app = (await startTestApp(config)) as TestApp
    apps.push(app)
    const port = portOf(app.proxyUrl)
    const next = ca.issue('a-reload', ['a.test'])
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 })
    try {
      const before = await get(app.proxyUrl, 'a.test', agent)
      await app.reload(resolveConfig({ ...rawOf(config), proxy: { host: '127.0.0.1', port: 0, tls: { cert: next.cert, key: next.key } } }))
      // No waiting: once reload resolves, new handshakes get the new certificate.
      expect(await servedFingerprint(port, 'a.test', ca.ca)).toBe(next.fingerprint)
      const after = await get(app.proxyUrl, 'a.test', agent)
      expect(after.socket).toBe(before.socket)
      expect(after.status).toBe(200)
      // A reload with the same paths re-reads them too (SIGHUP after replacing the files).
      const files = ownPair('reload-same', next)
      await app.reload(resolveConfig({ ...rawOf(config), proxy: { host: '127.0.0.1', port: 0, tls: files } }))
      const third = ca.issue('a-third', ['a.test'])
      copyFileSync(third.key, files.key)
      copyFileSync(third.cert, files.cert)
      await app.reload(resolveConfig({ ...rawOf(config), proxy: { host: '127.0.0.1', port: 0, tls: files } }))
      expect(await servedFingerprint(port, 'a.test', ca.ca)).toBe(third.fingerprint)
    } finally {
      agent.destroy()
    }
  })

  it('refuses a bad or half-written pair with one error line naming the key; the old certificate stays', async () => {
    const files = ownPair('bad', a)
    const app = await start({ tls: files })
    const port = portOf(app.proxyUrl)

    replaceFile(files.cert, '-----BEGIN CERTIFICATE-----\nnot a certificate\n')
    await until(() => errorLines(app, 'proxy.tls.cert').length > 0)
    expect(String(errorLines(app, 'proxy.tls.cert')[0]!.err)).toContain(files.cert)
    expect(await servedFingerprint(port, 'a.test', ca.ca)).toBe(a.fingerprint)

    // Half-written: a new certificate whose key has not arrived yet.
    const next = ca.issue('bad-next', ['a.test'])
    replaceFile(files.cert, next.certPem)
    await until(() => errorLines(app, 'proxy.tls.key').length > 0)
    expect(String(errorLines(app, 'proxy.tls.key')[0]!.err)).toContain('does not belong to the certificate')
    expect(await servedFingerprint(port, 'a.test', ca.ca)).toBe(a.fingerprint)
    expect((await get(app.proxyUrl, 'a.test')).status).toBe(200)

    // The key arrives: served at once, and each bad state was reported exactly once.
    replaceFile(files.key, next.keyPem)
    await until(() => app.logs.lines().some((line) => line.msg === 'TLS certificates reloaded'))
    expect(await servedFingerprint(port, 'a.test', ca.ca)).toBe(next.fingerprint)
    expect(errorLines(app, 'proxy.tls.cert')).toHaveLength(1)
    expect(errorLines(app, 'proxy.tls.key')).toHaveLength(1)

    // Through app.reload (SIGHUP) a bad file is reported too, and changes nothing.
    await app.reload(resolveConfig({ ...rawOf(app.config), proxy: { host: '127.0.0.1', port: 0, tls: { cert: join(ca.dir, 'missing.pem'), key: files.key } } }))
    expect(errorLines(app, 'cannot read')[0]?.err).toBe(`proxy.tls.cert: cannot read ${join(ca.dir, 'missing.pem')} (ENOENT)`)
    expect(await servedFingerprint(port, 'a.test', ca.ca)).toBe(next.fingerprint)
  })

  it('redirects plain HTTP to HTTPS with 308 on proxy.redirectHttp; 400 without a valid Host', async () => {
    const redirectPort = await freePort()
    const app = await start({ tls: { cert: a.cert, key: a.key }, redirectHttp: redirectPort })
    const port = portOf(app.proxyUrl)
    const hits = blue.hits + green.hits
    const ask = (host: string | undefined, path: string) =>
      new Promise<{ status: number; location: string | undefined }>((resolve, reject) => {
        const headers: Record<string, string> = {}
        const req = http.request({ host: '127.0.0.1', port: redirectPort, path, method: 'POST', agent: false, setHost: false, headers }, (res) => {
          res.resume()
          res.on('end', () => resolve({ status: res.statusCode ?? 0, location: res.headers.location }))
        })
        if (host !== undefined) req.setHeader('host', host)
        req.on('error', reject)
        req.end('body')
      })
    expect(await ask('shop.example', '/cart?id=7')).toEqual({ status: 308, location: `https://shop.example:${port}/cart?id=7` })
    expect(await ask('shop.example:80', '/')).toEqual({ status: 308, location: `https://shop.example:${port}/` })
    expect(await ask('[::1]:8080', '/x')).toEqual({ status: 308, location: `https://[::1]:${port}/x` })
    expect((await ask(undefined, '/')).status).toBe(400)
    expect((await ask('bad host!', '/')).status).toBe(400)
    expect((await ask('evil.example/path', '/')).status).toBe(400)
    expect(blue.hits + green.hits).toBe(hits)
  })

  it('serves the admin API over TLS with admin.tls', async () => {
    const app = await start({ tls: { cert: a.cert, key: a.key } }, { admin: { host: '127.0.0.1', port: 0, tls: { cert: b.cert, key: b.key } } })
    expect(app.adminUrl).toMatch(/^https:/)
    const answer = await get(app.adminUrl, 'b.test', undefined, '/v1/split')
    expect(answer.status).toBe(200)
    expect(JSON.parse(answer.body)).toMatchObject({ green: 0 })
    expect(answer.socket.getPeerCertificate().fingerprint256).toBe(b.fingerprint)
  })

  it('the admin certificate follows its files too', async () => {
    const files = ownPair('admin', b)
    const app = await start({}, { admin: { host: '127.0.0.1', port: 0, tls: files } })
    const port = portOf(app.adminUrl)
    const next = ca.issue('admin-next', ['b.test'])
    replaceFile(files.key, next.keyPem)
    replaceFile(files.cert, next.certPem)
    await eventually(async () => (await servedFingerprint(port, 'b.test', ca.ca)) === next.fingerprint)
  })
})

describe.skipIf(!HAVE_OPENSSL)('TLS config', () => {
  it('--check names the key of a certificate file it cannot read', async () => {
    const missing = join(ca.dir, 'nope.pem')
    const file = await writeConfig({
      proxy: { host: '127.0.0.1', port: 0, tls: { cert: missing, key: a.key } },
      upstreams: { blue: { targets: ['http://127.0.0.1:1'] }, green: { targets: ['http://127.0.0.1:2'] } },
    })
    const proc = runCli(['--config', file, '--check'])
    expect(await proc.exit()).toBe(1)
    expect(proc.stderr()).toBe(`switchyard: config error: proxy.tls.cert: cannot read ${missing} (ENOENT)\n`)
  })

  it('--check refuses a key that is not the certificate’s, and a CA file that is not a certificate', async () => {
    const base = { upstreams: { blue: { targets: ['http://127.0.0.1:1'] }, green: { targets: ['http://127.0.0.1:2'] } } }
    const mismatched = runCli(['--config', await writeConfig({ ...base, admin: { tls: [{ cert: a.cert, key: b.key }] } }), '--check'])
    expect(await mismatched.exit()).toBe(1)
    expect(mismatched.stderr()).toContain(`admin.tls.key: ${b.key} does not belong to the certificate in ${a.cert}`)
    const badCa = runCli(['--config', await writeConfig({ ...base, upstreams: { ...base.upstreams, tls: { ca: a.key } } }), '--check'])
    expect(await badCa.exit()).toBe(1)
    expect(badCa.stderr()).toContain(`upstreams.tls.ca: ${a.key} is not a PEM certificate`)
    const good = runCli(['--config', await writeConfig({ ...base, proxy: { tls: [{ cert: a.cert, key: a.key }, { cert: b.cert, key: b.key }] } }), '--check'])
    expect(await good.exit()).toBe(0)
  })

  it('names the key of a malformed TLS or trusted-proxy setting', () => {
    const base = { upstreams: { blue: { targets: ['http://127.0.0.1:1'] }, green: { targets: ['http://127.0.0.1:2'] } } }
    const error = (patch: Record<string, unknown>) => {
      try {
        resolveConfig({ ...base, ...patch })
      } catch (err) {
        return (err as Error).message
      }
      return 'no error'
    }
    expect(error({ proxy: { tls: { cert: 'a.pem' } } })).toMatch(/^proxy\.tls must be a \{cert, key\} pair/)
    expect(error({ proxy: { tls: { cert: 'a.pem', key: 'a.key', extra: 1 } } })).toBe('proxy.tls.extra is not a known config key')
    expect(error({ proxy: { redirectHttp: 8081 } })).toBe('proxy.redirectHttp needs proxy.tls: it redirects to the HTTPS listener')
    expect(error({ proxy: { trustedProxies: ['10.0.0.0/8', '10.0.0.0/33'] } })).toBe(
      'proxy.trustedProxies[1] "10.0.0.0/33" has an invalid prefix length (0 to 32)',
    )
    expect(error({ proxy: { trustedProxies: ['lb.internal'] } })).toBe('proxy.trustedProxies[0] "lb.internal" is not an IPv4 or IPv6 address or CIDR')
    expect(error({ upstreams: { ...base.upstreams, tls: { ca: 'ca.pem', insecureSkipVerify: true } } })).toMatch(/^upstreams\.tls\.insecureSkipVerify/)
  })
})

/** A resolved config back in its raw form, enough for resolveConfig (durations are ms integers). */
function rawOf(config: Config): Record<string, unknown> {
  return {
    proxy: { host: config.proxy.host, port: config.proxy.port },
    admin: { host: config.admin.host, port: config.admin.port },
    upstreams: { blue: { targets: [...config.upstreams.blue.targets] }, green: { targets: [...config.upstreams.green.targets] } },
    state: { file: config.state.file },
    drain: { deadline: config.drain.deadline },
  }
}
