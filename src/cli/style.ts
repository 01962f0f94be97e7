/** ANSI colours for people, or nothing: never on a pipe, never with NO_COLOR set. */
export interface Style {
  readonly enabled: boolean
  readonly green: (text: string) => string
  readonly blue: (text: string) => string
  readonly red: (text: string) => string
  readonly yellow: (text: string) => string
  readonly dim: (text: string) => string
  readonly bold: (text: string) => string
}

const wrap = (enabled: boolean, open: number, close: number) => (text: string) => (enabled && text !== '' ? `\x1b[${open}m${text}\x1b[${close}m` : text)

export function makeStyle(enabled: boolean): Style {
  return {
    enabled,
    green: wrap(enabled, 32, 39),
    blue: wrap(enabled, 34, 39),
    red: wrap(enabled, 31, 39),
    yellow: wrap(enabled, 33, 39),
    dim: wrap(enabled, 2, 22),
    bold: wrap(enabled, 1, 22),
  }
}

/** Colours only on a terminal, and not when NO_COLOR is set to anything (no-color.org) or TERM is dumb. */
export function colorWanted(stream: { readonly isTTY?: boolean }, env: NodeJS.ProcessEnv): boolean {
  return stream.isTTY === true && (env.NO_COLOR ?? '') === '' && env.TERM !== 'dumb'
}
