import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The CLI tests run the built binary: build dist/ first when src/ is newer (a cheap check otherwise).
    globalSetup: ['test/helpers/build-once.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    pool: 'forks',
    // One process per worker for all its files, not one per file: the sources and fastify,
    // undici, pino... are then loaded once per worker, not 116 times (import time 84 s -> 13 s,
    // the suite 334 s -> 234 s on this 2-core machine). Nothing in src/ keeps module-level state
    // a test could leak, and every server a test starts is closed by that test's own hooks.
    isolate: false,
    // Two at a time: most files wait on sockets and timers, not on the CPU.
    maxWorkers: 2,
    benchmark: { include: ['bench/**/*.bench.ts'] },
  },
})
