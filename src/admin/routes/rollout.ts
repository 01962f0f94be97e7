import type { ControlPort } from '../../control/port.js'
import { callerOf } from '../auth.js'
import { httpError } from '../http-errors.js'
import { ReasonBody, RolloutBody } from '../schemas.js'
import type { AdminApp } from '../server.js'

/** GET/POST /v1/rollout and its actions; each change answers once it routes everywhere. */
export function rolloutRoutes(app: AdminApp, control: ControlPort): void {
  app.get('/v1/rollout', async () => {
    const view = control.rollout()
    if (view === null) throw httpError('SY_ERR_NO_ROLLOUT', 'no rollout has been started; POST /v1/rollout starts one')
    return view
  })
  app.post('/v1/rollout', { schema: { body: RolloutBody } }, async (request, reply) => {
    const { reason, force, ...plan } = request.body ?? {}
    const view = await control.startRollout(plan, reason ?? null, force === true, callerOf(request))
    void reply.code(201)
    return view
  })
  for (const action of ['pause', 'resume', 'abort', 'promote-step', 'skip-analysis'] as const) {
    app.post(`/v1/rollout/${action}`, { schema: { body: ReasonBody } }, async (request) => control.rolloutAction(action, request.body?.reason ?? null, callerOf(request)))
  }
}
