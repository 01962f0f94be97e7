import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { FileStateStore } from '../../src/state/file-store.js'
import { GenerationConflictError } from '../../src/control/errors.js'
import { Release } from '../../src/control/release/release.js'
import type { PersistedState, StateStore } from '../../src/state/types.js'
import { memoryLogger } from '../helpers/logs.js'

async function fileStore(): Promise<FileStateStore> {
  return new FileStateStore(join(await mkdtemp(join(tmpdir(), 'sy-ctl-')), 'state.json'))
}

describe('Release', () => {
  it('seeds from the config on first start and restores the stored split after', async () => {
    const store = await fileStore()
    const first = new Release(store, { logger: memoryLogger().logger })
    expect(await first.init(1000)).toEqual({ restored: false })
    await first.setSplit({ greenBuckets: 2550, type: 'split', source: 'api' })

    const second = new Release(store, { logger: memoryLogger().logger })
    expect(await second.init(1000)).toEqual({ restored: true })
    expect(second.state()).toEqual({ greenBuckets: 2550, generation: 2, reverted: null })
    expect(second.current()).toMatchObject({ generation: 2, greenBuckets: 2550, salt: '' })
    expect(second.events()[0]).toMatchObject({ type: 'split', from: { blue: 90, green: 10 }, to: { blue: 74.5, green: 25.5 }, source: 'api' })
  })

  it('publishes a new frozen table on each change and keeps old snapshots intact', async () => {
    const controller = new Release(await fileStore(), { logger: memoryLogger().logger })
    await controller.init(0)
    const before = controller.current()
    await controller.setSplit({ greenBuckets: 5000, type: 'split', source: 'api' })
    expect(before).toMatchObject({ generation: 1, greenBuckets: 0 })
    expect(controller.current()).toMatchObject({ generation: 2, greenBuckets: 5000 })
    expect(Object.isFrozen(controller.current())).toBe(true)
  })

  it('refuses a stale ifGeneration with 409-worthy error and changes nothing', async () => {
    const controller = new Release(await fileStore(), { logger: memoryLogger().logger })
    await controller.init(1000)
    await expect(controller.setSplit({ greenBuckets: 5000, type: 'split', source: 'api', ifGeneration: 9 })).rejects.toBeInstanceOf(
      GenerationConflictError,
    )
    expect(controller.state().greenBuckets).toBe(1000)
    expect(controller.events()).toHaveLength(0)
    await controller.setSplit({ greenBuckets: 5000, type: 'split', source: 'api', ifGeneration: 1 })
    expect(controller.state().generation).toBe(2)
  })

  it('serializes concurrent writers: with ifGeneration exactly one wins', async () => {
    const controller = new Release(await fileStore(), { logger: memoryLogger().logger })
    await controller.init(0)
    const results = await Promise.allSettled(
      [100, 200, 300, 400, 500].map((g) => controller.setSplit({ greenBuckets: g, type: 'split', source: 'api', ifGeneration: 1 })),
    )
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1)
    expect(controller.state().generation).toBe(2)
  })

  it('changes nothing when the store cannot save', async () => {
    let fail = false
    const inner = await fileStore()
    const store: StateStore = {
      kind: 'file',
      load: () => inner.load(),
      save: async (s: PersistedState) => {
        if (fail) throw new Error('disk full')
        await inner.save(s)
      },
    }
    const controller = new Release(store, { logger: memoryLogger().logger })
    await controller.init(1000)
    fail = true
    await expect(controller.setSplit({ greenBuckets: 9000, type: 'split', source: 'api' })).rejects.toThrow('disk full')
    expect(controller.state()).toEqual({ greenBuckets: 1000, generation: 1, reverted: null })
    expect(controller.current().greenBuckets).toBe(1000)
  })

  it('a revert latches, logs a warning, and the next operator split clears it', async () => {
    const { logger, lines } = memoryLogger()
    const controller = new Release(await fileStore(), { logger })
    await controller.init(2500)
    expect(await controller.revert({ reason: 'too many errors', errorRate: 0.5, requests: 40 })).toBe(true)
    expect(controller.state()).toMatchObject({ greenBuckets: 0, generation: 2, reverted: { reason: 'too many errors', errorRate: 0.5, requests: 40 } })
    expect(controller.events()[0]).toMatchObject({ type: 'revert', source: 'auto-revert', from: { green: 25 }, to: { green: 0 } })
    expect(lines().some((l) => l.level === 40 && String(l.msg).includes('auto-revert'))).toBe(true)
    // Already at 0: nothing more to revert.
    expect(await controller.revert({ reason: 'again', errorRate: 1, requests: 50 })).toBe(false)
    await controller.setSplit({ greenBuckets: 0, type: 'split', source: 'api' })
    expect(controller.state().reverted).toBeNull()
  })

  it('keeps at most maxEvents, newest first', async () => {
    const controller = new Release(await fileStore(), { logger: memoryLogger().logger, maxEvents: 3 })
    await controller.init(0)
    for (const g of [1, 2, 3, 4, 5]) await controller.setSplit({ greenBuckets: g * 100, type: 'split', source: 'api' })
    expect(controller.events().map((e) => (e.to as { green: number }).green)).toEqual([5, 4, 3])
  })
})
