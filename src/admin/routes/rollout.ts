import { callerOf } from '../auth.js'
import { httpError } from '../http-errors.js'
import { ReasonBody, RolloutBody } from '../schemas.js'
import type { AdminApp } from '../server.js'
import type { ServicePorts } from '../service-ports.js'

/** GET/POST /v1/rollout and its actions; each change answers once it routes everywhere. */
export function rolloutRoutes(app: AdminApp, ports: ServicePorts, base = '/v1'): void {
  app.get(`${base}/rollout`, async (request) => {
    const view = ports.of(request).rollout()
    if (view === null) throw httpError('SY_ERR_NO_ROLLOUT', 'no rollout has been started; POST /v1/rollout starts one')
    return view
  })
  app.post(`${base}/rollout`, { schema: { body: RolloutBody } }, async (request, reply) => {
    const { reason, force, ...plan } = request.body ?? {}
    const view = await ports.of(request).startRollout(plan, reason ?? null, force === true, callerOf(request))
    void reply.code(201)
    return view
  })
  for (const action of ['pause', 'resume', 'abort', 'promote-step', 'skip-analysis'] as const) {
    app.post(`${base}/rollout/${action}`, { schema: { body: ReasonBody } }, async (request) => ports.of(request).rolloutAction(action, request.body?.reason ?? null, callerOf(request)))
  }
}
