import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import type { IncomingMessage, ServerResponse } from 'node:http'
import tls, { type SecureContext } from 'node:tls'
import { ProxyError } from './errors.js'

/**
 * The TLS front door: certificates read from PEM files and checked, served by SNI, swapped on
 * a live server without touching its connections (new handshakes get the new certificate,
 * open connections keep theirs); certificate-watcher.ts follows the files on disk.
 */

/** One certificate as configured: PEM files, and the SNI name it answers (else its own names). */
export interface TlsFiles {
  readonly cert: string
  readonly key: string
  readonly servername?: string | undefined
}

/** A certificate read and checked: plain data, so it can be sent to worker processes. */
export interface Certificate {
  readonly cert: string
  readonly key: string
  /** Lowercased SNI names it serves (`*.example.com` for a wildcard). */
  readonly names: readonly string[]
  /** Its notAfter, as X509Certificate reports it. */
  readonly expires: string
}

/** A certificate file problem; the message starts with the config key (`proxy.tls.cert: ...`). */
export class TlsFileError extends Error {
  override readonly name = 'TlsFileError'
}

/** The key naming entry `index` of a list given as `key`: `proxy.tls` alone, `proxy.tls[1]` in a list. */
function entryKey(key: string, index: number, count: number): string {
  return count === 1 ? key : `${key}[${index}]`
}

async function readPem(key: string, file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8')
  } catch (err) {
    throw new TlsFileError(`${key}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`)
  }
}

/** The DNS names of a certificate: subjectAltName DNS entries, else its subject CN. */
function certificateNames(x509: X509Certificate): string[] {
  const names: string[] = []
  for (const entry of (x509.subjectAltName ?? '').split(',')) {
    const trimmed = entry.trim()
    if (trimmed.startsWith('DNS:')) names.push(trimmed.slice(4).toLowerCase())
  }
  if (names.length > 0) return names
  const cn = /^CN=(.+)$/m.exec(x509.subject)
  return cn === null ? [] : [cn[1]!.trim().toLowerCase()]
}

/**
 * Checks one PEM pair: a certificate, a private key (unencrypted) that belongs to it, and a
 * TLS context OpenSSL accepts. Throws TlsFileError naming `key` (e.g. `proxy.tls[1]`).
 */
export function checkPair(key: string, files: TlsFiles, certPem: string, keyPem: string): Certificate {
  let x509: X509Certificate
  try {
    x509 = new X509Certificate(certPem)
  } catch (err) {
    throw new TlsFileError(`${key}.cert: ${files.cert} is not a PEM certificate (${(err as Error).message})`)
  }
  let privateKey: KeyObject
  try {
    privateKey = createPrivateKey(keyPem)
  } catch (err) {
    throw new TlsFileError(`${key}.key: ${files.key} is not an unencrypted PEM private key (${(err as Error).message})`)
  }
  if (!x509.checkPrivateKey(privateKey)) {
    throw new TlsFileError(`${key}.key: ${files.key} does not belong to the certificate in ${files.cert}`)
  }
  try {
    tls.createSecureContext({ cert: certPem, key: keyPem })
  } catch (err) {
    throw new TlsFileError(`${key}: ${files.cert} and ${files.key} are refused by OpenSSL (${(err as Error).message})`)
  }
  const names = files.servername !== undefined ? [files.servername.toLowerCase()] : certificateNames(x509)
  return { cert: certPem, key: keyPem, names, expires: x509.validTo }
}

/**
 * Reads and checks every pair of `files` (config key `key`, e.g. `proxy.tls`). Throws
 * TlsFileError naming the key: `proxy.tls.cert: cannot read /etc/tls/a.pem (ENOENT)`.
 */
export async function loadCertificates(files: readonly TlsFiles[], key: string): Promise<Certificate[]> {
  return Promise.all(
    files.map(async (entry, i) => {
      const at = entryKey(key, i, files.length)
      const [certPem, keyPem] = await Promise.all([readPem(`${at}.cert`, entry.cert), readPem(`${at}.key`, entry.key)])
      return checkPair(at, entry, certPem, keyPem)
    }),
  )
}

/** Reads and checks a CA bundle (PEM). Synchronous: used when a proxy is built. Throws TlsFileError. */
export function readCaFile(key: string, file: string): string {
  let pem: string
  try {
    pem = readFileSync(file, 'utf8')
  } catch (err) {
    throw new TlsFileError(`${key}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`)
  }
  try {
    new X509Certificate(pem)
  } catch (err) {
    throw new TlsFileError(`${key}: ${file} is not a PEM certificate (${(err as Error).message})`)
  }
  return pem
}

/** Whether two certificate lists hold the same PEMs and names. */
export function sameCertificates(a: readonly Certificate[], b: readonly Certificate[]): boolean {
  return (
    a.length === b.length &&
    a.every((c, i) => c.cert === b[i]!.cert && c.key === b[i]!.key && c.names.join(',') === b[i]!.names.join(','))
  )
}

/** A server whose default certificate can be replaced (https.Server, tls.Server). */
interface SecureServer {
  setSecureContext(options: tls.SecureContextOptions): void
}

/**
 * The certificates a TLS server serves. The first is the default (no SNI, or an SNI name no
 * certificate has); the others are chosen by SNI: an exact name first, then a wildcard one
 * level deep. `update` swaps them all in one step for every attached server.
 */
export class CertificateStore {
  #exact = new Map<string, SecureContext>()
  #wildcard = new Map<string, SecureContext>()
  #fallback: SecureContext
  #certificates: readonly Certificate[]
  readonly #servers: SecureServer[] = []

  /** Throws when OpenSSL refuses a certificate (checkPair has normally caught that already). */
  constructor(certificates: readonly Certificate[]) {
    this.#certificates = certificates
    this.#fallback = this.#build(certificates)
  }

  get certificates(): readonly Certificate[] {
    return this.#certificates
  }

  /** Options for https.createServer: the default pair and the SNI callback. */
  serverOptions(): tls.TlsOptions {
    const first = this.#certificates[0]!
    return {
      cert: first.cert,
      key: first.key,
      SNICallback: (servername, done) => done(null, this.select(servername)),
    }
  }

  /** Makes `update` replace the default certificate of `server` too. */
  attach(server: SecureServer): void {
    this.#servers.push(server)
  }

  /** The context for an SNI name. */
  select(servername: string): SecureContext {
    if (this.#exact.size === 0 && this.#wildcard.size === 0) return this.#fallback
    const name = servername.toLowerCase()
    const exact = this.#exact.get(name)
    if (exact !== undefined) return exact
    const dot = name.indexOf('.')
    return (dot === -1 ? undefined : this.#wildcard.get(name.slice(dot))) ?? this.#fallback
  }

  /** Serves `certificates` to new handshakes from now on; open connections keep theirs. Throws when refused. */
  update(certificates: readonly Certificate[]): void {
    const exact = this.#exact
    const wildcard = this.#wildcard
    this.#exact = new Map()
    this.#wildcard = new Map()
    try {
      this.#fallback = this.#build(certificates)
    } catch (err) {
      this.#exact = exact
      this.#wildcard = wildcard
      throw err
    }
    this.#certificates = certificates
    const first = certificates[0]!
    for (const server of this.#servers) server.setSecureContext({ cert: first.cert, key: first.key })
  }

  #build(certificates: readonly Certificate[]): SecureContext {
    if (certificates.length === 0) throw new TlsFileError('no certificate given')
    let fallback: SecureContext | undefined
    for (const certificate of certificates) {
      const context = tls.createSecureContext({ cert: certificate.cert, key: certificate.key })
      fallback ??= context
      for (const name of certificate.names) {
        // The first certificate that names a host serves it.
        if (name.startsWith('*.')) {
          if (!this.#wildcard.has(name.slice(1))) this.#wildcard.set(name.slice(1), context)
        } else if (!this.#exact.has(name)) {
          this.#exact.set(name, context)
        }
      }
    }
    // With a single certificate SNI chooses nothing: select() skips the lookups.
    if (certificates.length === 1) {
      this.#exact.clear()
      this.#wildcard.clear()
    }
    return fallback!
  }
}

/** A Host header as `host` (port dropped), or undefined when absent or not a valid host. */
function hostOf(value: string | undefined): string | undefined {
  if (value === undefined) return undefined
  const match = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?\.?)(?::\d{1,5})?$/.exec(value.trim())
  return match?.[1]
}

/**
 * The `proxy.redirectHttp` listener's handler: 308 to the same host and path over HTTPS (on
 * `httpsPort()` unless it is 443); 400 without a valid Host.
 */
export function redirectToHttps(httpsPort: () => number): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const host = hostOf(req.headers.host)
    let path = req.url ?? '/'
    if (!path.startsWith('/')) {
      // Absolute-form (`GET http://host/path`): keep the path, never the named host.
      try {
        const url = new URL(path)
        path = `${url.pathname}${url.search}`
      } catch {
        path = ''
      }
    }
    res.shouldKeepAlive = false
    if (host === undefined || path === '') {
      const error = new ProxyError('SY_ERR_MALFORMED_REQUEST', undefined, 'A redirect to HTTPS needs a valid Host header and a path')
      const body = JSON.stringify(error)
      res.writeHead(400, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) })
      res.end(body)
      return
    }
    const port = httpsPort()
    res.writeHead(308, { location: `https://${host}${port === 443 ? '' : `:${port}`}${path}`, 'content-length': '0' })
    res.end()
  }
}
