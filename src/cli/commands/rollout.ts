import type { Command } from 'commander'
import type { RolloutView } from '../api-types.js'
import type { AdminClient } from '../client.js'
import { contextOf } from '../context.js'
import { duration } from '../format.js'
import { newestEventId } from '../follow-rollout.js'
import { withCommon, type CommonOptions } from '../options.js'
import type { Output } from '../output.js'
import { COMMANDS } from '../summary.js'
import { renderRollout, rolloutSummary, stepShare } from '../watch.js'
import { followToEnd } from './follow.js'
import { checkWait, planBody, planOptions, waitOptions, type PlanOptions, type WaitOptions } from './plan.js'

type StartOptions = CommonOptions & PlanOptions & WaitOptions

/** `rollout 7d9cd647 started: 5 %, 25 %, 50 % (hold 2m each)`; a mirror step reads `mirror 100 %`. */
export function startedLine(view: RolloutView): string {
  const holds = new Set(view.steps.map((s) => s.holdMs))
  const steps = view.steps.map(stepShare).join(', ')
  const hold = holds.size === 1 ? ` (hold ${duration(view.steps[0]!.holdMs)} each)` : ` (holds ${view.steps.map((s) => duration(s.holdMs)).join(', ')})`
  return `rollout ${view.id.slice(0, 8)} started: ${steps}${hold}`
}

/**
 * Starts a rollout (after reading the newest event id, so a follower misses nothing) and
 * follows it with --wait/--watch. `before` runs first (release points green at its build).
 */
export async function startRollout(
  client: AdminClient,
  out: Output,
  options: StartOptions,
  command: string,
  before?: () => Promise<void>,
): Promise<void> {
  const body = planBody(options)
  checkWait(options)
  const following = options.wait === true || options.watch === true
  const afterEventId = following ? await newestEventId(client) : undefined
  await before?.()
  const view = await client.request<RolloutView>('POST', '/v1/rollout', body)
  if (!following) {
    if (out.json) out.document(view)
    else out.line(`${startedLine(view)} · ${rolloutSummary(view, Date.now(), Date.now(), out.style)}`)
    return
  }
  if (!out.json && !(options.watch === true && out.tty)) out.line(startedLine(view))
  await followToEnd(
    client,
    out,
    { live: options.watch === true, timeoutMs: options.timeout, abortOnTimeout: options.abortOnTimeout === true, command },
    { initial: view, rolloutId: view.id, ...(afterEventId === undefined ? {} : { afterEventId }) },
  )
}

const ACTIONS = {
  pause: 'hold the current step: the split stays, the hold stops, the analysis goes on',
  resume: 'continue a paused rollout where it stopped',
  abort: 'end the rollout and send green back to 0 %',
  'promote-step': 'move to the next step now, whatever the analysis says (after the last: promote)',
  'skip-analysis': 'let the current step pass once its hold is over, whatever it still waits for',
} as const

const DONE: Record<keyof typeof ACTIONS, string> = {
  pause: 'paused',
  resume: 'resumed',
  abort: 'aborted',
  'promote-step': 'moved on',
  'skip-analysis': 'skips the analysis of this step',
}

/** rollout start|get|pause|resume|abort|promote-step|skip-analysis. */
export function rolloutCommands(program: Command): void {
  const rollout = program.command('rollout').description(COMMANDS.rollout)

  waitOptions(planOptions(withCommon(rollout.command('start').description('start a rollout: explicit --steps, a --step-weight plan, or the configured default'))))
    .addHelpText(
      'after',
      '\nExamples:\n  switchyard rollout start --steps 5,25,50,100 --hold 2m --watch\n  switchyard rollout start --step-weight 10 --interval 1m --min-requests 200 --wait --timeout 30m',
    )
    .action(async (options: StartOptions) => {
      const { client, out } = contextOf(options)
      await startRollout(client, out, options, 'rollout start')
    })

  waitOptions(withCommon(rollout.command('get').description('the rollout: step, split, hold, the analysis verdict with its numbers')))
    .action(async (options: CommonOptions & WaitOptions) => {
      const { client, out } = contextOf(options)
      checkWait(options)
      if (options.wait === true || options.watch === true) {
        await followToEnd(client, out, { live: options.watch === true, timeoutMs: options.timeout, abortOnTimeout: options.abortOnTimeout === true, command: 'rollout get' }, {})
        return
      }
      const view = await client.get<RolloutView>('/v1/rollout')
      const now = Date.now()
      if (out.json) out.document(view)
      else out.lines(renderRollout(view, { now, readAt: now, style: out.style, unicode: out.tty, width: out.columns }))
    })

  for (const [action, description] of Object.entries(ACTIONS) as [keyof typeof ACTIONS, string][]) {
    withCommon(rollout.command(action).description(description).option('--reason <text>', 'why, for the audit log')).action(
      async (options: CommonOptions & { reason?: string }) => {
        const { client, out } = contextOf(options)
        const view = await client.request<RolloutView>('POST', `/v1/rollout/${action}`, options.reason === undefined ? {} : { reason: options.reason })
        if (out.json) out.document(view)
        else out.line(`rollout ${view.id.slice(0, 8)} ${DONE[action]}: ${rolloutSummary(view, Date.now(), Date.now(), out.style)}`)
      },
    )
  }
}
