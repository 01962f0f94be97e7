import type { Color } from '../../routing/types.js'
import { ALL } from './transitions.js'

/** What a drain policy drives: the data plane's drains. */
export interface Drains {
  drainColor(color: Color, deadlineMs: number): void
  cancelDrain(color: Color): void
}

/**
 * A colour whose share went to 0 drains: its WebSockets and streams run until the deadline,
 * then end (1001, an honest stream end). A share that rises again before then cancels it.
 */
export class DrainPolicy {
  /** Green's share the drains were last set for. */
  #green: number

  constructor(green: number) {
    this.#green = green
  }

  /** The split moved to `green` buckets: drain or undrain the colour whose share hit or left 0. */
  follow(green: number, drains: Drains, deadlineMs: number): void {
    const last = this.#green
    if (green === last) return
    if (green === 0) drains.drainColor('green', deadlineMs)
    else if (last === 0) drains.cancelDrain('green')
    if (green === ALL) drains.drainColor('blue', deadlineMs)
    else if (last === ALL) drains.cancelDrain('blue')
    this.#green = green
  }

  /** Starts over from `green` without draining anything (a data plane attached). */
  reset(green: number): void {
    this.#green = green
  }
}
