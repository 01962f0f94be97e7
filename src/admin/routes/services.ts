import { Type } from 'typebox'
import { httpError } from '../http-errors.js'
import type { AdminApp } from '../server.js'
import type { ServicePorts } from '../service-ports.js'

const ServiceParams = Type.Object({ service: Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,39}$' }) })

/**
 * GET /v1/services (each service with its split, rollout phase, mirror share and target
 * health), GET /v1/services/{name}/status, and DELETE /v1/services/{name}: the stored state of
 * a service a reload removed from the config is kept until an operator deletes it here.
 */
export function servicesRoutes(app: AdminApp, ports: ServicePorts): void {
  const services = ports.services
  app.get('/v1/services', async () => ({ defaultService: services.defaultService(), services: await services.list() }))
  app.get('/v1/services/:service/status', { schema: { params: ServiceParams } }, async (request) => ports.of(request).status())
  app.delete('/v1/services/:service', { schema: { params: ServiceParams } }, async (request, reply) => {
    const { service } = request.params
    ports.mayChange(request.raw, service)
    if (services.port(service) !== undefined) {
      throw httpError('SY_ERR_SERVICE_CONFIGURED', `service "${service}" is in the config; remove it from services and reload before deleting its stored state`)
    }
    if (!(await services.forget(service))) throw httpError('SY_ERR_UNKNOWN_SERVICE', `no stored state of a service named "${service}"`)
    return reply.code(204).send()
  })
}
