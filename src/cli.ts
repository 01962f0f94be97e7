#!/usr/bin/env node
import { parseArgs } from 'node:util'
import { readFileSync } from 'node:fs'
import { startApp, type App } from './app.js'
import { ConfigError, loadConfigFile } from './config/load.js'
import { StateFileError } from './state/errors.js'
import { createLogger } from './logger.js'

const USAGE = `usage: switchyard [--config FILE] [--check]

  -c, --config FILE   YAML (or JSON) config file (default config/default.yaml)
      --check         validate the config file (and the TLS files it names) and exit
  -h, --help          this help
  -v, --version       print the version

Environment: SWITCHYARD_ADMIN_TOKEN overrides admin.token, SWITCHYARD_REDIS_URL state.redis.url.
Signals: SIGHUP reloads the config file and TLS certificates; SIGTERM drains and exits 0 (a second one exits at once).`

/** One plain line on stderr, then exit 1: start-up problems are read by people, not log parsers. */
function fail(message: string): never {
  process.stderr.write(`switchyard: ${message}\n`)
  process.exit(1)
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}

async function main(): Promise<void> {
  let args
  try {
    args = parseArgs({
      options: {
        config: { type: 'string', short: 'c', default: 'config/default.yaml' },
        check: { type: 'boolean', default: false },
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

  const logger = createLogger(config.log.level)
  let app: App
  try {
    app = await startApp(config, { logger })
  } catch (err) {
    logger.flush()
    if (err instanceof StateFileError) fail(err.message)
    const e = err as NodeJS.ErrnoException & { port?: number; address?: string }
    if (e.code === 'EADDRINUSE' || e.code === 'EACCES') {
      fail(`cannot listen on ${e.address ?? ''}:${e.port ?? ''} (${e.code}); check proxy.port, admin.port and demo ports`)
    }
    fail(`cannot start: ${e.message}`)
  }

  let reloading = Promise.resolve()
  process.on('SIGHUP', () => {
    reloading = reloading.then(async () => {
      try {
        const next = await loadConfigFile(file)
        await app.reload(next)
      } catch (err) {
        const message = err instanceof ConfigError ? err.message : String(err)
        logger.error({ file, err: message }, `config reload refused, the running config stays: ${message}`)
      }
    })
  })

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
