import type { ControlPort, ServiceView } from './port.js'
import type { Color } from '../routing/types.js'

/** A configured service as GET /v1/services lists it: read through its control port. */
export async function serviceView(name: string, match: NonNullable<ServiceView['match']>, port: ControlPort): Promise<ServiceView> {
  const rollout = port.rollout()
  const health = await port.upstreams()
  const count = (color: Color) => ({ healthy: health[color].filter((t) => t.healthy).length, total: health[color].length })
  return {
    name,
    configured: true,
    match,
    split: port.split(),
    phase: typeof rollout?.phase === 'string' ? rollout.phase : 'idle',
    mirror: port.mirror().percent,
    health: { blue: count('blue'), green: count('green') },
  }
}
