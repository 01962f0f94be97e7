import { mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { Type } from 'typebox'
import { Compile } from 'typebox/compile'
import { StateFileError } from './errors.js'
import type { AuditEvent, PersistedState, RolloutState, StateStore } from './types.js'

const FileSchema = Type.Object({
  version: Type.Literal(1),
  split: Type.Object({
    green: Type.Number({ minimum: 0, maximum: 100 }),
    generation: Type.Integer({ minimum: 0 }),
    reverted: Type.Union([
      Type.Null(),
      Type.Object({ at: Type.String(), reason: Type.String(), errorRate: Type.Number(), requests: Type.Integer() }),
    ]),
  }),
  rollout: Type.Optional(
    Type.Union([
      Type.Null(),
      Type.Object({
        id: Type.String(),
        phase: Type.Union([Type.Literal('progressing'), Type.Literal('paused'), Type.Literal('succeeded'), Type.Literal('aborted')]),
        steps: Type.Array(Type.Object({ greenBuckets: Type.Integer({ minimum: 1, maximum: 10_000 }), holdMs: Type.Integer({ minimum: 0 }) }), { minItems: 1 }),
        step: Type.Integer({ minimum: 0 }),
        startedAt: Type.String(),
        stepStartedAt: Type.String(),
        holdUntil: Type.Number(),
        holdLeftMs: Type.Union([Type.Null(), Type.Number()]),
        checks: Type.Integer({ minimum: 0 }),
        failedChecks: Type.Integer({ minimum: 0 }),
        consecutiveFailures: Type.Integer({ minimum: 0 }),
        passedThisStep: Type.Boolean(),
        lastVerdict: Type.Unknown(),
        endedAt: Type.Union([Type.Null(), Type.String()]),
        reason: Type.Union([Type.Null(), Type.String()]),
      }),
    ]),
  ),
  events: Type.Array(
    Type.Object({
      at: Type.String(),
      type: Type.String(),
      from: Type.Unknown(),
      to: Type.Unknown(),
      source: Type.String(),
      reason: Type.Union([Type.String(), Type.Null()]),
    }),
  ),
})
const fileValidator = Compile(FileSchema)

/**
 * Keeps the state in one JSON file, replaced atomically: write a temp file, fsync it,
 * rename it over the old one, fsync the directory. A crash leaves the old or the new file.
 */
export class FileStateStore implements StateStore {
  readonly #file: string
  readonly #temp: string

  constructor(file: string) {
    this.#file = file
    this.#temp = `${file}.${process.pid}.tmp`
  }

  get file(): string {
    return this.#file
  }

  async load(): Promise<PersistedState | null> {
    await this.#removeStaleTemps()
    let text: string
    try {
      text = await readFile(this.#file, 'utf8')
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'ENOENT') return null
      throw new StateFileError(this.#file, `cannot be read (${code ?? String(err)})`, { cause: err })
    }
    let data: unknown
    try {
      data = JSON.parse(text)
    } catch (err) {
      throw new StateFileError(this.#file, `is not valid JSON (${(err as Error).message})`, { cause: err })
    }
    if (!fileValidator.Check(data)) {
      const first = [...fileValidator.Errors(data)][0]
      const where = first?.instancePath === '' || first === undefined ? '' : ` at ${first.instancePath}`
      throw new StateFileError(this.#file, `does not hold a switchyard state${where} (${first?.message ?? 'bad shape'})`)
    }
    return {
      split: {
        greenBuckets: Math.round(data.split.green * 100),
        generation: data.split.generation,
        reverted: data.split.reverted,
      },
      events: data.events as AuditEvent[],
      rollout: (data.rollout ?? null) as RolloutState | null,
    }
  }

  /**
   * A process killed between writing its temp file and the rename leaves that file behind,
   * named for its pid; at start-up they are only litter (the state file is the old or the new
   * one), so they go. The state file is one process's, so no other writer can own them.
   */
  async #removeStaleTemps(): Promise<void> {
    const dir = dirname(this.#file)
    const pattern = tempPattern(this.#file)
    const own = basename(this.#temp)
    let names: string[]
    try {
      names = await readdir(dir)
    } catch {
      return
    }
    for (const name of names) {
      if (name !== own && pattern.test(name)) await unlink(join(dir, name)).catch(() => undefined)
    }
  }

  async save(state: PersistedState): Promise<void> {
    const body = JSON.stringify({
      version: 1,
      split: {
        green: state.split.greenBuckets / 100,
        generation: state.split.generation,
        reverted: state.split.reverted,
      },
      events: state.events,
      rollout: state.rollout ?? null,
    })
    const dir = dirname(this.#file)
    await mkdir(dir, { recursive: true })
    const handle = await open(this.#temp, 'w', 0o600)
    try {
      await handle.writeFile(`${body}\n`, 'utf8')
      await handle.sync()
    } finally {
      await handle.close()
    }
    try {
      await rename(this.#temp, this.#file)
    } catch (err) {
      await unlink(this.#temp).catch(() => undefined)
      throw err
    }
    await syncDir(dir)
  }
}

/** Matches the temp files of `file`'s writers: `state.json.<pid>.tmp`. */
function tempPattern(file: string): RegExp {
  return new RegExp(`^${basename(file).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.\\d+\\.tmp$`)
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
