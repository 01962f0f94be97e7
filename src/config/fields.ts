/** Field types shared by the config's sections: durations, ports, TLS files, fixed choices. */
import { Type, type Static, type TLiteral, type TUnion } from 'typebox'
import { DURATION_PATTERN, parseDuration } from './duration.js'
import { Convert, InvalidValue } from './schema-kit.js'

/** Every section refuses keys it does not know (`proxy.prot is not a known config key`). */
export const strict = { additionalProperties: false } as const

/** `500ms`, `30s`, `5m`, `1h`, `1d` or an integer of milliseconds; reads as milliseconds. */
export const Duration = Convert(
  Type.Union([Type.Integer({ minimum: 0 }), Type.String({ pattern: DURATION_PATTERN })], {
    description: 'a duration: 500ms, 30s, 5m, 1h or an integer of milliseconds',
  }),
  (value) => {
    const ms = parseDuration(value)
    // The schema admits a few values too large to be a number of ms (2^53 and beyond).
    if (ms === undefined) throw new InvalidValue('must be a duration such as 500ms, 30s, 5m or an integer of milliseconds')
    return ms
  },
)

export const Port = Type.Integer({ minimum: 0, maximum: 65535 })
export const Host = Type.String({ minLength: 1 })
export const File = Type.String({ minLength: 1 })
export const Targets = Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })
/** A cookie name (RFC 6265 token). */
export const COOKIE_NAME = "[!#$%&'*+\\-.^_`|~0-9A-Za-z]"

/** One of a fixed list of strings, reported as `must be one of "a", "b"`. */
export function OneOf<const V extends readonly string[]>(values: V): TUnion<{ -readonly [I in keyof V]: TLiteral<V[I]> }> {
  return Type.Union(values.map((v) => Type.Literal(v))) as unknown as TUnion<{ -readonly [I in keyof V]: TLiteral<V[I]> }>
}

/** One certificate of a TLS listener: PEM files and an optional SNI name. */
export const TlsPair = Type.Object(
  {
    cert: File,
    key: File,
    /** The SNI name this certificate answers; absent: the names in the certificate. */
    servername: Type.Optional(Type.String({ minLength: 1 })),
  },
  strict,
)

/** One certificate of a TLS listener as written (a copy): PEM files and an optional SNI name. */
export type TlsFileSettings = Readonly<Static<typeof TlsPair>>

/** `proxy.tls` / `admin.tls`: one pair or several; reads as a list, the first the default (SNI picks the others). */
export const TlsFront = Convert(
  Type.Union([TlsPair, Type.Array(TlsPair, { minItems: 1 })], {
    description: 'a {cert, key} pair of PEM files, or a list of them (each with an optional servername)',
  }),
  (value): readonly TlsFileSettings[] => (Array.isArray(value) ? value : [value]).map((entry) => ({ ...entry })),
)
