import type { ControlPort, ServicesPort } from '../control/port.js'
import { serviceView } from '../control/service-view.js'
import { DEFAULT_SERVICE } from '../config/services.js'
import { tokenScope } from './auth.js'
import { httpError } from './http-errors.js'


/** The request parts a service is read from: `/v1/services/:service/...`, the method, the token's scope. */
interface Addressed {
  readonly params: unknown
  readonly method: string
  readonly raw: object
}

/**
 * Which service's control port an admin request addresses: the one its URL names
 * (`/v1/services/{name}/...`), else `default`. Unknown names answer 404, unscoped routes of a
 * switchyard without a `default` service 409 naming the services, and a change by a token
 * scoped to other services 403. Reads are open to every accepted token.
 */
export class ServicePorts {
  readonly #services: ServicesPort

  constructor(services: ServicesPort) {
    this.#services = services
  }

  get services(): ServicesPort {
    return this.#services
  }

  of(request: Addressed): ControlPort {
    const named = (request.params as { service?: string } | undefined)?.service
    const name = named ?? DEFAULT_SERVICE
    const port = this.#services.port(name)
    if (port === undefined) {
      const names = this.#services.names().join(', ')
      if (named === undefined) {
        throw httpError('SY_ERR_SERVICE_REQUIRED', `switchyard fronts several services (${names}) and none is named default: address one as /v1/services/{name}/...`)
      }
      throw httpError('SY_ERR_UNKNOWN_SERVICE', `no service named "${name}" (services: ${names})`)
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') this.mayChange(request.raw, name)
    return port
  }

  /** Throws 403 unless the request's token may change `service`. */
  mayChange(raw: object, service: string): void {
    const scope = tokenScope(raw)
    if (scope !== null && !scope.includes(service)) {
      throw httpError('SY_ERR_FORBIDDEN_SERVICE', `this token may not change service "${service}" (it may change: ${scope.join(', ')})`)
    }
  }

  /** Throws 403 for a scoped token: what changes every service (reload, preview links) needs admin.token. */
  mayChangeAll(raw: object, what: string): void {
    const scope = tokenScope(raw)
    if (scope !== null) throw httpError('SY_ERR_FORBIDDEN_SERVICE', `this token may change only ${scope.join(', ')}; ${what} needs admin.token`)
  }
}

/** The one-service ServicesPort of a switchyard without `services`: `default`, matching everything. */
export function singleService(control: ControlPort): ServicesPort {
  return {
    names: () => [DEFAULT_SERVICE],
    port: (name) => (name === DEFAULT_SERVICE ? control : undefined),
    defaultService: () => null,
    list: async () => [await serviceView(DEFAULT_SERVICE, { hosts: [], pathPrefixes: [] }, control)],
    forget: async () => false,
  }
}
