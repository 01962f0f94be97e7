import https from 'node:https'
import type { AddressInfo } from 'node:net'
import pino from 'pino'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import WebSocket, { WebSocketServer } from 'ws'
import { createProxyServer } from '../../src/proxy/proxy-server.js'
import type { UpstreamTls } from '../../src/proxy/upstream-connections.js'
import { Router } from '../../src/routing/router.js'
import { makeTable } from '../../src/routing/types.js'
import { startTestApp, testConfig } from '../helpers/app.js'
import { POLICY, RecordingSink, TIMEOUTS } from '../helpers/upstream-proxy-harness.js'
import { HAVE_OPENSSL, makeTestCa, type IssuedCert, type TestCa } from '../helpers/tls-certs.js'

let ca: TestCa
let byIp: IssuedCert
let byName: IssuedCert
const servers: https.Server[] = []
const closing: Array<() => Promise<void>> = []

beforeAll(() => {
  if (!HAVE_OPENSSL) return
  ca = makeTestCa('sy-upstream-tls-')
  byIp = ca.issue('upstream-ip', ['upstream.test', 'IP:127.0.0.1'])
  byName = ca.issue('upstream-name', ['only-name.test'])
})
afterEach(async () => {
  for (const close of closing.splice(0).reverse()) await close()
})
afterAll(async () => {
  for (const server of servers) {
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
})

/** An HTTPS upstream (with a WebSocket echo) on 127.0.0.1 serving `cert`. */
async function httpsUpstream(cert: IssuedCert): Promise<string> {
  const server = https.createServer({ cert: cert.certPem, key: cert.keyPem }, (req, res) => {
    req.resume()
    res.writeHead(200, { 'content-type': 'text/plain' }).end('secure upstream')
  })
  const wss = new WebSocketServer({ server })
  wss.on('connection', (socket) => socket.on('message', (data: Buffer) => socket.send(`echo ${data.toString()}`)))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  servers.push(server)
  return `https://127.0.0.1:${(server.address() as AddressInfo).port}`
}

async function proxyTo(target: string, upstreamTls?: UpstreamTls) {
  const sink = new RecordingSink()
  const proxy = createProxyServer({
    tables: { current: () => makeTable(1, 0) },
    router: new Router(POLICY),
    sink,
    upstreams: { blue: [target], green: [target] },
    timeouts: TIMEOUTS,
    logger: pino({ level: 'silent' }),
    accessLog: false,
    ...(upstreamTls === undefined ? {} : { upstreamTls }),
  })
  const { port } = await proxy.listen(0, '127.0.0.1')
  closing.push(() => proxy.close(0))
  return { url: `http://127.0.0.1:${port}`, sink }
}

describe.skipIf(!HAVE_OPENSSL)('https:// upstreams', () => {
  it('verifies the certificate against upstreams.tls.ca', async () => {
    const target = await httpsUpstream(byIp)
    const { url, sink } = await proxyTo(target, { ca: ca.ca, rejectUnauthorized: true })
    const res = await fetch(url)
    expect(res.status).toBe(200)
    expect(await res.text()).toBe('secure upstream')
    expect(sink.outcomes()).toEqual([{ color: 'blue', status: 200, errorKind: undefined }])
  })

  it('refuses a certificate it cannot verify by default: 502, counted as a connect error', async () => {
    const target = await httpsUpstream(byIp)
    const { url, sink } = await proxyTo(target)
    const res = await fetch(url)
    expect(res.status).toBe(502)
    const body = (await res.json()) as { code: string; message: string }
    expect(body.code).toBe('SY_ERR_UPSTREAM_CONNECT')
    expect(body.message).toMatch(/TLS handshake failed \((UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)/)
    expect(body.message).toContain('upstreams.tls')
    await sink.waitFor(1)
    expect(sink.outcomes()).toEqual([{ color: 'blue', status: 502, errorKind: 'connect' }])
  })

  it('insecureSkipVerify accepts any certificate', async () => {
    const target = await httpsUpstream(byIp)
    const { url } = await proxyTo(target, { rejectUnauthorized: false })
    expect((await fetch(url)).status).toBe(200)
  })

  it('checks the certificate against upstreams.tls.servername when set, else the target host', async () => {
    const target = await httpsUpstream(byName)
    const named = await proxyTo(target, { ca: ca.ca, rejectUnauthorized: true, servername: 'only-name.test' })
    expect((await fetch(named.url)).status).toBe(200)
    const unnamed = await proxyTo(target, { ca: ca.ca, rejectUnauthorized: true })
    const res = await fetch(unnamed.url)
    expect(res.status).toBe(502)
    expect(((await res.json()) as { message: string }).message).toContain('ERR_TLS_CERT_ALTNAME_INVALID')
  })

  it('WebSockets to an https:// upstream are verified the same way', async () => {
    const target = await httpsUpstream(byIp)
    const trusted = await proxyTo(target, { ca: ca.ca, rejectUnauthorized: true })
    const socket = new WebSocket(`${trusted.url.replace('http', 'ws')}/`)
    const reply = await new Promise<string>((resolve, reject) => {
      socket.on('open', () => socket.send('hi'))
      socket.on('message', (data: Buffer) => resolve(data.toString()))
      socket.on('error', reject)
    })
    expect(reply).toBe('echo hi')
    socket.close()

    const untrusted = await proxyTo(target)
    const refused = new WebSocket(`${untrusted.url.replace('http', 'ws')}/`)
    const status = await new Promise<number>((resolve) => {
      refused.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0))
      refused.on('error', () => resolve(-1))
    })
    expect(status).toBe(502)
  })

  it('reads upstreams.tls from the config', async () => {
    const target = await httpsUpstream(byIp)
    const app = await startTestApp(await testConfig([target], [target], { upstreams: { blue: { targets: [target] }, green: { targets: [target] }, tls: { ca: ca.caFile } } }))
    closing.push(() => app.close())
    const res = await fetch(app.proxyUrl)
    expect(res.status).toBe(200)
    expect(await res.text()).toBe('secure upstream')
  })
})
