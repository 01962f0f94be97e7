import type { TargetHealth } from '../../proxy/types.js'
import type { Color, RoutingTable } from '../../routing/types.js'
import { GreenUnhealthyError } from '../errors.js'

/**
 * The data plane as a release drives it: the proxy in this process or N proxy workers
 * (dataplane/). Tables and targets are pushed to it; nothing here runs on the request path.
 */
export interface ReleasePlane {
  /** Resolves once every proxy process routes with `table`. */
  publish(table: RoutingTable): Promise<void>
  setTargets(color: Color, targets: readonly string[]): void
  /** Starts the drain of a colour whose share went to 0: its WebSockets and streams end by the deadline. */
  drainColor(color: Color, deadlineMs: number): void
  /** Cancels a pending drain (the colour's share rose again before the deadline). */
  cancelDrain(color: Color): void
  health(): Promise<Record<Color, readonly TargetHealth[]>>
}

/** Throws GreenUnhealthyError unless at least one of green's targets is healthy. */
export function checkGreenHealthy(green: readonly TargetHealth[]): void {
  if (!green.some((target) => target.healthy)) throw new GreenUnhealthyError(green)
}
