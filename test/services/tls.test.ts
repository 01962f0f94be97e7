/**
 * Several services behind one HTTPS listener: each service's host name gets its own
 * certificate by SNI (proxy.tls as a list), and the request then goes to that service.
 */
import https from 'node:https'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { startTestApp } from '../helpers/app.js'
import { HAVE_OPENSSL, makeTestCa, servedFingerprint } from '../helpers/tls-certs.js'
import { configOf, servicesRaw, startUpstreams } from './helpers.js'

const opened: { close(): Promise<void> }[] = []
afterEach(async () => {
  for (const closing of opened.splice(0).reverse()) await closing.close()
})
afterAll(async () => {
  for (const closing of opened.splice(0).reverse()) await closing.close()
})

/** GET https://host/path through the proxy's port, trusting the test CA and sending `host` as SNI and Host. */
function get(port: number, host: string, path: string, ca: string): Promise<{ body: string; fingerprint: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, path, servername: host, headers: { host }, ca, agent: false }, (res) => {
      const fingerprint = (res.socket as import('node:tls').TLSSocket).getPeerCertificate().fingerprint256
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => (body += chunk))
      res.on('end', () => resolve({ body, fingerprint }))
    })
    req.on('error', reject)
    req.end()
  })
}

describe.skipIf(!HAVE_OPENSSL)('several services over HTTPS', () => {
  it("serves each service's host its own certificate and routes it to that service", async () => {
    const ca = makeTestCa('sy-svc-tls-')
    const web = ca.issue('web', ['web.test'])
    const api = ca.issue('api', ['api.example.test'])
    const models = ca.issue('models', ['*.models.test'])
    const u = await startUpstreams(['api', 'models', 'web'], opened)
    const raw = await servicesRaw(
      u,
      { api: {}, models: {}, web: { match: { hosts: ['web.test'] } } },
      { proxy: { tls: [web, api, models].map((c) => ({ cert: c.cert, key: c.key })) } },
    )
    const app = await startTestApp(configOf(raw))
    opened.push(app)
    const port = Number(new URL(app.proxyUrl).port)

    // Verified against the test CA: each name gets the certificate that carries it.
    const answers = await Promise.all([get(port, 'api.example.test', '/', ca.ca), get(port, 'a.models.test', '/v1/chat', ca.ca), get(port, 'web.test', '/', ca.ca)])
    expect(answers.map((a) => a.body.split(' ')[0])).toEqual(['api-blue', 'models-blue', 'web-blue'])
    expect(answers.map((a) => a.fingerprint)).toEqual([api.fingerprint, models.fingerprint, web.fingerprint])
    // A name no certificate carries gets the first (the default).
    expect(await servedFingerprint(port, 'other.test', ca.ca)).toBe(web.fingerprint)
  })
})
