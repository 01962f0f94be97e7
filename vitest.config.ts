import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The CLI tests run the built binary: build dist/ first when src/ is newer (a cheap check otherwise).
    globalSetup: ['test/helpers/build-once.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    pool: 'forks',
    // Two at a time: most files wait on sockets and timers, not on the CPU.
    maxWorkers: 2,
    benchmark: { include: ['bench/**/*.bench.ts'] },
  },
})
