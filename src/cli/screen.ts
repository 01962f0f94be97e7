import type { RolloutView } from './api-types.js'
import { clock } from './format.js'
import type { Output } from './output.js'
import { renderRollout, rolloutSummary, summaryKey } from './watch.js'

/** Shows a followed rollout: each reading as it comes, and the end. */
export interface Screen {
  show(view: RolloutView, readAt: number): void
  /** Stops its timers and gives the terminal back; the last view stays on screen. */
  close(): void
}

/** The live view on a terminal: redrawn in place on every reading and every second for the countdown. */
export class LiveScreen implements Screen {
  readonly #out: Output
  #drawn = 0
  #view: RolloutView | undefined
  #readAt = 0
  readonly #ticker: NodeJS.Timeout
  readonly #interrupted = () => {
    this.close()
    process.exit(130)
  }

  constructor(out: Output) {
    this.#out = out
    out.write('\x1b[?25l') // hide the cursor while redrawing
    this.#ticker = setInterval(() => this.#draw(), 1000)
    process.once('SIGINT', this.#interrupted)
  }

  show(view: RolloutView, readAt: number): void {
    this.#view = view
    this.#readAt = readAt
    this.#draw()
  }

  close(): void {
    clearInterval(this.#ticker)
    process.off('SIGINT', this.#interrupted)
    this.#out.write('\x1b[?25h')
  }

  #draw(): void {
    if (this.#view === undefined) return
    const lines = renderRollout(this.#view, {
      now: Date.now(),
      readAt: this.#readAt,
      style: this.#out.style,
      unicode: true,
      width: Math.max(20, (this.#out.columns || 80) - 1),
    })
    // Back to the first line drawn last time, clear to the end of the screen, draw again.
    const up = this.#drawn > 0 ? `\x1b[${this.#drawn}F` : ''
    this.#out.write(`${up}\x1b[J${lines.join('\n')}\n`)
    this.#drawn = lines.length
  }
}

/** Plain lines for pipes and CI logs: one per change of step, phase or verdict, with the time. */
export class LineScreen implements Screen {
  readonly #out: Output
  #key = ''

  constructor(out: Output) {
    this.#out = out
  }

  show(view: RolloutView, readAt: number): void {
    const key = summaryKey(view)
    if (key === this.#key) return
    this.#key = key
    this.#out.line(`${clock(readAt)} ${rolloutSummary(view, readAt, readAt, this.#out.style)}`)
  }

  close(): void {}
}

/** --json while watching: one JSON object per line, per change of step, phase or verdict. */
export class JsonLinesScreen implements Screen {
  readonly #out: Output
  #key = ''

  constructor(out: Output) {
    this.#out = out
  }

  show(view: RolloutView): void {
    const key = summaryKey(view)
    if (key === this.#key) return
    this.#key = key
    this.#out.record(view)
  }

  close(): void {}
}

/** --json with --wait: nothing along the way; the caller prints the final document. */
export class SilentScreen implements Screen {
  show(): void {}
  close(): void {}
}
