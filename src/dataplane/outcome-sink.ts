import type { AnalysisSettings } from '../config/schema.js'
import type { MetricsOfService as Metrics } from '../metrics/metrics.js'
import { RouteGroups } from '../outcomes/route-groups.js'
import { countsAsError } from '../outcomes/window-delta.js'
import type { ErrorKind, OutcomeSink } from '../proxy/types.js'
import type { Color } from '../routing/types.js'

/** Where a proxy process's judged outcomes go: a WindowRecorder, or this process's window and evidence. */
export type OutcomeRecord = (color: Color, durationMs: number, isError: boolean, ttfbMs: number, route: string) => void

/**
 * The one outcome recorder of a proxy process (alone or a worker): every finished request is
 * counted in the metrics, judged a failure or not (countsAsError with `abandonAfter`), put in
 * its route group, and handed to `record`. O(1) per request. Route groups are read at start
 * (a reload of them applies on restart); `analysis` is read per request for abandonAfter.
 */
export function outcomeSink(metrics: Metrics, analysis: () => AnalysisSettings, record: OutcomeRecord): OutcomeSink & { served(): number } {
  const routeGroups = new RouteGroups(analysis().routes)
  let served = 0
  return {
    record(color: Color, status: number, durationMs: number, errorKind: ErrorKind | undefined, ttfbMs: number, url: string | undefined): void {
      served++
      metrics.record(color, status, durationMs, errorKind, ttfbMs)
      record(color, durationMs, countsAsError(status, errorKind, ttfbMs, durationMs, analysis().abandonAfter), ttfbMs, routeGroups.group(url))
    },
    served: () => served,
  }
}
