import { writeFile } from 'node:fs/promises'
import type { Command } from 'commander'
import { CliError, EXIT } from '../errors.js'
import { STARTER_CONFIG } from '../init-template.js'
import { COMMANDS } from '../summary.js'

/** init [FILE]: writes the starter config; never over an existing file without --force. */
export function initCommand(program: Command): void {
  program
    .command('init')
    .description(COMMANDS.init)
    .argument('[file]', 'where to write it', 'switchyard.yaml')
    .option('--force', 'overwrite the file if it exists')
    .action(async (file: string, options: { force?: boolean }) => {
      try {
        // wx: created here or not at all, so two inits never write over each other's file.
        await writeFile(file, STARTER_CONFIG, { flag: options.force === true ? 'w' : 'wx' })
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code
        if (code === 'EEXIST') throw new CliError(`${file} already exists; pass --force to overwrite it`, EXIT.refused)
        throw new CliError(`cannot write ${file} (${code ?? String(err)})`, EXIT.refused)
      }
      process.stdout.write(
        `wrote ${file}: a starter config on two built-in demo upstreams\n` +
          `  switchyard --check --config ${file}   validates it\n` +
          `  switchyard --config ${file}           runs it (proxy on :8080, admin API on 127.0.0.1:9090)\n`,
      )
    })
}
