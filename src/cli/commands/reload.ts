import type { Command } from 'commander'
import type { ReloadView } from '../api-types.js'
import { contextOf } from '../context.js'
import { withCommon, type CommonOptions } from '../options.js'
import { COMMANDS } from '../summary.js'

/** reload: POST /v1/reload, the SIGHUP of the admin API. */
export function reloadCommand(program: Command): void {
  withCommon(program.command('reload').description(COMMANDS.reload), { scoped: false })
    .addHelpText('after', '\nA refused file changes nothing: the message names the key (exit 1, SY_ERR_RELOAD_REFUSED).')
    .action(async (options: CommonOptions) => {
      const { client, out } = contextOf(options)
      const answer = await client.request<ReloadView>('POST', '/v1/reload')
      if (out.json) return out.document(answer)
      out.line(answer.changed.length === 0 ? 'reloaded: nothing changed' : `reloaded: changed ${answer.changed.join(', ')}`)
      if (answer.restartRequired.length > 0) out.line(`restart required for: ${answer.restartRequired.join(', ')} (they take effect on the next start)`)
    })
}
