import { Argument, type Command } from 'commander'
import type { UpstreamsView } from '../api-types.js'
import { contextOf } from '../context.js'
import { table } from '../format.js'
import { targetList, withCommon, type CommonOptions } from '../options.js'
import { COMMANDS } from '../summary.js'
import { targetRows } from './split.js'

interface SetOptions extends CommonOptions {
  readonly reason?: string
}

function printTargets(view: UpstreamsView, width: number | undefined): string[] {
  const colors = { ...(view.blue === undefined ? {} : { blue: view.blue.targets }), ...(view.green === undefined ? {} : { green: view.green.targets }) }
  return table(['COLOR', 'TARGET', 'HEALTH'], targetRows(colors).filter((row) => (row[0] === 'blue' ? view.blue : view.green) !== undefined), width)
}

/** upstreams (each colour's targets with their health) and upstreams set COLOR URL[,URL]. */
export function upstreamCommands(program: Command): void {
  const upstreams = withCommon(program.command('upstreams').description(COMMANDS.upstreams)).action(async (options: CommonOptions) => {
    const { client, out } = contextOf(options)
    const view = await client.get<UpstreamsView>('/v1/upstreams')
    if (out.json) out.document(view)
    else out.lines(printTargets(view, out.columns))
  })

  withCommon(
    upstreams
      .command('set')
      .description('point a colour at new targets: new requests go there, requests in flight on the old ones finish')
      .addArgument(new Argument('<color>', 'blue or green').choices(['blue', 'green']))
      .argument('<targets...>', 'http(s) URLs, separated by commas or spaces', (value: string, previous: string[] | undefined) => targetList(value, previous))
      .option('--reason <text>', 'why, for the audit log'),
  )
    .addHelpText('after', '\nExample:\n  switchyard upstreams set green http://10.0.0.7:8000,http://10.0.0.8:8000 --reason "build 1.8.0"')
    .action(async (color: 'blue' | 'green', targets: string[], options: SetOptions) => {
      const { client, out } = contextOf(options)
      const view = await client.request<UpstreamsView>('PUT', `/v1/upstreams/${color}`, {
        targets,
        ...(options.reason === undefined ? {} : { reason: options.reason }),
      })
      if (out.json) out.document(view)
      else out.lines(printTargets(view, out.columns))
    })
}
