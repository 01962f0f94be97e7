/**
 * Equality of plain data as a store keeps it: the same values under the same keys, in any
 * order, with a key whose value is undefined the same as a missing key (a JSON round trip
 * drops it). For documents read back from a store and compared with the ones in memory.
 */
export function sameData(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false
  if (Array.isArray(a) !== Array.isArray(b)) return false
  if (Array.isArray(a)) {
    const other = b as unknown[]
    return a.length === other.length && a.every((x, i) => sameData(x, other[i]))
  }
  const left = a as Record<string, unknown>
  const right = b as Record<string, unknown>
  const keys = new Set([...Object.keys(left), ...Object.keys(right)])
  for (const key of keys) {
    if (!sameData(left[key], right[key])) return false
  }
  return true
}
