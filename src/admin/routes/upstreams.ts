import { checkTarget } from '../../config/load.js'
import type { ControlPort } from '../../control/port.js'
import { callerOf } from '../auth.js'
import { httpError } from '../http-errors.js'
import { ColorParams, TargetsBody } from '../schemas.js'
import type { AdminApp } from '../server.js'

/** GET /v1/upstreams, PUT /v1/upstreams/:color: each colour's targets with their health. */
export function upstreamRoutes(app: AdminApp, control: ControlPort): void {
  app.get('/v1/upstreams', async () => {
    const health = await control.upstreams()
    return { blue: { targets: health.blue }, green: { targets: health.green } }
  })
  app.put('/v1/upstreams/:color', { schema: { params: ColorParams, body: TargetsBody } }, async (request) => {
    const { color } = request.params
    const { targets } = request.body
    targets.forEach((target, i) => {
      try {
        checkTarget(`targets[${i}]`, target)
      } catch (err) {
        throw httpError('SY_ERR_HTTP_400', (err as Error).message)
      }
    })
    if (new Set(targets).size !== targets.length) throw httpError('SY_ERR_HTTP_400', 'targets must not list the same URL twice')
    return { [color]: { targets: await control.setTargets(color, targets, request.body.reason ?? null, callerOf(request)) } }
  })
}
