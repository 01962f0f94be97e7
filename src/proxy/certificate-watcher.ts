import { watch, type FSWatcher } from 'node:fs'
import { basename, dirname } from 'node:path'
import type { Logger } from 'pino'
import { loadCertificates, sameCertificates, TlsFileError, type Certificate, type TlsFiles } from './tls.js'

/** How long the watcher waits after the last change on disk before reading the files. */
export const WATCH_DEBOUNCE_MS = 200

export interface CertificateWatcherOptions {
  /** The files as configured. */
  readonly files: readonly TlsFiles[]
  /** Their config key, e.g. `proxy.tls`, for log lines and errors. */
  readonly key: string
  /** What is served now. */
  readonly current: readonly Certificate[]
  /** Serves new certificates (every process and server that uses them). */
  readonly apply: (certificates: readonly Certificate[]) => void | Promise<void>
  readonly logger: Logger
  readonly debounceMs?: number
}

/**
 * Reloads certificates when their files change on disk (the folders are watched, so an
 * atomic rename and Kubernetes' `..data` symlink swap are both seen) and when asked
 * (`reload`, on SIGHUP). A pair that cannot be read or does not check out is refused with one
 * error line naming the key; what is served stays.
 */
export class CertificateWatcher {
  readonly #options: CertificateWatcherOptions
  #files: readonly TlsFiles[]
  #current: readonly Certificate[]
  #watchers: FSWatcher[] = []
  #watched = ''
  #timer: NodeJS.Timeout | undefined
  #running: Promise<void> = Promise.resolve()
  /** The last refusal logged for a change on disk, so an unchanged bad file is reported once. */
  #lastError: string | undefined
  #closed = false

  constructor(options: CertificateWatcherOptions) {
    this.#options = options
    this.#files = options.files
    this.#current = options.current
  }

  /** Starts watching the folders of the files. */
  start(): void {
    this.#watch()
  }

  /** Re-reads the files now (SIGHUP), with new paths when the config changed them. */
  reload(files: readonly TlsFiles[] = this.#files): Promise<void> {
    this.#files = files
    this.#watch()
    return this.#check(true)
  }

  close(): void {
    this.#closed = true
    clearTimeout(this.#timer)
    for (const watcher of this.#watchers) watcher.close()
    this.#watchers = []
  }

  #watch(): void {
    if (this.#closed) return
    const folders = [...new Set(this.#files.flatMap((f) => [dirname(f.cert), dirname(f.key)]))].sort()
    const names = new Set(this.#files.flatMap((f) => [basename(f.cert), basename(f.key)]))
    const signature = `${folders.join('\n')}\n\n${[...names].join('\n')}`
    if (signature === this.#watched) return
    for (const watcher of this.#watchers) watcher.close()
    this.#watchers = []
    this.#watched = signature
    for (const folder of folders) {
      try {
        const watcher = watch(folder, { persistent: false }, (_event, filename) => {
          // `..data` and friends: Kubernetes swaps a Secret's files by renaming a symlink.
          if (filename === null || names.has(filename) || filename.startsWith('..')) this.#schedule()
        })
        watcher.on('error', (err) => {
          this.#options.logger.warn({ key: this.#options.key, folder, err: err.message }, `${this.#options.key}: stopped watching ${folder}; SIGHUP still reloads`)
        })
        this.#watchers.push(watcher)
      } catch (err) {
        this.#options.logger.warn({ key: this.#options.key, folder, err: (err as Error).message }, `${this.#options.key}: cannot watch ${folder}; SIGHUP still reloads`)
      }
    }
  }

  #schedule(): void {
    if (this.#closed) return
    clearTimeout(this.#timer)
    this.#timer = setTimeout(() => void this.#check(false), this.#options.debounceMs ?? WATCH_DEBOUNCE_MS)
    this.#timer.unref()
  }

  /** One check at a time, in order. */
  #check(asked: boolean): Promise<void> {
    this.#running = this.#running.then(() => this.#load(asked))
    return this.#running
  }

  async #load(asked: boolean): Promise<void> {
    if (this.#closed) return
    const { key, logger } = this.#options
    let next: Certificate[]
    try {
      next = await loadCertificates(this.#files, key)
    } catch (err) {
      const message = err instanceof TlsFileError ? err.message : `${key}: ${String(err)}`
      if (asked || message !== this.#lastError) {
        logger.error({ key, err: message }, `TLS certificate reload refused, the served certificate stays: ${message}`)
      }
      this.#lastError = message
      return
    }
    this.#lastError = undefined
    if (sameCertificates(next, this.#current)) return
    try {
      await this.#options.apply(next)
    } catch (err) {
      const message = `${key}: ${(err as Error).message}`
      logger.error({ key, err: message }, `TLS certificate reload refused, the served certificate stays: ${message}`)
      return
    }
    this.#current = next
    logger.info({ key, certificates: next.map((c) => ({ names: c.names, expires: c.expires })) }, 'TLS certificates reloaded')
  }
}
