import { colorWanted, makeStyle, type Style } from './style.js'

/**
 * Where a command writes: answers on stdout (text for people, or with --json the server's
 * JSON: one document, or one object per line for streams), notes and errors on stderr.
 */
export class Output {
  readonly json: boolean
  /** stdout is a terminal: redraw in place, cut long lines, colours unless NO_COLOR. */
  readonly tty: boolean
  readonly style: Style
  readonly #out: NodeJS.WriteStream
  readonly #err: NodeJS.WriteStream

  constructor(json: boolean, out: NodeJS.WriteStream = process.stdout, err: NodeJS.WriteStream = process.stderr, env: NodeJS.ProcessEnv = process.env) {
    this.json = json
    this.tty = out.isTTY === true
    this.style = makeStyle(!json && colorWanted(out, env))
    this.#out = out
    this.#err = err
  }

  /** The terminal's width, when stdout is one. */
  get columns(): number | undefined {
    return this.tty ? this.#out.columns : undefined
  }

  line(text = ''): void {
    this.#out.write(`${text}\n`)
  }

  lines(texts: readonly string[]): void {
    if (texts.length > 0) this.#out.write(`${texts.join('\n')}\n`)
  }

  /** Raw bytes to stdout (cursor moves of the live view). */
  write(text: string): void {
    this.#out.write(text)
  }

  /** One JSON document (--json). */
  document(value: unknown): void {
    this.#out.write(`${JSON.stringify(value, null, 2)}\n`)
  }

  /** One JSON object on one line (--json on a stream). */
  record(value: unknown): void {
    this.#out.write(`${JSON.stringify(value)}\n`)
  }

  /** A note for the person watching, on stderr so a pipe of stdout stays clean. */
  note(text: string): void {
    this.#err.write(`switchyard: ${text}\n`)
  }
}
