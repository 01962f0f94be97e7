const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }
const PATTERN = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/

/** The JSON-schema pattern a duration string must match (`500ms`, `30s`, `5m`, `1h`, `1d`). */
export const DURATION_PATTERN = PATTERN.source

/** Parses `500ms`, `30s`, `5m`, `1h`, `1d` or an integer of milliseconds; undefined if invalid. */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === 'number') {
    return Number.isSafeInteger(value) && value >= 0 ? value : undefined
  }
  if (typeof value !== 'string') return undefined
  const trimmed = value.trim()
  if (/^\d+$/.test(trimmed)) return Number(trimmed)
  const match = PATTERN.exec(trimmed)
  if (match === null) return undefined
  const ms = Number(match[1]) * UNITS[match[2]!]!
  return Number.isFinite(ms) ? Math.round(ms) : undefined
}
