import type { RolloutView } from '../api-types.js'
import type { AdminClient } from '../client.js'
import { CliError, EXIT } from '../errors.js'
import { duration, pct } from '../format.js'
import { followRollout, type FollowEnd } from '../follow-rollout.js'
import type { Output } from '../output.js'
import { JsonLinesScreen, LineScreen, LiveScreen, SilentScreen, type Screen } from '../screen.js'
import { outcomeLines } from '../watch.js'

/** How a command follows a rollout to its end. */
export interface FollowFlags {
  /** --watch: the live view (plain lines when stdout is not a terminal); else --wait: lines for a log. */
  readonly live: boolean
  readonly timeoutMs?: number | undefined
  readonly abortOnTimeout: boolean
  /** The command, for the audit log's reason when --abort-on-timeout acts. */
  readonly command: string
}

/** Where to begin: the rollout just started (its answer and the event before it), or whatever is there now. */
export interface FollowStart {
  readonly initial?: RolloutView
  readonly rolloutId?: string
  readonly afterEventId?: number
}

/** Re-reads between events, for the verdict's numbers in the live view. */
const LIVE_REFRESH_MS = 2_000

function screenFor(out: Output, live: boolean): Screen {
  if (out.json) return live ? new JsonLinesScreen(out) : new SilentScreen()
  return live && out.tty ? new LiveScreen(out) : new LineScreen(out)
}

/**
 * Follows a rollout until it ends, then answers as a CI job needs: returns (exit 0) when it
 * succeeded; throws exit 1 when it was aborted or reverted (the verdict and reason printed),
 * replaced, or still running at --timeout (aborted only with --abort-on-timeout).
 */
export async function followToEnd(client: AdminClient, out: Output, flags: FollowFlags, start: FollowStart): Promise<void> {
  const screen = screenFor(out, flags.live)
  let lost = false
  let end: FollowEnd
  try {
    end = await followRollout(client, {
      ...start,
      ...(flags.timeoutMs === undefined ? {} : { timeoutMs: flags.timeoutMs }),
      ...(flags.live ? { refreshMs: LIVE_REFRESH_MS } : {}),
      onView: (view, readAt) => screen.show(view, readAt),
      onLost: (reason) => {
        if (!lost) out.note(`event stream lost (${reason}); reconnecting with Last-Event-ID`)
        lost = true
      },
      onBack: () => {
        lost = false
        out.note('event stream back; the rollout was read again')
      },
    })
  } finally {
    screen.close()
  }
  const view = end.view
  const printOutcome = !out.json && !(screen instanceof LiveScreen)
  if (end.kind === 'ended') {
    if (printOutcome) out.lines(outcomeLines(view, out.style))
    if (out.json && !flags.live) out.document(view)
    if (view.phase === 'succeeded') return
    throw new CliError(printOutcome ? '' : `rollout aborted${view.reason === null ? '' : `: ${view.reason}`}`, EXIT.refused)
  }
  if (end.kind === 'replaced') {
    if (out.json && !flags.live) out.document(view)
    throw new CliError(`the rollout was replaced by rollout ${view.id.slice(0, 8)} (${view.phase}) before this command saw it end`, EXIT.refused)
  }
  const where = `step ${view.step}/${view.steps.length} (green ${pct(view.green)})`
  const waited = duration(flags.timeoutMs ?? 0)
  if (!flags.abortOnTimeout) {
    if (out.json && !flags.live) out.document(view)
    throw new CliError(
      `timed out after ${waited}: the rollout is still ${view.phase} at ${where} and goes on without this command ("switchyard rollout abort" stops it; --abort-on-timeout would have)`,
      EXIT.refused,
    )
  }
  const aborted = await client.request<RolloutView>('POST', '/v1/rollout/abort', { reason: `${flags.command}: --timeout ${waited} reached` })
  if (out.json && !flags.live) out.document(aborted)
  throw new CliError(`timed out after ${waited} at ${where}: aborted the rollout (--abort-on-timeout); green is back at 0 %`, EXIT.refused)
}
