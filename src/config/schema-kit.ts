/**
 * The few builders that let one TypeBox schema say everything about a config key: its raw
 * shape (what an operator may write), its default (what absence means), and its conversion
 * (what the program reads: `30s` -> 30000). `Resolved<typeof schema>` is the type that
 * follows from them, and `resolveSchema` the value: the same rules, read once by the type
 * checker and once at run time.
 */
import { Type, IsArray, IsCodec, IsObject, type Static, type StaticDecode, type TArray, type TCodec, type TObject, type TOptional, type TSchema } from 'typebox'
import { ConfigError } from './config-error.js'

/** An optional key whose absence means `default`, written as an operator would write it. */
export type TDefaulted<T extends TSchema, D> = TOptional<T> & { readonly default: D }

/**
 * An optional key that reads as `value` (converted) when absent. Write defaults only through
 * WithDefault and OrNull: a `default` option handed to a TypeBox builder would be filled at
 * run time but stay unknown to `Resolved`.
 */
export function WithDefault<T extends TSchema>(schema: T, value: Static<T>): TDefaulted<T, Static<T>> {
  return Type.Optional(Type.With(schema, { default: value })) as unknown as TDefaulted<T, Static<T>>
}

/** An optional key that reads as null when absent (JSON Schema's `default: null`). */
export function OrNull<T extends TSchema>(schema: T): TDefaulted<T, null> {
  return Type.Optional(Type.With(schema, { default: null })) as unknown as TDefaulted<T, null>
}

/** A value the schema accepts but a conversion refuses; the message follows the key (`must be ...`). */
export class InvalidValue extends Error {}

/**
 * A key whose value the program reads converted: `decode` gets the validated value with its
 * own defaults filled in and returns what `Resolved` says; it throws InvalidValue to refuse.
 */
export function Convert<T extends TSchema, Out>(schema: T, decode: (value: Resolved<T>) => Out): TCodec<T, Out> {
  return Type.Decode(schema, decode as unknown as (value: StaticDecode<T>) => Out)
}

/**
 * What a schema reads as once resolved: every key of an object is there, with its default
 * (`| null` for OrNull) or, optional without one, `| undefined`; Convert keys have their
 * converted type, and everything is readonly (resolved values are deep-frozen). Unions
 * resolve to their raw type: neither defaults nor conversions inside a union's branches are
 * applied (wrap the union in Convert instead).
 */
export type Resolved<S> =
  S extends TCodec<TSchema, infer Out>
    ? Out
    : S extends TObject<infer P>
      ? { readonly [K in keyof P]: ResolvedProperty<P[K]> }
      : S extends TArray<infer Item>
        ? readonly Resolved<Item>[]
        : S extends TSchema
          ? Static<S>
          : never

type ResolvedProperty<S> = S extends { readonly default: null }
  ? Resolved<S> | null
  : S extends { readonly default: unknown }
    ? Resolved<S>
    : S extends { readonly '~optional': true }
      ? Resolved<S> | undefined
      : Resolved<S>

/**
 * Resolves a value `schema` has already accepted: fills each absent key with its default
 * (undefined when it has none, so that every key is there), applies the conversions (innermost first) and returns a new value that shares nothing with
 * `value` or the schema. `key` names the value in errors (`timeouts.connect must be ...`).
 */
export function resolveSchema<S extends TSchema>(schema: S, value: unknown, key = ''): Resolved<S> {
  return resolveNode(schema, value, key) as Resolved<S>
}

function resolveNode(schema: TSchema, value: unknown, key: string): unknown {
  let resolved: unknown
  if (IsObject(schema)) {
    const given = value as Record<string, unknown>
    const out: Record<string, unknown> = {}
    for (const [name, property] of Object.entries(schema.properties)) {
      const at = key === '' ? name : `${key}.${name}`
      const fallback = (property as { default?: unknown }).default
      if (given[name] !== undefined) out[name] = resolveNode(property, given[name], at)
      else if (fallback === undefined || fallback === null) out[name] = fallback
      else out[name] = resolveNode(property, fallback, at)
    }
    resolved = out
  } else if (IsArray(schema)) {
    resolved = (value as unknown[]).map((item, i) => resolveNode(schema.items, item, `${key}[${i}]`))
  } else {
    resolved = typeof value === 'object' && value !== null ? structuredClone(value) : value
  }
  if (!IsCodec(schema)) return resolved
  try {
    return schema['~codec'].decode(resolved)
  } catch (err) {
    if (err instanceof InvalidValue) throw new ConfigError(`${key} ${err.message}`)
    throw err
  }
}

/** Freezes `value` and everything it holds; returns it. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child)
    Object.freeze(value)
  }
  return value
}
