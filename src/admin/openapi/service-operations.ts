import { Type } from 'typebox'
import type { ErrorCode } from '../../errors.js'
import type { OperationDoc } from './operations.js'

/** The reference of the routes over several services (GET /v1/services, one service's status, DELETE of a removed one). */

const split = (green: number, generation: number) => ({ blue: 100 - green, green, generation, reverted: null })

const ServicesAnswer = Type.Object(
  {
    defaultService: Type.Union([Type.String(), Type.Null()]),
    services: Type.Array(Type.Object({ name: Type.String(), configured: Type.Boolean() }, { additionalProperties: true })),
  },
  { additionalProperties: true },
)

/** Where a scoped route (`/v1/services/{service}/...`) is told apart from its unscoped twin in the reference. */
export const SERVICE_PREFIX = '/v1/services/:service/'

/** What a route addressing a service can answer besides its own codes: an unknown name, a token scoped elsewhere. */
export const SCOPED_ERRORS: readonly ErrorCode[] = ['SY_ERR_UNKNOWN_SERVICE', 'SY_ERR_FORBIDDEN_SERVICE']
/** Today's routes address `default`: refused when several services have none of that name. */
export const UNSCOPED_ERRORS: readonly ErrorCode[] = ['SY_ERR_SERVICE_REQUIRED', 'SY_ERR_FORBIDDEN_SERVICE']

export const SERVICE_OPERATIONS: Record<string, OperationDoc> = {
  'GET /v1/services': {
    tag: 'services',
    summary: 'List the services',
    description:
      'Every service this switchyard fronts (`services` in the config; without it one, `default`, matching every request): its match rules, split, rollout phase, mirror share and how many targets of each colour are healthy. Services removed from the config whose stored state is kept come last with `configured: false`.',
    answers: {
      200: {
        description: 'The services',
        schema: ServicesAnswer,
        example: {
          defaultService: 'web',
          services: [
            { name: 'api', configured: true, match: { hosts: ['api.example.com'], pathPrefixes: [] }, split: split(10, 4), phase: 'progressing', mirror: 0, health: { blue: { healthy: 2, total: 2 }, green: { healthy: 1, total: 1 } } },
            { name: 'web', configured: true, match: { hosts: [], pathPrefixes: [] }, split: split(0, 1), phase: 'idle', mirror: 0, health: { blue: { healthy: 1, total: 1 }, green: { healthy: 1, total: 1 } } },
            { name: 'legacy', configured: false, split: split(0, 9), phase: 'aborted', mirror: 0 },
          ],
        },
      },
    },
  },
  'GET /v1/services/:service/status': {
    tag: 'services',
    summary: "Read one service's status",
    description: 'What `GET /v1/status` says of a single-service switchyard, for this service: split, window stats, evidence, in-flight counts, target health and its rollout.',
    errors: ['SY_ERR_UNKNOWN_SERVICE'],
    answers: { 200: { description: "The service's status", example: { status: 'ok', split: split(10, 4) } } },
  },
  'DELETE /v1/services/:service': {
    tag: 'services',
    summary: "Delete a removed service's stored state",
    description: 'A service a reload removed from the config keeps its split, audit log and rollout in the store (a later reload that brings it back resumes them). This deletes them. Refused for a configured service.',
    errors: ['SY_ERR_UNKNOWN_SERVICE', 'SY_ERR_SERVICE_CONFIGURED', 'SY_ERR_FORBIDDEN_SERVICE'],
    answers: { 204: { description: 'Deleted', example: '' } },
  },
}
