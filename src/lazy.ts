import { createRequire } from 'node:module'
import type * as Undici from 'undici'
import type * as IORedis from 'ioredis'
import type * as PinoPretty from 'pino-pretty'

const require = createRequire(import.meta.url)

/**
 * A CommonJS package loaded on the first call, synchronously, then kept. What a proxy process
 * loads stays in its memory for good (source text, compiled code, the package's own objects):
 * undici alone is ~4.5 MB of V8 heap. These packages serve features that are off by default,
 * so a process that uses none of them does not pay for them.
 */
function lazyPackage<T>(name: string): () => T {
  let loaded: T | undefined
  return () => (loaded ??= require(name) as T)
}

/** undici: node's engine, mirrored requests, active health checks and webhooks (not the socket engine). */
export const undici = lazyPackage<typeof Undici>('undici')

/** ioredis: fleet mode (`state.redis`) only. */
export const ioredis = lazyPackage<typeof IORedis>('ioredis')

/** pino-pretty: `log.format: pretty` (or auto on a terminal) only. */
export const pinoPretty = lazyPackage<typeof PinoPretty>('pino-pretty')
