import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { diffJson } from '../../src/shadow/json-diff.js'
import { formatPath, normalizePath, parsePath, PathMatcher, valueAt } from '../../src/shadow/json-path.js'

const diff = (a: unknown, b: unknown, ignore: string[] = []) => diffJson(a, b, { ignore: new PathMatcher(ignore) })
const paths = (a: unknown, b: unknown, ignore: string[] = []) => diff(a, b, ignore).paths.map((p) => `${p.kind} ${p.path}`)

/** The reference: JSON values equal by value, key order aside. */
function deepEqual(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => deepEqual(x, b[i]))
  }
  if (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null) {
    const ka = Object.keys(a)
    const kb = Object.keys(b)
    return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
  }
  return a === b
}

describe('diffJson', () => {
  it('names nested fields and array elements by index', () => {
    const blue = { user: { name: 'ada', tags: ['a', 'b'] }, items: [{ id: 1 }, { id: 2 }, { id: 3 }, { id: 4 }] }
    const green = { user: { name: 'bob', tags: ['a', 'b'] }, items: [{ id: 1 }, { id: 2 }, { id: 3 }, { id: 5 }] }
    expect(paths(blue, green)).toEqual(['changed $.user.name', 'changed $.items[3].id'])
  })

  it('tells missing, added and type changes apart, and does not look inside a type change', () => {
    expect(paths({ a: 1, b: { c: 1 } }, { b: [1], d: null })).toEqual(['missing $.a', 'type $.b', 'added $.d'])
    expect(paths([1, 2, 3], [1])).toEqual(['missing $[1]', 'missing $[2]'])
    expect(paths([1], [1, 2])).toEqual(['added $[1]'])
    expect(paths(null, {})).toEqual(['type $'])
    expect(paths('1', 1)).toEqual(['type $'])
  })

  it('compares numbers by value and ignores key order', () => {
    expect(paths(JSON.parse('{"a":1,"b":[2.0,3]}'), JSON.parse('{"b":[2,3.00],"a":1.0}'))).toEqual([])
    expect(paths({ a: 0.1 + 0.2 }, { a: 0.3 })).toEqual(['changed $.a'])
  })

  it('quotes keys that are not plain names, and parses them back', () => {
    const [only] = diff({ 'a.b': { 'x y': 1, '[0]': 2 } }, { 'a.b': { 'x y': 2, '[0]': 2 } }).paths
    expect(only?.path).toBe('$["a.b"]["x y"]')
    expect(parsePath(only!.path)).toEqual(['a.b', 'x y'])
    expect(formatPath(['"q"', 0, 'ok_1-2', ''])).toBe('$["\\"q\\""][0].ok_1-2[""]')
    expect(parsePath('$["\\"q\\""][0].ok_1-2[""]')).toEqual(['"q"', 0, 'ok_1-2', ''])
  })

  it('skips ignored paths: exact, wildcard, any depth, and everything under them', () => {
    const blue = { meta: { at: 1, id: 'x' }, items: [{ id: 1, ts: 5, v: 1 }, { id: 2, ts: 6, v: 2 }], deep: { a: { timestamp: 1 } }, timestamp: 1 }
    const green = { meta: { at: 2, id: 'y' }, items: [{ id: 3, ts: 7, v: 1 }, { id: 4, ts: 8, v: 3 }], deep: { a: { timestamp: 2 } }, timestamp: 2 }
    expect(paths(blue, green, ['$.meta.*', '$.items[*].id', '$..timestamp', '$.items[0].ts', '$.items[1].ts'])).toEqual(['changed $.items[1].v'])
    expect(paths(blue, green, ['$.meta', '$..ts', '$..id', '$..timestamp'])).toEqual(['changed $.items[1].v'])
    expect(paths({ a: { b: 1 } }, { a: { b: 2 } }, ['$..*'])).toEqual([])
    expect(paths({ a: 1 }, { a: 2 }, ['$..*'])).toEqual([])
    expect(paths(1, 2, ['$..*'])).toEqual(['changed $']) // `..*` needs at least one level
  })

  it('refuses a pattern that is not one', () => {
    for (const bad of ['items', '$.', '$[x]', '$["a]', '$[01]', '$..']) expect(() => new PathMatcher([bad])).toThrow(/JSON path pattern/)
  })

  it('normalises indices', () => {
    expect(normalizePath('$.items[3].tags[10]["a[1]"]')).toBe('$.items[*].tags[*]["a[1]"]')
  })

  it('stops a million-element array at the node cap', () => {
    const a = Array.from({ length: 1_000_000 }, (_, i) => i)
    const b = a.slice()
    const started = performance.now()
    const out = diffJson(a, b)
    expect(out.truncated).toBe(true)
    expect(out.nodes).toBe(10_000)
    expect(out.paths).toEqual([])
    expect(performance.now() - started).toBeLessThan(200)
  })

  it('stops reporting at the path cap', () => {
    const out = diffJson(Array.from({ length: 1000 }, () => 1), [], { maxPaths: 100 })
    expect(out.paths).toHaveLength(100)
    expect(out.truncated).toBe(true)
    expect(diffJson([1, 2], [1, 3], { maxPaths: 1 }).truncated).toBe(false)
  })

  it('walks very deep nesting without recursion', () => {
    let a: unknown = 1
    let b: unknown = 2
    for (let i = 0; i < 5000; i++) {
      a = { x: a }
      b = { x: b }
    }
    const out = diffJson(a, b)
    expect(out.paths).toHaveLength(1)
    expect(out.paths[0]!.path).toBe('$' + '.x'.repeat(5000))
  })

  const json = fc.jsonValue({ maxDepth: 4 })

  it('property: diff(a, a) is empty', () => {
    fc.assert(fc.property(json, (a) => diffJson(a, structuredClone(a)).paths.length === 0), { numRuns: 300, seed: 14 })
  })

  it('property: diff(a, b) is empty iff a and b are deep-equal, and every path exists where its kind says', () => {
    // Values from a tiny domain are often equal or nearly so; arbitrary ones rarely are.
    const { value: small } = fc.letrec((tie) => ({
      value: fc.oneof(
        { depthSize: 'small' },
        fc.constantFrom<unknown>(0, 1, 'a', null, true),
        fc.array(tie('value'), { maxLength: 3 }),
        fc.dictionary(fc.constantFrom('a', 'b', 'c'), tie('value'), { maxKeys: 3 }),
      ),
    }))
    const pair = fc.oneof(fc.tuple(json, json), fc.tuple(small, small), json.map((a) => [a, JSON.parse(JSON.stringify(a)) as unknown] as const))
    fc.assert(
      fc.property(pair, ([a, b]) => {
        const out = diffJson(a, b, { maxNodes: 1e9, maxPaths: 1e9 })
        expect(out.paths.length === 0).toBe(deepEqual(a, b))
        for (const { path, kind } of out.paths) {
          const segments = parsePath(path)
          const x = valueAt(a, segments)
          const y = valueAt(b, segments)
          if (kind !== 'added') expect(x).not.toBeUndefined()
          if (kind !== 'missing') expect(y).not.toBeUndefined()
          if (kind === 'changed') expect(x).not.toEqual(y)
        }
      }),
      { numRuns: 300, seed: 14 },
    )
  })
})
