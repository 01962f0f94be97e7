/**
 * The client commands with one line each: the server's `--help` lists them (serve.ts) and
 * the commander program describes them with the same words (program.ts).
 */
export const COMMANDS = {
  status: 'the split, window stats, targets and rollout at a glance',
  services: 'the services switchyard fronts: split, rollout, mirror, health and match of each',
  split: "set green's share of new requests: switchyard split 25",
  promote: 'send every new request to green',
  rollback: 'send every new request to blue',
  upstreams: "each colour's targets with their health; upstreams set green URL[,URL]",
  rollout: 'start, get (--watch), pause, resume, abort or promote-step a rollout',
  release: 'for CI: point green at a new build, roll it out, wait for the verdict',
  mirror: "copy a share of blue's requests to green and compare the answers; mirror set, report, reset",
  events: 'the audit log as a table; --follow streams it live',
  reload: 're-read the config file, as SIGHUP does, and say what changed',
  preview: 'a signed link that shows a tester one colour in any browser',
  init: 'write a commented starter config (switchyard.yaml)',
} as const

export type CommandName = keyof typeof COMMANDS

/** Whether argv's first word names a client command (or `help`), not a server flag. */
export function isCommand(word: string | undefined): boolean {
  return word !== undefined && !word.startsWith('-')
}

/** The commands as lines for a usage text. */
export function commandLines(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length))
  return Object.entries(COMMANDS)
    .map(([name, summary]) => `  ${name.padEnd(width)}  ${summary}`)
    .join('\n')
}
