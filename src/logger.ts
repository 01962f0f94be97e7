import { pino, type DestinationStream, type Logger } from 'pino'
import { pinoPretty } from './lazy.js'

/** Paths pino blanks out wherever they appear in a log line: credentials never reach the log. */
export const REDACT_PATHS: readonly string[] = [
  'authorization',
  'cookie',
  'token',
  '*.authorization',
  '*.cookie',
  '*.token',
  '*.headers.authorization',
  '*.headers.cookie',
  '*.headers["set-cookie"]',
  'headers["set-cookie"]',
]

/** `log.format`: JSON lines, lines for people, or whichever suits stdout (a terminal gets pretty). */
export type LogFormat = 'auto' | 'pretty' | 'json'

/** What a logger is made from: the `log` section of the config (its other keys are not read here). */
export interface LogSettings {
  readonly level: string
  readonly format: LogFormat
}

/**
 * `auto` as this process resolves it: pretty when it writes to stdout and stdout is a terminal,
 * JSON otherwise (a pipe, a file, a log collector). Proxy workers share the primary's stdout,
 * so they resolve it the same way.
 */
export function resolveLogFormat(format: LogFormat, toStdout = true): 'pretty' | 'json' {
  if (format !== 'auto') return format
  return toStdout && process.stdout.isTTY ? 'pretty' : 'json'
}

/**
 * A pino logger on stdout (or the given stream) with ISO-8601 times and secrets redacted:
 * pino's JSON lines, or with `format` pretty (or auto on a terminal) one readable line per entry.
 * Pretty lines are formatted and written synchronously in this thread, not in a transport's
 * worker thread, so `logger.flush()` before exit loses nothing and cluster workers log alike.
 */
export function createLogger(settings: LogSettings, destination?: DestinationStream): Logger {
  const options = {
    level: settings.level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: [...REDACT_PATHS], censor: '[redacted]' },
  }
  if (resolveLogFormat(settings.format, destination === undefined) === 'json') {
    return pino(options, destination ?? stdout())
  }
  return pino(options, prettyStream(destination))
}

/**
 * stdout as pino writes it by default (asynchronously, one write in flight, the rest queued),
 * but with a minLength of 1 byte, which changes when nothing is written (every line is at
 * least that) and makes `flush(done)` wait until the write in flight has landed or failed.
 * With pino's default of 0 it calls back at once, and a process that exits then, with a line
 * still in flight to a reader that has gone, hangs in pino's exit handler (sonic-boom retries
 * a broken pipe's write for ever); once the failed write is seen, pino drops further lines.
 */
function stdout(): DestinationStream {
  return pino.destination({ dest: 1, sync: false, minLength: 1 })
}

/**
 * pino-pretty's formatter over a destination: each JSON line becomes one line for people
 * (the time as written, level, pid, message, the other fields as one JSON object; an error's
 * stack below it). Colours only on a terminal that supports them.
 */
function prettyStream(destination: DestinationStream | undefined): DestinationStream & { flush(done?: () => void): void } {
  const out = destination ?? pino.destination({ dest: 1, sync: true })
  const { prettyFactory, isColorSupported } = pinoPretty()
  const format = prettyFactory({ translateTime: false, singleLine: true, ignore: 'hostname', colorize: destination === undefined && isColorSupported })
  return {
    write: (line: string) => out.write(format(line)),
    flush: (done?: () => void) => {
      ;(out as { flushSync?: () => void }).flushSync?.()
      done?.()
    },
  }
}
