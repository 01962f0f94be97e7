import { copyFileSync, mkdtempSync } from 'node:fs'
import https from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startCli, writeConfig, type CliProcess } from '../helpers/cli.js'
import { startColorUpstream, type ColorUpstream } from '../helpers/color-upstream.js'
import { HAVE_OPENSSL, makeTestCa, replaceFile, servedFingerprint } from '../helpers/tls-certs.js'
import { eventually } from '../helpers/wait.js'

let blue: ColorUpstream
let green: ColorUpstream
let proc: CliProcess | undefined

beforeAll(async () => {
  ;[blue, green] = await Promise.all([startColorUpstream('blue'), startColorUpstream('green')])
})
afterAll(async () => {
  proc?.kill('SIGTERM')
  await proc?.exit()
  await Promise.all([blue.close(), green.close()])
})

function get(url: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca, servername: 'a.test', agent: false }, (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => (body += chunk))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
      })
      .on('error', reject)
  })
}

describe.skipIf(!HAVE_OPENSSL)('workers: 2 with proxy.tls', { timeout: 60_000 }, () => {
  it('every worker serves HTTPS, and takes a certificate swapped on disk', async () => {
    const ca = makeTestCa('sy-workers-tls-')
    const first = ca.issue('a', ['a.test'])
    const cert = join(ca.dir, 'live.pem')
    const key = join(ca.dir, 'live.key')
    copyFileSync(first.cert, cert)
    copyFileSync(first.key, key)
    const dir = mkdtempSync(join(tmpdir(), 'sy-workers-tls-state-'))
    const started = await startCli(
      await writeConfig({
        proxy: { host: '127.0.0.1', port: 0, tls: { cert, key } },
        admin: { host: '127.0.0.1', port: 0 },
        upstreams: { blue: { targets: [blue.url] }, green: { targets: [green.url] } },
        state: { file: join(dir, 'state.json') },
        drain: { deadline: '1s' },
        workers: 2,
      }),
    )
    proc = started
    expect(started.proxyUrl).toMatch(/^https:/)
    const port = Number(new URL(started.proxyUrl).port)

    // Fresh connections are spread over the workers: all of them answer over TLS.
    for (let i = 0; i < 6; i++) expect(await get(started.proxyUrl, ca.ca)).toEqual({ status: 200, body: 'blue' })
    const status = (await (await fetch(`${started.adminUrl}/v1/status`)).json()) as { workers: Array<{ requests: number }> }
    expect(status.workers).toHaveLength(2)

    const next = ca.issue('a-next', ['a.test'])
    replaceFile(key, next.keyPem)
    replaceFile(cert, next.certPem)
    // The primary reads the files once and sends them to every worker: eight fresh handshakes
    // in a row (spread over both workers) all see the new certificate.
    await eventually(async () => {
      const seen = await Promise.all(Array.from({ length: 8 }, () => servedFingerprint(port, 'a.test', ca.ca)))
      return seen.every((fingerprint) => fingerprint === next.fingerprint)
    }, 10_000)
    expect(await get(started.proxyUrl, ca.ca)).toEqual({ status: 200, body: 'blue' })
    await started.waitForLog((line) => line.msg === 'TLS certificates reloaded')
  })
})
