import { pino, type DestinationStream, type Logger } from 'pino'

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

/** pino JSON on stdout (or the given stream), with secrets redacted. */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = { level, base: { pid: process.pid }, redact: { paths: [...REDACT_PATHS], censor: '[redacted]' } }
  return destination === undefined ? pino(options) : pino(options, destination)
}
