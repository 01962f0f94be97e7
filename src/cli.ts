#!/usr/bin/env node
import { parseArgs } from 'node:util'
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import type { Logger } from 'pino'
import type { Reload, ReloadResult } from './admin/routes/reload.js'
import { startApp, type App } from './app.js'
import { ConfigError, loadConfigFile } from './config/load.js'
import { TlsFileError } from './proxy/tls.js'
import { StateFileError } from './state/errors.js'
import { createLogger } from './logger.js'

const USAGE = `usage: switchyard [--config FILE] [--check] [--pid-file PATH]

  -c, --config FILE   YAML (or JSON) config file (default config/default.yaml)
      --check         validate the config file (and the TLS files it names) and exit
      --pid-file PATH write this process's PID to PATH while it runs (for kill -HUP)
  -h, --help          this help
  -v, --version       print the version

Environment: SWITCHYARD_ADMIN_TOKEN overrides admin.token, SWITCHYARD_REDIS_URL state.redis.url.
Signals: SIGHUP reloads the config file and TLS certificates (as POST /v1/reload does); SIGTERM drains and exits 0 (a second one exits at once).`

/** One plain line on stderr, then exit 1: start-up problems are read by people, not log parsers. */
function fail(message: string): never {
  process.stderr.write(`switchyard: ${message}\n`)
  process.exit(1)
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}

/**
 * The one reload path, for SIGHUP and POST /v1/reload: re-reads `file`, applies it to the app
 * and says what changed. Reloads run one after another, never interleaved (one waits for the
 * app to have started). A refused file throws ConfigError naming the key, logged once, and
 * the running config stays.
 */
function configReloader(file: string, app: Promise<App>, logger: Logger): Reload {
  let queue: Promise<unknown> = app
  const reloadOnce = async (): Promise<ReloadResult> => {
    try {
      return await (await app).reload(await loadConfigFile(file))
    } catch (err) {
      // app.reload re-reads certificate files too: one may have changed since loadConfigFile checked it.
      const refused = err instanceof ConfigError ? err : err instanceof TlsFileError ? new ConfigError(err.message) : undefined
      const message = refused?.message ?? String(err)
      logger.error({ file, err: message }, refused === undefined ? `config reload failed: ${message}` : `config reload refused, the running config stays: ${message}`)
      throw refused ?? err
    }
  }
  return () => {
    const run = queue.then(reloadOnce)
    queue = run.catch(() => undefined)
    return run
  }
}

/** Writes the PID to `path` atomically (temp file, rename); removes it at exit while it still holds ours. */
function writePidFile(path: string): void {
  const temp = `${path}.${process.pid}.tmp`
  try {
    writeFileSync(temp, `${process.pid}\n`)
    renameSync(temp, path)
  } catch (err) {
    rmSync(temp, { force: true })
    fail(`cannot write --pid-file ${path} (${(err as NodeJS.ErrnoException).code ?? String(err)})`)
  }
  process.on('exit', () => {
    try {
      if (readFileSync(path, 'utf8').trim() === String(process.pid)) rmSync(path)
    } catch {
      // Already gone, or replaced by another process's: nothing of ours to remove.
    }
  })
}

async function main(): Promise<void> {
  let args
  try {
    args = parseArgs({
      options: {
        config: { type: 'string', short: 'c', default: 'config/default.yaml' },
        check: { type: 'boolean', default: false },
        'pid-file': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
        version: { type: 'boolean', short: 'v', default: false },
      },
      strict: true,
    }).values
  } catch (err) {
    fail(`${(err as Error).message}\n${USAGE}`)
  }
  if (args.help) {
    process.stdout.write(`${USAGE}\n`)
    return
  }
  if (args.version) {
    process.stdout.write(`${version()}\n`)
    return
  }
  const file = args.config
  let config
  try {
    config = await loadConfigFile(file)
  } catch (err) {
    fail(err instanceof ConfigError ? `config error: ${err.message}` : String(err))
  }
  if (args.check) {
    process.stdout.write(`${file}: ok\n`)
    return
  }

  const pidFile = args['pid-file']
  if (pidFile !== undefined) writePidFile(pidFile)
  const logger = createLogger(config.log.level)
  let started!: (app: App) => void
  const reload = configReloader(file, new Promise<App>((resolve) => (started = resolve)), logger)
  // From here on SIGHUP reloads (a signal during start-up waits for the app) instead of ending the process.
  // Refusals and failures are logged by the reloader; the signal has no one else to tell.
  process.on('SIGHUP', () => void reload().catch(() => undefined))
  let app: App
  try {
    app = await startApp(config, { logger, reload })
    started(app)
  } catch (err) {
    logger.flush()
    if (err instanceof StateFileError) fail(err.message)
    const e = err as NodeJS.ErrnoException & { port?: number; address?: string }
    if (e.code === 'EADDRINUSE' || e.code === 'EACCES') {
      fail(`cannot listen on ${e.address ?? ''}:${e.port ?? ''} (${e.code}); check proxy.port, admin.port and demo ports`)
    }
    fail(`cannot start: ${e.message}`)
  }

  let stopping = false
  const stop = (signal: string) => {
    if (stopping) {
      logger.warn({ signal }, 'second stop signal: exiting now')
      logger.flush()
      process.exit(1)
    }
    stopping = true
    logger.info({ signal, deadlineMs: config.drain.deadline }, 'draining: no new connections, in-flight requests finish')
    app.close().then(
      () => {
        logger.info('stopped')
        logger.flush()
        process.exit(0)
      },
      (err: unknown) => {
        logger.error({ err }, 'error while stopping')
        logger.flush()
        process.exit(1)
      },
    )
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
}

await main()
