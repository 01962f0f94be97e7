import type { Compile } from 'typebox/compile'
import { RawConfigSchema } from './schema.js'

type SchemaNode = {
  type?: string
  minimum?: number
  maximum?: number
  description?: string
  properties?: Record<string, SchemaNode>
  items?: SchemaNode
  anyOf?: SchemaNode[]
}

function schemaAt(path: readonly string[]): SchemaNode | undefined {
  let node: SchemaNode | undefined = RawConfigSchema
  for (const part of path) {
    if (node === undefined) return undefined
    node = /^\d+$/.test(part) ? node.items : node.properties?.[part]
  }
  return node
}

function keyName(path: readonly string[]): string {
  return path.reduce((acc, part) => (/^\d+$/.test(part) ? `${acc}[${part}]` : acc === '' ? part : `${acc}.${part}`), '')
}

/** What every JSON-schema validator's errors have (TypeBox's and ajv's). */
export interface SchemaErrorLike {
  readonly instancePath: string
  readonly keyword: string
}

/**
 * The one error worth reporting among a validator's: an unknown field first (a typo is the
 * likeliest mistake), else the deepest error, the most specific one (a union reports its
 * branches above it). The config loader and the admin API both answer with it.
 */
export function mostTellingError<E extends SchemaErrorLike>(errors: readonly E[]): E | undefined {
  return (
    errors.find((e) => e.keyword === 'additionalProperties') ??
    errors.reduce<E | undefined>((best, e) => (best === undefined || e.instancePath.length > best.instancePath.length ? e : best), undefined)
  )
}

/** One line naming the config key a schema error is about, and what it must be. */
export function describeSchemaError(validator: ReturnType<typeof Compile>, raw: unknown): string {
  const error = mostTellingError([...validator.Errors(raw)])
  if (error === undefined) return 'the config is invalid'
  if (error.keyword === 'additionalProperties') {
    const parent = error.instancePath.split('/').filter(Boolean)
    const extra = (error.params as { additionalProperties?: string[] }).additionalProperties?.[0] ?? '?'
    return `${keyName([...parent, extra])} is not a known config key`
  }
  const path = error.instancePath.split('/').filter(Boolean)
  const key = keyName(path)
  const node = schemaAt(path)
  const union = node?.anyOf !== undefined ? node : undefined
  if (union?.description !== undefined) return `${key} must be ${union.description}`
  if (node?.minimum !== undefined && node.maximum !== undefined && typeof getPath(raw, path) === 'number') {
    return `${key} must be between ${node.minimum} and ${node.maximum}`
  }
  const subject = key === '' ? 'the config' : key
  if (node?.anyOf !== undefined) {
    const allowed = node.anyOf.map((branch) => JSON.stringify((branch as { const?: unknown }).const)).join(', ')
    return `${subject} must be one of ${allowed}`
  }
  if (error.keyword === 'type') {
    const type = (error.params as { type?: string }).type ?? node?.type ?? 'value'
    return `${subject} must be ${type === 'integer' || type === 'object' || type === 'array' ? 'an' : 'a'} ${type}`
  }
  if (error.keyword === 'minItems') return `${subject} must list at least one entry`
  if (error.keyword === 'pattern' && node?.description !== undefined) return `${subject} must be ${node.description}`
  return `${subject} ${error.message}`
}

function getPath(value: unknown, path: readonly string[]): unknown {
  let node = value
  for (const part of path) node = (node as Record<string, unknown> | undefined)?.[part]
  return node
}
