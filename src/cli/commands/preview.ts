import { Argument, type Command } from 'commander'
import type { PreviewView } from '../api-types.js'
import { contextOf } from '../context.js'
import { CliError, EXIT, RefusedError } from '../errors.js'
import { localTime } from '../format.js'
import { durationText, withCommon, type CommonOptions } from '../options.js'
import { COMMANDS } from '../summary.js'

/** preview COLOR: POST /v1/preview, a signed link a tester opens to see that colour. */
export function previewCommand(program: Command): void {
  withCommon(
    program
      .command('preview')
      .description(COMMANDS.preview)
      .addArgument(new Argument('<color>', 'blue or green').choices(['blue', 'green']))
      .option('--ttl <duration>', 'how long the link works, 1s to 7d', durationText, '1h'),
    { scoped: false },
  )
    .addHelpText('after', '\nThe link sets a cookie in the browser that opens it: every request of that browser then goes to the colour,\nuntil the link expires (or /.well-known/switchyard/preview?clear).')
    .action(async (color: 'blue' | 'green', options: CommonOptions & { ttl: string }) => {
      const { client, out } = contextOf(options)
      let link: PreviewView
      try {
        link = await client.request<PreviewView>('POST', '/v1/preview', { color, ttl: options.ttl })
      } catch (err) {
        // Off on this server, or a switchyard from before preview links.
        if (err instanceof RefusedError && (err.code === 'SY_ERR_PREVIEW_OFF' || (err.status === 404 && err.code === 'HTTP_404'))) {
          if (out.json) out.document(err.body)
          throw new CliError(
            `preview links are not available on ${client.url} (${err.code === 'SY_ERR_PREVIEW_OFF' ? 'this switchyard has no preview signer' : 'it has no POST /v1/preview: an older switchyard'}); use the x-switchyard-color: ${color} header instead`,
            EXIT.refused,
          )
        }
        throw err
      }
      if (out.json) return out.document(link)
      out.line(link.url)
      out.line(`shows ${link.color} to the browser that opens it, until ${localTime(link.expiresAt)}`)
    })
}
