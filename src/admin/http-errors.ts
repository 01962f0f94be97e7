import type { FastifyError } from 'fastify'
import { mostTellingError } from '../config/schema-errors.js'
import { ERRORS, type ErrorCode } from '../errors.js'

/** An error of the catalog that fastify's default handler renders as `{statusCode, error, message, code}`. */
export function httpError(code: ErrorCode, message: string): FastifyError {
  return Object.assign(new Error(message), { statusCode: ERRORS[code].status ?? 500, code, name: 'AdminError' })
}

/** A schema failure as one 400 that names the field: an unknown field first, else the deepest error. */
export function formatSchemaErrors(
  errors: readonly { instancePath: string; keyword: string; message?: string | undefined; params: Record<string, unknown> }[],
  dataVar: string,
): Error {
  const first = mostTellingError(errors)
  if (first === undefined) return httpError('SY_ERR_HTTP_400', `${dataVar} is invalid`)
  const where = dataVar + first.instancePath.replaceAll('/', '.')
  if (first.keyword === 'additionalProperties') {
    return httpError('SY_ERR_HTTP_400', `${where} has an unknown field "${String(first.params.additionalProperty)}"`)
  }
  if (dataVar === 'params' && first.instancePath === '/color') return httpError('SY_ERR_HTTP_400', 'color must be "blue" or "green"')
  if (first.keyword === 'anyOf' && dataVar === 'body') return httpError('SY_ERR_HTTP_400', 'body must be a JSON object or empty')
  return httpError('SY_ERR_HTTP_400', `${where} ${first.message ?? 'is invalid'}`)
}
