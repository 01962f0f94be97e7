import { execFileSync, spawnSync } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import tls from 'node:tls'

/** Whether `openssl` can be run here; TLS tests are skipped (with a message) when it cannot. */
export const HAVE_OPENSSL = spawnSync('openssl', ['version'], { stdio: 'ignore' }).status === 0
if (!HAVE_OPENSSL) console.warn('openssl is not installed: the TLS tests are SKIPPED')

/** A certificate and its key as PEM files, with the PEM text and fingerprint. */
export interface IssuedCert {
  readonly cert: string
  readonly key: string
  readonly certPem: string
  readonly keyPem: string
  /** SHA-256 fingerprint, as `getPeerCertificate().fingerprint256` reports it. */
  readonly fingerprint: string
}

/** A test CA in its own temp folder that issues leaf certificates. */
export interface TestCa {
  readonly dir: string
  /** The CA certificate's PEM file and text. */
  readonly caFile: string
  readonly ca: string
  /** Issues a certificate for `names` (DNS names, or IP:... entries) into `dir/<file>.pem|.key`. */
  issue(file: string, names: readonly string[]): IssuedCert
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] })
}

/** Makes a CA (EC P-256, valid two days) in a unique temp folder. */
export function makeTestCa(prefix = 'sy-tls-'): TestCa {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  openssl(dir, ['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=switchyard test CA'])
  const caFile = join(dir, 'ca.pem')
  let serial = 1
  return {
    dir,
    caFile,
    ca: readFileSync(caFile, 'utf8'),
    issue(file, names) {
      const san = names.map((n) => (n.startsWith('IP:') ? n : `DNS:${n}`)).join(',')
      writeFileSync(join(dir, `${file}.ext`), `subjectAltName=${san}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`)
      openssl(dir, ['req', ...ec, '-keyout', `${file}.key`, '-out', `${file}.csr`, '-subj', `/CN=${names[0] ?? file}`])
      openssl(dir, [
        'x509', '-req', '-in', `${file}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', String(serial++),
        '-days', '2', '-extfile', `${file}.ext`, '-out', `${file}.pem`,
      ])
      const cert = join(dir, `${file}.pem`)
      const key = join(dir, `${file}.key`)
      const certPem = readFileSync(cert, 'utf8')
      return { cert, key, certPem, keyPem: readFileSync(key, 'utf8'), fingerprint: new X509Certificate(certPem).fingerprint256 }
    },
  }
}

/** Replaces `file` atomically with `text` (a temp file in the same folder, then rename). */
export function replaceFile(file: string, text: string): void {
  const temp = `${file}.${process.pid}.${Date.now()}.tmp`
  writeFileSync(temp, text)
  renameSync(temp, file)
}

/** Opens a TLS connection to 127.0.0.1:port with `servername` and returns the served certificate's fingerprint. */
export function servedFingerprint(port: number, servername: string | undefined, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ca, ...(servername === undefined ? {} : { servername }), rejectUnauthorized: false }, () => {
      const fingerprint = socket.getPeerCertificate().fingerprint256
      socket.end()
      resolve(fingerprint)
    })
    socket.on('error', reject)
  })
}
