import type { ControlPort } from '../../control/port.js'
import type { AdminApp } from '../server.js'

/** /healthz, /readyz, /metrics and GET /v1/status: reading, never changing. */
export function statusRoutes(app: AdminApp, control: ControlPort): void {
  // 200 while this process serves traffic, also when degraded (see ControlPort.liveness).
  app.get('/healthz', async () => control.liveness())
  // Readiness, for a load balancer or Kubernetes that should send new traffic elsewhere; /healthz stays 200 meanwhile.
  app.get('/readyz', async (_request, reply) => {
    const reason = control.notReadyBecause()
    if (reason === null) return { status: 'ready' }
    void reply.code(503)
    return { status: 'not ready', reason }
  })
  app.get('/metrics', async (_request, reply) => {
    void reply.type(control.metricsContentType)
    return control.metricsText()
  })
  app.get('/v1/status', async () => control.status())
}
