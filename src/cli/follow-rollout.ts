import { ended, type EventView, type RolloutView } from './api-types.js'
import type { AdminClient } from './client.js'
import { followStream } from './sse.js'

/** How following a rollout ended. */
export type FollowEnd =
  | { readonly kind: 'ended'; readonly view: RolloutView }
  | { readonly kind: 'timeout'; readonly view: RolloutView }
  /** Another rollout took its place (this one ended while the stream was away). */
  | { readonly kind: 'replaced'; readonly view: RolloutView }

export interface FollowRolloutOptions {
  /** The rollout as last read, if the caller has it (POST /v1/rollout's answer). */
  readonly initial?: RolloutView
  /** Follow this rollout; another one in its place ends the following. */
  readonly rolloutId?: string
  /** Resume the event stream after this event id (read before the rollout started); else after the newest. */
  readonly afterEventId?: number
  /** Give up after this long (the rollout goes on). */
  readonly timeoutMs?: number | undefined
  /** Also re-read the rollout this often, for the analysis numbers that change between events. */
  readonly refreshMs?: number
  /** Each reading of the rollout, in order. */
  readonly onView: (view: RolloutView, readAt: number) => void
  readonly onLost?: (reason: string, retryMs: number) => void
  readonly onBack?: () => void
}

/** The newest event's id (0 for an empty log): the point to resume the stream after. */
export async function newestEventId(client: AdminClient): Promise<number> {
  const [newest] = await client.get<EventView[]>('/v1/events?limit=1')
  return newest?.id ?? 0
}

/**
 * Follows one rollout until it succeeds or aborts: driven by the event stream (every event
 * re-reads GET /v1/rollout), never by tight polling. A dropped stream is reopened with
 * Last-Event-ID and the rollout read again, so an end that happened meanwhile is seen.
 */
export async function followRollout(client: AdminClient, o: FollowRolloutOptions): Promise<FollowEnd> {
  const after = o.afterEventId ?? (await newestEventId(client))
  const done = new AbortController()
  let end: FollowEnd | undefined
  let view = o.initial ?? (await client.get<RolloutView>('/v1/rollout'))

  const settle = (next: RolloutView) => {
    if (end !== undefined) return
    view = next
    o.onView(next, Date.now())
    if (o.rolloutId !== undefined && next.id !== o.rolloutId) end = { kind: 'replaced', view: next }
    else if (ended(next)) end = { kind: 'ended', view: next }
    if (end !== undefined) done.abort()
  }
  settle(view)
  if (end !== undefined) return end

  // One read at a time; events that arrive during a read ask for one more after it.
  let reading: Promise<void> | undefined
  let again = false
  const refresh = (): Promise<void> => {
    if (reading !== undefined) {
      again = true
      return reading
    }
    reading = (async () => {
      try {
        do {
          again = false
          const next = await client.get<RolloutView>('/v1/rollout')
          settle(next)
        } while (again && end === undefined)
      } finally {
        reading = undefined
      }
    })()
    return reading
  }

  const timeout = o.timeoutMs === undefined ? undefined : setTimeout(() => {
    end ??= { kind: 'timeout', view }
    done.abort()
  }, o.timeoutMs)
  // Between events the numbers move too; a failed read here is the stream's to notice.
  const refresher = o.refreshMs === undefined ? undefined : setInterval(() => void refresh().catch(() => undefined), o.refreshMs)
  try {
    await followStream(client, {
      query: '',
      lastEventId: after,
      signal: done.signal,
      onEvent: () => refresh(),
      // Opened (again): read the rollout, for what happened while no stream was open.
      onOpen: async (afterLoss) => {
        if (afterLoss) o.onBack?.()
        await refresh()
      },
      ...(o.onLost === undefined ? {} : { onLost: o.onLost }),
    })
  } finally {
    clearTimeout(timeout)
    clearInterval(refresher)
    done.abort()
  }
  return end ?? { kind: 'timeout', view }
}
