import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    pool: 'forks',
    // Two at a time: most files wait on sockets and timers, not on the CPU.
    maxWorkers: 2,
    benchmark: { include: ['bench/**/*.bench.ts'] },
  },
})
