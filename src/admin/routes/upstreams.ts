import { checkTarget } from '../../config/load.js'
import { callerOf } from '../auth.js'
import { httpError } from '../http-errors.js'
import { ColorParams, TargetsBody } from '../schemas.js'
import type { AdminApp } from '../server.js'
import type { ServicePorts } from '../service-ports.js'

/** GET /v1/upstreams, PUT /v1/upstreams/:color: each colour's targets with their health. */
export function upstreamRoutes(app: AdminApp, ports: ServicePorts, base = '/v1'): void {
  app.get(`${base}/upstreams`, async (request) => {
    const health = await ports.of(request).upstreams()
    return { blue: { targets: health.blue }, green: { targets: health.green } }
  })
  app.put(`${base}/upstreams/:color`, { schema: { params: ColorParams, body: TargetsBody } }, async (request) => {
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
    return { [color]: { targets: await ports.of(request).setTargets(color, targets, request.body.reason ?? null, callerOf(request)) } }
  })
}
