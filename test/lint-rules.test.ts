import { fileURLToPath } from 'node:url'
import { ESLint, Linter } from 'eslint'
import tseslint from 'typescript-eslint'
import { describe, expect, it } from 'vitest'
import switchyard from '../eslint-rules/index.js'

// A made-up checkout: the rules only read paths, never the disk.
const repo = '/repo'
const linter = new Linter({ cwd: repo })

function lint(file: string, code: string, rules: Linter.RulesRecord): Linter.LintMessage[] {
  const config: Linter.Config[] = [
    {
      files: ['**/*.ts'],
      languageOptions: { parser: tseslint.parser },
      plugins: { switchyard },
      rules,
    },
  ]
  return linter.verify(code, config, { filename: `${repo}/${file}` })
}

/** The messages of `switchyard/layers` for `code` written in `file` (relative to the repo). */
function layers(file: string, code: string): string[] {
  return lint(file, code, { 'switchyard/layers': 'error' }).map((m) => m.message)
}

/** The messages of `switchyard/file-length` for a file of `lines` lines (with a final newline), opened by `opening`. */
function length(lines: number, opening = ''): string[] {
  const head = opening === '' ? [] : opening.split('\n')
  const body = Array.from({ length: lines - head.length }, (_, i) => `export const v${i} = ${i}`)
  return lint('src/proxy/long.ts', `${[...head, ...body].join('\n')}\n`, { 'switchyard/file-length': 'error' }).map((m) => m.message)
}

describe('switchyard/layers', () => {
  it('reports a forbidden import, naming both layers and the reason', () => {
    expect(layers('src/proxy/handler.ts', "import { Release } from '../control/release/release.js'\n")).toEqual([
      'proxy/ must not import control/: the data path never reaches into release logic: it sees TableSource and OutcomeSink, which app.ts plugs in',
    ])
  })

  it('lets a layer import what the table allows, itself, packages and builtins', () => {
    const code = [
      "import { pick } from '../routing/router.js'",
      "import { headers } from './headers.js'",
      "import { request } from 'undici'",
      "import http from 'node:http'",
      "import { SY_ERR } from '../errors.js'",
    ].join('\n')
    expect(layers('src/proxy/handler.ts', code)).toEqual([])
    expect(layers('src/state/redis/store.ts', "import { decodeState } from '../codec.js'\n")).toEqual([])
  })

  it('counts type-only imports, re-exports, dynamic import() and import types', () => {
    const code = [
      "import type { StateStore } from '../state/types.js'",
      "export { metrics } from '../metrics/metrics.js'",
      "export * from '../dataplane/plane.js'",
      "const admin = await import('../admin/admin-server.js')",
      "type App = typeof import('../app.js')",
    ].join('\n')
    expect(layers('src/proxy/handler.ts', code).map((m) => m.split(':')[0])).toEqual([
      'proxy/ must not import state/',
      'proxy/ must not import metrics/',
      'proxy/ must not import dataplane/',
      'proxy/ must not import admin/',
      'proxy/ must not import app.ts',
    ])
  })

  it('keeps routing/ to itself and errors.ts', () => {
    expect(layers('src/routing/router.ts', "import { SY_ERR } from '../errors.js'\nimport { hash32 } from './hash.js'\n")).toEqual([])
    expect(layers('src/routing/router.ts', "import type { Config } from '../config/schema.js'\n")).toEqual([
      'routing/ must not import config/: routing is pure and synchronous: it builds and reads tables and knows nothing of the rest',
    ])
  })

  it('lets only cli.ts import app.ts, and nothing in src/ import cli.ts', () => {
    expect(layers('src/cli.ts', "import { startApp } from './app.js'\n")).toEqual([])
    expect(layers('src/demo/demo-upstreams.ts', "import { startApp } from '../app.js'\n")).toEqual([
      'demo/ must not import app.ts: app.ts is the composition root: only the entry point, cli.ts, starts it',
    ])
    expect(layers('src/app.ts', "import { main } from './cli.js'\n")).toEqual([
      'app.ts must not import cli.ts: cli.ts is the entry point: nothing in src/ depends on it',
    ])
  })

  it('leaves files outside src/ alone', () => {
    expect(layers('test/app/restart.test.ts', "import { startApp } from '../../src/app.js'\n")).toEqual([])
  })
})

describe('switchyard/file-length', () => {
  it('reports a file over 300 lines without a reason', () => {
    expect(length(301)).toEqual([
      'This file has 301 lines, over the 300 allowed: split it by concern, or give the reason in its opening comment, with the words "over 300 lines"',
    ])
    expect(length(300)).toEqual([])
  })

  it('accepts a long file whose opening comment says why it is over 300 lines', () => {
    expect(length(320, '/**\n * The frame codec is over 300 lines: one state machine,\n * and splitting it would scatter its states.\n */')).toEqual([])
    expect(length(320, '// One state machine, over 300\n// lines because splitting it scatters its states.')).toEqual([])
  })

  it('wants the reason in the opening comment, and a reason beside the words', () => {
    expect(length(320, '// over 300 lines')).toHaveLength(1)
    expect(length(320, "import 'node:http'\n// over 300 lines: one state machine, splitting it scatters it")).toHaveLength(1)
  })
})

describe('eslint.config.js', () => {
  it('runs both rules on src/**/*.ts as errors', async () => {
    const eslint = new ESLint({ cwd: fileURLToPath(new URL('..', import.meta.url)) })
    const config = (await eslint.calculateConfigForFile('src/proxy/proxy-server.ts')) as Linter.Config
    const [severity, options] = config.rules?.['switchyard/layers'] as [number, { root: string }]
    expect(severity).toBe(2)
    expect(options.root).toMatch(/\/src$/)
    expect(config.rules?.['switchyard/file-length']).toEqual([2, { max: 300 }])
  })
})
