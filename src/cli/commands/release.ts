import type { Command } from 'commander'
import type { RolloutView, SplitView, UpstreamsView } from '../api-types.js'
import type { AdminClient } from '../client.js'
import { contextOf } from '../context.js'
import { CliError, EXIT, RefusedError } from '../errors.js'
import { pct } from '../format.js'
import { targetList, withCommon, type CommonOptions } from '../options.js'
import { COMMANDS } from '../summary.js'
import { planOptions, waitOptions, type PlanOptions, type WaitOptions } from './plan.js'
import { startRollout } from './rollout.js'

type ReleaseOptions = CommonOptions & PlanOptions & WaitOptions & { readonly green: string[] }

/** The rollout now, or null before the first one. */
async function currentRollout(client: AdminClient): Promise<RolloutView | null> {
  try {
    return await client.get<RolloutView>('/v1/rollout')
  } catch (err) {
    if (err instanceof RefusedError && err.code === 'SY_ERR_NO_ROLLOUT') return null
    throw err
  }
}

/**
 * Refuses, changing nothing, when pointing green at a new build would hurt: a rollout is
 * still running (new targets would restart its step), or green already serves users (they
 * would all move to the untested build at once).
 */
async function checkIdleGreen(client: AdminClient): Promise<void> {
  const rollout = await currentRollout(client)
  if (rollout !== null && (rollout.phase === 'progressing' || rollout.phase === 'paused')) {
    throw new CliError(
      `refused: rollout ${rollout.id.slice(0, 8)} is ${rollout.phase} at step ${rollout.step}/${rollout.steps.length}; let it end or stop it ("switchyard rollout abort") first. Nothing was changed`,
      EXIT.refused,
    )
  }
  const split = await client.get<SplitView>('/v1/split')
  if (split.green > 0) {
    throw new CliError(
      `refused: green serves ${pct(split.green)} of new requests now, so pointing it at a new build would move them all at once. ` +
        'Send green to 0 first ("switchyard rollback"), or set rollout.swapOnPromote: true so that green is idle after each release. Nothing was changed',
      EXIT.refused,
    )
  }
}

/** release: the CI step. Green to the new build, a rollout, and (with --wait) its verdict as the exit code. */
export function releaseCommand(program: Command): void {
  waitOptions(
    planOptions(
      withCommon(
        program
          .command('release')
          .description(COMMANDS.release)
          .requiredOption('--green <urls>', 'the new build: http(s) URLs, separated by commas', (value: string, previous: string[] | undefined) => targetList(value, previous)),
      ),
    ),
  )
    .addHelpText(
      'after',
      `
Points green at the new targets (PUT /v1/upstreams/green), starts the rollout (POST
/v1/rollout) and, with --wait, follows it on the event stream until it ends: exit 0 when it
succeeded, 1 when it was aborted or reverted (the verdict and its reason printed) or when
--timeout came first (the rollout goes on unless --abort-on-timeout). Refused, changing
nothing, while a rollout runs or while green serves users.

Example (CI):
  export SWITCHYARD_ADMIN_URL=https://switchyard-admin:9090 SWITCHYARD_ADMIN_TOKEN=...
  switchyard release --green http://10.0.0.7:8000,http://10.0.0.8:8000 \\
    --steps 5,25,50,100 --hold 2m --wait --timeout 30m --reason "build $CI_COMMIT_SHA"`,
    )
    .action(async (options: ReleaseOptions) => {
      const { client, out } = contextOf(options)
      const reason = options.reason ?? `switchyard release: green to ${options.green.join(',')}`.slice(0, 500)
      await startRollout(client, out, { ...options, reason }, 'release', async () => {
        await checkIdleGreen(client)
        const answer = await client.request<UpstreamsView>('PUT', '/v1/upstreams/green', { targets: options.green, reason })
        if (!out.json) out.line(`green: ${(answer.green?.targets ?? []).map((t) => t.url).join(', ')}`)
      })
    })
}
