/**
 * The peers' upstream choice: a hash of x-user-id, green below 10 %. It reuses switchyard's
 * hash so every proxy in the bench sends the same users to green; the peers share nothing else.
 */
import { hash32 } from '../../src/routing/hash.js'

export interface PeerArgs {
  readonly port: number
  readonly blue: string
  readonly green: string
  readonly greenShare: number
}

/** Reads `--port N --blue URL --green URL [--green-share 0.1]` from argv. */
export function peerArgs(argv: readonly string[] = process.argv.slice(2)): PeerArgs {
  const value = (flag: string): string | undefined => {
    const i = argv.indexOf(flag)
    return i === -1 ? undefined : argv[i + 1]
  }
  const port = Number(value('--port'))
  const blue = value('--blue')
  const green = value('--green')
  if (!Number.isInteger(port) || blue === undefined || green === undefined) {
    throw new Error('usage: --port N --blue URL --green URL [--green-share 0.1]')
  }
  return { port, blue, green, greenShare: Number(value('--green-share') ?? '0.1') }
}

/** Returns a picker: sticky by header value, random when the header is missing. */
export function weightedPicker(args: PeerArgs): (key: string | string[] | undefined) => string {
  const threshold = args.greenShare * 2 ** 32
  return (key) => {
    const k = Array.isArray(key) ? key[0] : key
    const u = k === undefined ? Math.random() * 2 ** 32 : hash32(k)
    return u < threshold ? args.green : args.blue
  }
}
