import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'
import { ERRORS } from '../src/errors.js'

// A static check: the catalog, README's table and the codes written in src/ agree.
const ROOT = fileURLToPath(new URL('..', import.meta.url))
const CATALOG_FILE = join(ROOT, 'src', 'errors.ts')
const CODE = /SY_ERR_[A-Z0-9_]+/g
const catalog: Readonly<Record<string, { readonly status: number | null; readonly summary: string }>> = ERRORS

/** A code-shaped text that is followed by a substitution, as in `SY_ERR_HTTP_${statusCode}`. */
interface Template {
  readonly prefix: string
  readonly expression: ts.Expression
  readonly where: string
}

interface Scan {
  /** Every whole code in a string, template text or identifier, with where it is. */
  readonly codes: { readonly code: string; readonly where: string }[]
  readonly templates: Template[]
}

function where(file: ts.SourceFile, node: ts.Node): string {
  const { line } = file.getLineAndCharacterOfPosition(node.getStart(file))
  return `${relative(ROOT, file.fileName)}:${line + 1}`
}

function parse(fileName: string, text: string): ts.SourceFile {
  return ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS)
}

/** Collects codes and code templates; comments are not nodes, so they are not read. */
function scan(files: readonly ts.SourceFile[]): Scan {
  const result: Scan = { codes: [], templates: [] }
  const wholeCodes = (text: string, file: ts.SourceFile, node: ts.Node) => {
    for (const [code] of text.matchAll(CODE)) result.codes.push({ code, where: where(file, node) })
  }
  for (const file of files) {
    const visit = (node: ts.Node): void => {
      if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node) || ts.isIdentifier(node)) {
        wholeCodes(node.text, file, node)
      } else if (ts.isTemplateExpression(node)) {
        const texts = [node.head.text, ...node.templateSpans.map((span) => span.literal.text)]
        texts.forEach((text, i) => {
          const span = node.templateSpans[i]
          const open = span === undefined ? null : /SY_ERR_[A-Z0-9_]*$/.exec(text)
          if (open !== null && span !== undefined) {
            result.templates.push({ prefix: open[0], expression: span.expression, where: where(file, node) })
            wholeCodes(text.slice(0, open.index), file, node)
          } else {
            wholeCodes(text, file, node)
          }
        })
      }
      ts.forEachChild(node, visit)
    }
    visit(file)
  }
  return result
}

function enclosingFunction(node: ts.Node): ts.SignatureDeclaration | undefined {
  for (let n = node.parent; n !== undefined; n = n.parent) if (ts.isFunctionLike(n)) return n
  return undefined
}

function functionName(fn: ts.SignatureDeclaration): string | undefined {
  if (fn.name !== undefined && ts.isIdentifier(fn.name)) return fn.name.text
  const holder = fn.parent
  return holder !== undefined && ts.isVariableDeclaration(holder) && ts.isIdentifier(holder.name) ? holder.name.text : undefined
}

function parameterIndex(fn: ts.SignatureDeclaration, name: string): number {
  return fn.parameters.findIndex((p) => ts.isIdentifier(p.name) && p.name.text === name)
}

function calls(files: readonly ts.SourceFile[], name: string): { call: ts.CallExpression; file: ts.SourceFile }[] {
  const found: { call: ts.CallExpression; file: ts.SourceFile }[] = []
  for (const file of files) {
    const visit = (node: ts.Node): void => {
      if (ts.isCallExpression(node)) {
        const callee = node.expression
        const called = ts.isIdentifier(callee) ? callee.text : ts.isPropertyAccessExpression(callee) ? callee.name.text : undefined
        if (called === name) found.push({ call: node, file })
      }
      ts.forEachChild(node, visit)
    }
    visit(file)
  }
  return found
}

/**
 * The codes a template can make: `${literal}`, or `${parameter}` of a function every caller
 * passes a literal to. With `code ?? \`SY_ERR_HTTP_${status}\``, callers that pass `code`
 * never reach the template. What cannot be told this way is `unresolved`, with its place.
 */
function templateCodes(template: Template, files: readonly ts.SourceFile[]): { codes: string[]; unresolved: string[] } {
  const { expression, prefix } = template
  const literal = (e: ts.Node) => (ts.isNumericLiteral(e) || ts.isStringLiteralLike(e) ? e.text : undefined)
  const direct = literal(expression)
  if (direct !== undefined) return { codes: [prefix + direct], unresolved: [] }
  const fn = enclosingFunction(expression)
  const name = fn === undefined ? undefined : functionName(fn)
  const index = fn === undefined || !ts.isIdentifier(expression) ? -1 : parameterIndex(fn, expression.text)
  if (fn === undefined || name === undefined || index < 0) return { codes: [], unresolved: [template.where] }

  let outer: ts.Node = expression.parent.parent // the span, then the template
  while (ts.isParenthesizedExpression(outer.parent)) outer = outer.parent
  const guard = outer.parent
  const guardIndex =
    ts.isBinaryExpression(guard) && guard.operatorToken.kind === ts.SyntaxKind.QuestionQuestionToken && guard.right === outer && ts.isIdentifier(guard.left)
      ? parameterIndex(fn, guard.left.text)
      : -1

  const codes: string[] = []
  const unresolved: string[] = []
  for (const { call, file } of calls(files, name)) {
    const own = guardIndex < 0 ? undefined : call.arguments[guardIndex]
    if (own !== undefined && !(ts.isIdentifier(own) && own.text === 'undefined')) continue
    const argument = call.arguments[index]
    const value = argument === undefined ? undefined : literal(argument)
    if (value === undefined) unresolved.push(where(file, call))
    else codes.push(prefix + value)
  }
  return { codes, unresolved }
}

function sourceFiles(): ts.SourceFile[] {
  const dir = join(ROOT, 'src')
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.ts') && !name.endsWith('.d.ts'))
    .map((name) => join(dir, name))
    .filter((file) => file !== CATALOG_FILE)
    .map((file) => parse(file, readFileSync(file, 'utf8')))
}

/** The rows of README's "Error codes" table: code → status cell and meaning. */
function readmeTable(): { rows: Map<string, { status: string; meaning: string }>; duplicates: string[]; text: string } {
  const text = readFileSync(join(ROOT, 'README.md'), 'utf8')
  const lines = text.split('\n')
  const start = lines.indexOf('### Error codes')
  const rows = new Map<string, { status: string; meaning: string }>()
  const duplicates: string[] = []
  if (start < 0) return { rows, duplicates, text }
  for (const line of lines.slice(start + 1)) {
    if (line.startsWith('#')) break
    const row = /^\| `([^`]+)` \| ([^|]+?) \| (.+) \|$/.exec(line)
    if (row === null) continue
    const [, code = '', status = '', meaning = ''] = row
    if (rows.has(code)) duplicates.push(code)
    rows.set(code, { status, meaning })
  }
  return { rows, duplicates, text }
}

const files = sourceFiles()
const found = scan(files)

describe('the error catalog', () => {
  it('keys every entry by a SY_ERR_* code, with an HTTP status or null and a one-line summary, frozen', () => {
    expect(Object.isFrozen(ERRORS)).toBe(true)
    for (const [code, entry] of Object.entries(catalog)) {
      expect(code).toMatch(/^SY_ERR_[A-Z0-9_]+$/)
      expect(Object.isFrozen(entry)).toBe(true)
      if (entry.status !== null) expect(Number.isInteger(entry.status) && entry.status >= 400 && entry.status <= 599, code).toBe(true)
      expect(entry.summary, code).toMatch(/^[^|\n]+$/)
    }
  })

  it('is a leaf: it imports nothing', () => {
    const file = parse(CATALOG_FILE, readFileSync(CATALOG_FILE, 'utf8'))
    expect(file.statements.filter((s) => ts.isImportDeclaration(s) || ts.isExportDeclaration(s))).toEqual([])
  })
})

describe('README error table', () => {
  const { rows, duplicates, text } = readmeTable()

  it('lists every code of the catalog with its status and summary', () => {
    expect(rows.size, 'README.md has no "### Error codes" table').toBeGreaterThan(0)
    const missing: string[] = []
    for (const [code, entry] of Object.entries(catalog)) {
      const row = rows.get(code)
      const expected = { status: entry.status === null ? '—' : String(entry.status), meaning: entry.summary }
      if (row === undefined || row.status !== expected.status || row.meaning !== expected.meaning) {
        missing.push(`| \`${code}\` | ${expected.status} | ${expected.meaning} |`)
      }
    }
    expect(missing, 'rows to add to (or fix in) README.md "### Error codes"').toEqual([])
  })

  it('lists no code the catalog lacks, none twice, and names none elsewhere', () => {
    expect(duplicates).toEqual([])
    expect([...rows.keys()].filter((code) => !(code in catalog))).toEqual([])
    expect([...new Set([...text.matchAll(CODE)].map(([code]) => code))].filter((code) => !(code in catalog))).toEqual([])
  })
})

describe('codes in src/', () => {
  it('finds them at all (the scan works)', () => {
    expect(files.length).toBeGreaterThan(20)
    expect(new Set(found.codes.map((c) => c.code)).size).toBeGreaterThan(10)
  })

  it('uses only codes of the catalog', () => {
    expect(found.codes.filter(({ code }) => !(code in catalog)).map(({ code, where }) => `${where}: ${code}`)).toEqual([])
  })

  it('makes only codes of the catalog from templates such as SY_ERR_HTTP_${status}, with statuses that can be told', () => {
    const unknown: string[] = []
    const unresolved: string[] = []
    for (const template of found.templates) {
      const result = templateCodes(template, files)
      unknown.push(...result.codes.filter((code) => !(code in catalog)).map((code) => `${template.where}: ${code}`))
      unresolved.push(...result.unresolved.map((place) => `${place}: which ${template.prefix}* this makes cannot be told; pass a literal status or a code`))
    }
    expect(unknown).toEqual([])
    expect(unresolved).toEqual([])
  })

  it('emits every code of the catalog somewhere (no stale entries)', () => {
    const used = new Set(found.codes.map((c) => c.code))
    for (const template of found.templates) for (const code of templateCodes(template, files).codes) used.add(code)
    expect(Object.keys(catalog).filter((code) => !used.has(code))).toEqual([])
  })
})

describe('the template check itself', () => {
  const fixture = parse(
    join(ROOT, 'src', 'fixture.ts'),
    [
      'function httpError(statusCode: number, message: string, code?: string) {',
      '  return { message, code: code ?? `SY_ERR_HTTP_${statusCode}` }',
      '}',
      "httpError(404, 'a')",
      "httpError(409, 'b', 'SY_ERR_OWN')",
      "httpError(409, 'c', undefined)",
      "httpError(status, 'd')",
      'const fixed = `SY_ERR_HTTP_${503}`',
    ].join('\n'),
  )
  const { codes, templates } = scan([fixture])

  it('resolves a parameter through its callers, skipping those that pass their own code', () => {
    expect(templates.map((t) => templateCodes(t, [fixture]))).toEqual([
      { codes: ['SY_ERR_HTTP_404', 'SY_ERR_HTTP_409'], unresolved: ['src/fixture.ts:7'] },
      { codes: ['SY_ERR_HTTP_503'], unresolved: [] },
    ])
  })

  it('reads whole codes but not template prefixes', () => {
    expect(codes.map((c) => c.code)).toEqual(['SY_ERR_OWN'])
  })
})
