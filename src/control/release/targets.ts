import { COLORS, type Color } from '../../routing/types.js'
import type { TargetOverride, TargetOverrides } from '../../state/types.js'
import { sameList } from './transitions.js'

/**
 * What each colour points at: the config's targets, or targets set through the API over
 * them. An override applies while the config still lists the targets it was set over: once
 * the file names others, the file wins (the stored override stays for replicas on the old
 * config). Every change is handed to the listeners (the data plane, the analysis).
 */
export class TargetBook {
  #config: Record<Color, readonly string[]>
  readonly #now: Record<Color, readonly string[]> = { blue: [], green: [] }
  readonly #listeners: ((color: Color, targets: readonly string[]) => void)[] = []

  constructor(config: Record<Color, readonly string[]>) {
    this.#config = config
  }

  /** What each colour points at now. */
  all(): Record<Color, readonly string[]> {
    return { ...this.#now }
  }

  of(color: Color): readonly string[] {
    return this.#now[color]
  }

  /** The override that pointing `color` at `next` stores: null when `next` is the config's own list. */
  overrideFor(color: Color, next: readonly string[]): TargetOverride | null {
    const config = this.#config[color]
    return sameList(next, config) ? null : { targets: [...next], over: [...config] }
  }

  /** The targets `color` follows under `overrides`. */
  effective(color: Color, overrides: TargetOverrides): readonly string[] {
    const override = overrides[color]
    return override !== undefined && sameList(override.over, this.#config[color]) ? override.targets : this.#config[color]
  }

  /** New config targets; returns the colours whose config lists changed. */
  setConfig(wanted: Record<Color, readonly string[]>): Color[] {
    const changed = COLORS.filter((color) => !sameList(wanted[color], this.#config[color]))
    this.#config = { ...wanted }
    return changed
  }

  onChange(listener: (color: Color, targets: readonly string[]) => void): void {
    this.#listeners.push(listener)
  }

  /** `color` points at `next` from now on; false when it already did. */
  apply(color: Color, next: readonly string[], force = false): boolean {
    if (!force && sameList(next, this.#now[color])) return false
    this.#now[color] = [...next]
    for (const listener of this.#listeners) listener(color, next)
    return true
  }

  /** Sets every colour to its effective targets without telling anyone (start-up). */
  settle(overrides: TargetOverrides): void {
    for (const color of COLORS) this.#now[color] = this.effective(color, overrides)
  }
}
