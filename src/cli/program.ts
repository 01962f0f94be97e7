import { Command, CommanderError } from 'commander'
import { eventsCommand } from './commands/events.js'
import { initCommand } from './commands/init.js'
import { mirrorCommands } from './commands/mirror.js'
import { previewCommand } from './commands/preview.js'
import { releaseCommand } from './commands/release.js'
import { reloadCommand } from './commands/reload.js'
import { rolloutCommands } from './commands/rollout.js'
import { servicesCommand } from './commands/services.js'
import { splitCommands, statusCommand } from './commands/split.js'
import { upstreamCommands } from './commands/upstreams.js'
import { CliError, EXIT, RefusedError, UsageError } from './errors.js'

const ABOUT = 'Drive a running switchyard through its admin API (the documented /v1 routes only).'

const FOOTER = `
Every command that calls the API takes --url (default $SWITCHYARD_ADMIN_URL, else
http://127.0.0.1:9090), --token (default $SWITCHYARD_ADMIN_TOKEN) and --json; those of one
service's routes also --service NAME (default $SWITCHYARD_SERVICE) when switchyard fronts
several (without it they address the service named default). Exit codes:
  0  done
  1  refused by the server (its error code and message printed), or a rollout waited
     for that was aborted, reverted or still running at --timeout
  2  usage error: a bad flag, number or argument (nothing was sent)
  3  the admin API could not be reached (connection refused, DNS, timeout)

The proxy itself starts with: switchyard [--config FILE] [--check] [--pid-file PATH]`

/** The full name of a command, for the usage hint: `rollout start`. */
function pathOf(command: Command): string {
  const names: string[] = []
  for (let c: Command | null = command; c !== null && c.parent !== null; c = c.parent) names.unshift(c.name())
  return names.join(' ')
}

/** Every command under `root`, itself included. */
function allCommands(root: Command): Command[] {
  return [root, ...root.commands.flatMap((c) => allCommands(c))]
}

/** The commander program of the client commands. */
export function buildProgram(): Command {
  const program = new Command('switchyard')
    .description(ABOUT)
    .usage('<command> [options]')
    .addHelpText('after', FOOTER)
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(`switchyard: ${text}`) })
  statusCommand(program)
  servicesCommand(program)
  splitCommands(program)
  upstreamCommands(program)
  rolloutCommands(program)
  releaseCommand(program)
  mirrorCommands(program)
  eventsCommand(program)
  reloadCommand(program)
  previewCommand(program)
  initCommand(program)
  for (const command of allCommands(program)) {
    const name = pathOf(command)
    // A command's options belong to it alone: `upstreams --json` and `upstreams set ... --json` both work.
    command.enablePositionalOptions()
    command.exitOverride().showHelpAfterError(`(run "switchyard ${name === '' ? '' : `${name} `}--help" for usage)`)
    command.configureOutput({ outputError: (text, write) => write(`switchyard: ${text}`) })
  }
  return program
}

/** The command words of `args` that name commands (`rollout start` of `rollout start --wait`). */
function commandPathIn(program: Command, args: readonly string[]): string {
  const names: string[] = []
  let at: Command = program
  for (const arg of args) {
    const next = at.commands.find((c) => c.name() === arg)
    if (next === undefined) break
    names.push(arg)
    at = next
  }
  return names.join(' ')
}

/** Runs a client command (argv without node and the script) and answers its exit code. */
export async function runCommand(args: string[]): Promise<number> {
  // A reader that went away (| head) is no error of ours.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(EXIT.ok)
  })
  const program = buildProgram()
  try {
    await program.parseAsync(args, { from: 'user' })
    return EXIT.ok
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help asked for is not an error; help shown because a command was incomplete is.
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return EXIT.ok
      if (err.code === 'commander.help') return err.exitCode === 0 ? EXIT.ok : EXIT.usage
      return EXIT.usage
    }
    if (err instanceof UsageError) {
      const path = commandPathIn(program, args)
      process.stderr.write(`switchyard: error: ${err.message}\n(run "switchyard ${path === '' ? '' : `${path} `}--help" for usage)\n`)
      return EXIT.usage
    }
    if (err instanceof CliError) {
      if (err instanceof RefusedError && args.includes('--json')) process.stdout.write(`${JSON.stringify(err.body, null, 2)}\n`)
      if (err.message !== '') process.stderr.write(`switchyard: ${err.message}\n`)
      return err.exitCode
    }
    process.stderr.write(`switchyard: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
    return EXIT.refused
  }
}
