// Starting the proxy from the command line: argv/env -> config -> app -> listen; signals.
// cli.ts calls serve() when the first argument is not a client command.
import { parseArgs } from 'node:util'
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import type { Logger } from 'pino'
import type { Reload, ReloadResult } from './admin/routes/reload.js'
import { callerName } from './control/port.js'
import type { App } from './app.js'
import { ConfigError, loadConfigFile } from './config/load.js'
import { TlsFileError } from './proxy/tls.js'
import { StateFileError } from './state/errors.js'
import { createLogger } from './logger.js'
import { commandLines } from './cli/summary.js'
import { packageVersion } from './package-root.js'

const DEFAULT_CONFIG = 'config/default.yaml'

const USAGE = `usage: switchyard [--config FILE] [--check] [--pid-file PATH]
       switchyard COMMAND [options]      (switchyard COMMAND --help)

  -c, --config FILE   YAML (or JSON) config file (default config/default.yaml)
      --check         validate the config file (and the TLS files it names) and exit
      --pid-file PATH write this process's PID to PATH while it runs (for kill -HUP)
  -h, --help          this help
  -v, --version       print the version

Environment: SWITCHYARD_ADMIN_TOKEN overrides admin.token, SWITCHYARD_REDIS_URL state.redis.url.
Signals: SIGHUP reloads the config file and TLS certificates (as POST /v1/reload does); SIGTERM drains and exits 0 (a second one exits at once).

Commands, which drive a running switchyard through its admin API (--url, --token, --json; --service NAME for one of several services):
${commandLines()}`

/** One plain line on stderr, then exit 1: start-up problems are read by people, not log parsers. */
function fail(message: string): never {
  process.stderr.write(`switchyard: ${message}\n`)
  process.exit(1)
}

/**
 * The one reload path, for SIGHUP and POST /v1/reload: re-reads `file`, applies it to the app
 * and says what changed. Reloads run one after another, never interleaved (one waits for the
 * app to have started). A refused file throws ConfigError naming the key, logged once, and
 * the running config stays.
 */
function configReloader(file: string, app: Promise<App>, logger: Logger): Reload {
  let queue: Promise<unknown> = app
  const reloadOnce = async (who: string): Promise<ReloadResult> => {
    try {
      return await (await app).reload(await loadConfigFile(file), who)
    } catch (err) {
      // app.reload re-reads certificate files too: one may have changed since loadConfigFile checked it.
      const refused = err instanceof ConfigError ? err : err instanceof TlsFileError ? new ConfigError(err.message) : undefined
      const message = refused?.message ?? String(err)
      const line = { action: 'reload', who, file, err: message }
      logger.error(line, refused === undefined ? `config reload failed: ${message}` : `config reload refused, the running config stays: ${message}`)
      throw refused ?? err
    }
  }
  // The caller of POST /v1/reload, or a signal.
  return (caller) => {
    const run = queue.then(() => reloadOnce(caller === undefined ? 'sighup' : callerName(caller)))
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

/** Starts switchyard as a server from its command line (argv without node and the script). */
/** The longest an exit waits for log lines still being written (a stuck log reader). */
const LOG_FLUSH_MS = 1_000

/**
 * Exits with `code` once the log lines written so far are out, or once stdout is found broken
 * (its reader gone: pino then drops further lines), and at the latest after LOG_FLUSH_MS.
 * Exiting at once instead would leave pino's exit handler retrying a write to a closed pipe
 * forever: the process would never end.
 */
function exitAfterLogs(logger: Logger, code: number): void {
  setTimeout(() => process.exit(code), LOG_FLUSH_MS).unref()
  logger.flush(() => process.exit(code))
}

/** How often a process started by npm looks whether its launcher is still there. */
const LAUNCHER_CHECK_MS = 500

/**
 * Calls `gone` once when the process that started this one has exited. `npx switchyard`
 * runs the binary through `sh -c`, and on SIGTERM npm ends that shell, which does not pass the
 * signal on: the server would be left running, holding its ports, with nobody to stop it. So
 * under npm (npx, npm exec, npm start) switchyard follows its launcher and drains as on SIGTERM.
 * Not otherwise: a server started with `nohup ... &` must outlive its shell.
 */
function followLauncher(gone: () => void): void {
  const parent = process.ppid
  const timer = setInterval(() => {
    if (process.ppid === parent) return
    clearInterval(timer)
    gone()
  }, LAUNCHER_CHECK_MS)
  timer.unref()
}

export async function serve(argv: string[]): Promise<void> {
  let args
  try {
    args = parseArgs({
      args: argv,
      options: {
        config: { type: 'string', short: 'c' },
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
    process.stdout.write(`${packageVersion()}\n`)
    return
  }
  const file = args.config ?? DEFAULT_CONFIG
  if (!existsSync(file)) {
    fail(
      args.config === undefined
        ? `no config at ${file} (run "switchyard init" to write a starter config, then "switchyard --config switchyard.yaml"; or pass --config FILE)`
        : `config error: config file ${file} does not exist (run "switchyard init ${file}" to write a starter config there)`,
    )
  }
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
  const logger = createLogger(config.log)
  let started!: (app: App) => void
  const reload = configReloader(file, new Promise<App>((resolve) => (started = resolve)), logger)
  // From here on SIGHUP reloads (a signal during start-up waits for the app) instead of ending the process.
  // Refusals and failures are logged by the reloader; the signal has no one else to tell.
  process.on('SIGHUP', () => void reload().catch(() => undefined))
  let app: App
  try {
    // Loaded here, not at the top: --help, --version, --check and config errors answer without loading the proxy.
    const { startApp } = await import('./app.js')
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
      exitAfterLogs(logger, 1)
    }
    stopping = true
    logger.info({ signal, deadlineMs: config.drain.deadline }, 'draining: no new connections, in-flight requests finish')
    app.close().then(
      () => {
        logger.info('stopped')
        exitAfterLogs(logger, 0)
      },
      (err: unknown) => {
        logger.error({ err }, 'error while stopping')
        exitAfterLogs(logger, 1)
      },
    )
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
  if (process.env.npm_execpath !== undefined) followLauncher(() => stop('launcher exited'))
}
