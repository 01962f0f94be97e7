import { callerOf } from '../auth.js'
import { MirrorBody, MirrorReportQuery } from '../schemas.js'
import type { AdminApp } from '../server.js'
import type { ServicePorts } from '../service-ports.js'
import { percentBuckets } from './split.js'

/**
 * Shadow traffic: GET/PUT /v1/mirror (the share of blue's requests also sent to green, answered
 * once every proxy process samples with it), GET /v1/mirror/report (where green's answers
 * differ from blue's) and DELETE /v1/mirror/report (start the report and the noise over).
 */
export function mirrorRoutes(app: AdminApp, ports: ServicePorts, base = '/v1'): void {
  app.get(`${base}/mirror`, async (request) => ports.of(request).mirror())
  app.put(`${base}/mirror`, { schema: { body: MirrorBody } }, async (request) =>
    ports.of(request).setMirror(percentBuckets('percent', request.body.percent), request.body.reason ?? null, callerOf(request)),
  )
  app.get(`${base}/mirror/report`, { schema: { querystring: MirrorReportQuery } }, async (request) => ({
    percent: ports.of(request).mirror().percent,
    ...(await ports.of(request).mirrorReport(request.query.scope ?? 'fleet')),
  }))
  app.delete(`${base}/mirror/report`, async (request, reply) => {
    ports.of(request).resetMirrorReport()
    return reply.code(204).send()
  })
}
