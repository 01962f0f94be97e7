import { mkdtemp, readdir, readFile, writeFile, chmod } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { FileStateStore } from '../../src/state/file-store.js'
import { StateFileError } from '../../src/state/errors.js'
import type { PersistedState } from '../../src/state/types.js'

const state: PersistedState = {
  split: { greenBuckets: 1234, generation: 7, reverted: { at: '2026-01-01T00:00:00.000Z', reason: 'r', errorRate: 0.5, requests: 40 } },
  events: [{ at: '2026-01-01T00:00:00.000Z', type: 'revert', from: { blue: 87.66, green: 12.34 }, to: { blue: 100, green: 0 }, source: 'auto-revert', reason: 'r' }],
  rollout: null,
  targets: null,
  release: 'r3l3ase',
}

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'sy-state-'))
}

describe('FileStateStore', () => {
  it('returns null when there is no file yet', async () => {
    expect(await new FileStateStore(join(await tempDir(), 'none.json')).load()).toBeNull()
  })

  it('round-trips the state, creating the directory, leaving no temp file', async () => {
    const dir = await tempDir()
    const file = join(dir, 'nested', 'state.json')
    const store = new FileStateStore(file)
    await store.save(state)
    expect(await store.load()).toEqual(state)
    expect(await readdir(join(dir, 'nested'))).toEqual(['state.json'])
    const onDisk = JSON.parse(await readFile(file, 'utf8')) as { version: number; split: { green: number } }
    expect(onDisk.version).toBe(1)
    expect(onDisk.split.green).toBe(12.34)
  })

  it('refuses a corrupt file and names it and what to do', async () => {
    const file = join(await tempDir(), 'state.json')
    await writeFile(file, '{"version":1,"split":{')
    const err = await new FileStateStore(file).load().catch((e: unknown) => e)
    expect(err).toBeInstanceOf(StateFileError)
    expect((err as Error).message).toContain(file)
    expect((err as Error).message).toMatch(/is not valid JSON.*move it aside/)
  })

  it('refuses a file of the wrong shape', async () => {
    const file = join(await tempDir(), 'state.json')
    await writeFile(file, JSON.stringify({ version: 1, split: { green: 500, generation: 1, reverted: null }, events: [] }))
    await expect(new FileStateStore(file).load()).rejects.toThrow(/does not hold a switchyard state at \/split\/green/)
  })

  it.skipIf(process.getuid?.() === 0)('refuses an unreadable file', async () => {
    const file = join(await tempDir(), 'state.json')
    await writeFile(file, '{}')
    await chmod(file, 0)
    await expect(new FileStateStore(file).load()).rejects.toThrow(/cannot be read \(EACCES\)/)
  })
})

describe('FileStateStore temp files', () => {
  it('removes the temp files a killed writer left (state.json.<pid>.tmp) at load, and nothing else', async () => {
    const dir = await tempDir()
    const file = join(dir, 'state.json')
    await new FileStateStore(file).save(state)
    await writeFile(join(dir, 'state.json.4242.tmp'), '{"version":1,"spl')
    await writeFile(join(dir, 'state.json.bak'), 'keep')
    await writeFile(join(dir, 'other.json.4242.tmp'), 'keep')
    expect(await new FileStateStore(file).load()).toEqual(state)
    expect((await readdir(dir)).sort()).toEqual(['other.json.4242.tmp', 'state.json', 'state.json.bak'])
  })

  it('removes leftover temps of both shapes (state.json.<pid>.tmp and state.json.<pid>.<hex>.tmp), but not this process\'s', async () => {
    const dir = await tempDir()
    const file = join(dir, 'state.json')
    await new FileStateStore(file).save(state)
    await writeFile(join(dir, 'state.json.4242.tmp'), 'old shape')
    await writeFile(join(dir, 'state.json.4242.0a1b2c3d4e5f.tmp'), 'new shape')
    // Another store of this process may be between its write and its rename: its temp stays.
    const inFlight = `state.json.${process.pid}.ffffffffffff.tmp`
    await writeFile(join(dir, inFlight), 'in flight')
    expect(await new FileStateStore(file).load()).toEqual(state)
    expect((await readdir(dir)).sort()).toEqual([inFlight, 'state.json'].sort())
  })

  // Regression: two app instances in one process on one state path shared `state.json.<pid>.tmp`,
  // and one's rename failed with ENOENT because the other had already renamed it away.
  it('lets two stores of one process save the same path at once', async () => {
    const dir = await tempDir()
    const file = join(dir, 'state.json')
    const stores = [new FileStateStore(file), new FileStateStore(file)]
    for (let round = 0; round < 20; round++) {
      await Promise.all(stores.flatMap((store) => [store.save(state), store.save(state), store.load()]))
    }
    expect(await readdir(dir)).toEqual(['state.json'])
    expect(await new FileStateStore(file).load()).toEqual(state)
  })
})
