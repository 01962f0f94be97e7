import type { ControlPort } from '../../control/port.js'
import { callerOf } from '../auth.js'
import { MirrorBody, MirrorReportQuery } from '../schemas.js'
import type { AdminApp } from '../server.js'
import { percentBuckets } from './split.js'

/**
 * Shadow traffic: GET/PUT /v1/mirror (the share of blue's requests also sent to green, answered
 * once every proxy process samples with it), GET /v1/mirror/report (where green's answers
 * differ from blue's) and DELETE /v1/mirror/report (start the report and the noise over).
 */
export function mirrorRoutes(app: AdminApp, control: ControlPort): void {
  app.get('/v1/mirror', async () => control.mirror())
  app.put('/v1/mirror', { schema: { body: MirrorBody } }, async (request) =>
    control.setMirror(percentBuckets('percent', request.body.percent), request.body.reason ?? null, callerOf(request)),
  )
  app.get('/v1/mirror/report', { schema: { querystring: MirrorReportQuery } }, async (request) => ({
    percent: control.mirror().percent,
    ...(await control.mirrorReport(request.query.scope ?? 'fleet')),
  }))
  app.delete('/v1/mirror/report', async (_request, reply) => {
    control.resetMirrorReport()
    return reply.code(204).send()
  })
}
