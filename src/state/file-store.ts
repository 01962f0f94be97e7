import { randomBytes } from 'node:crypto'
import { mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { StateFileError } from './errors.js'
import { decodeState, encodeState } from './codec.js'
import type { PersistedState, StateStore } from './types.js'

/**
 * Keeps the state in one JSON file, replaced atomically: write a temp file, fsync it,
 * rename it over the old one, fsync the directory. A crash leaves the old or the new file.
 */
export class FileStateStore implements StateStore {
  readonly kind = 'file'
  readonly #file: string

  constructor(file: string) {
    this.#file = file
  }

  get file(): string {
    return this.#file
  }

  async load(): Promise<PersistedState | null> {
    await removeStaleTemps(this.#file)
    const data = await readStateFile(this.#file)
    if (data === null) return null
    const decoded = decodeState(data)
    if (typeof decoded === 'string') throw new StateFileError(this.#file, `does not hold a switchyard state${decoded}`)
    return decoded
  }

  async save(state: PersistedState): Promise<void> {
    await writeDurably(this.#file, JSON.stringify(encodeState(state, true)))
  }
}

/** The parsed JSON of a state file, or null when there is none; StateFileError when it cannot be read or parsed. */
export async function readStateFile(file: string): Promise<unknown> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') return null
    throw new StateFileError(file, `cannot be read (${code ?? String(err)})`, { cause: err })
  }
  try {
    return JSON.parse(text) as unknown
  } catch (err) {
    throw new StateFileError(file, `is not valid JSON (${(err as Error).message})`, { cause: err })
  }
}

/**
 * A process killed between writing its temp file and the rename leaves that file behind,
 * named for its pid; at start-up they are only litter (the state file is the old or the new
 * one), so they go. The state file is one process's, so no other process can own them; temps
 * named for this process's pid stay, since another store in this process (two apps on one
 * state path, as tests run them) may be between its write and its rename.
 */
export async function removeStaleTemps(file: string): Promise<void> {
  const dir = dirname(file)
  const pattern = tempPattern(file)
  let names: string[]
  try {
    names = await readdir(dir)
  } catch {
    return
  }
  for (const name of names) {
    const pid = pattern.exec(name)?.[1]
    if (pid !== undefined && pid !== String(process.pid)) await unlink(join(dir, name)).catch(() => undefined)
  }
}

/** Replaces `file` with `body` atomically and durably (temp file, fsync, rename, directory fsync). */
export async function writeDurably(file: string, body: string): Promise<void> {
  const dir = dirname(file)
  await mkdir(dir, { recursive: true })
  // Unique per write: two stores on one path in one process must not share a temp file,
  // or one's rename finds the other's already gone (ENOENT).
  const temp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`
  const handle = await open(temp, 'w', 0o600)
  try {
    try {
      await handle.writeFile(`${body}\n`, 'utf8')
      await handle.sync()
    } finally {
      await handle.close()
    }
    await rename(temp, file)
  } catch (err) {
    // A failed write (a full disk) must not leave its uniquely named temp file behind.
    await unlink(temp).catch(() => undefined)
    throw err
  }
  await syncDir(dir)
}

/**
 * Matches the temp files of `file`'s writers, capturing the writer's pid: today's
 * `state.json.<pid>.<hex>.tmp` and the older `state.json.<pid>.tmp`.
 */
function tempPattern(file: string): RegExp {
  return new RegExp(`^${basename(file).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.(\\d+)(?:\\.[0-9a-f]+)?\\.tmp$`)
}

/** Makes the rename itself durable; some filesystems refuse to open a directory, which is fine. */
async function syncDir(dir: string): Promise<void> {
  let handle
  try {
    handle = await open(dir, 'r')
    await handle.sync()
  } catch {
    // Best effort: the rename is already atomic, only its durability across power loss is at stake.
  } finally {
    await handle?.close()
  }
}
