import { describe, expect, it } from 'vitest'
import { runSwitchSoak } from '../../bench/soak-switch.js'

// The short form of `npm run soak` (bench/soak.ts): switchyard as its own process, 50
// keep-alive clients for ~4 s while the split flips every 50 ms and auto-revert trips once.
describe('zero-loss switching', () => {
  it('every request gets its upstream answer, byte for byte, while the split flips every 50 ms', async () => {
    const result = await runSwitchSoak({ workers: 1, clients: 50, durationMs: 4_000, revertEveryMs: 1_500, maxBody: 64 * 1024 })
    const { load, flips } = result
    expect(load.problems).toEqual([])
    expect(load.failed).toBe(0)
    expect(load.mismatched).toBe(0)
    expect(load.completed + load.refusedAfterStop).toBe(load.sent)
    // Real load over the flips (hundreds of requests even on a loaded 2-core machine), not a throughput claim.
    expect(load.sent).toBeGreaterThan(200)
    // Both colours served, and the flips and the revert really happened under the load.
    expect(load.byColor.blue).toBeGreaterThan(0)
    expect(load.byColor.green).toBeGreaterThan(0)
    expect(flips.flipErrors).toEqual([])
    expect(flips.flips).toBeGreaterThan(20)
    expect(flips.reverts).toBeGreaterThanOrEqual(1)
    expect(flips.injectedMismatched).toBe(0)
    expect(result.exitCode).toBe(0)
  }, 15_000)
})
