import path from 'node:path'

/**
 * The house, one entry a room: a layer is a top folder of src/ with everything under it
 * (`state/` holds `state/redis/`), or a file at the top of src/.
 */
export const LAYERS = [
  'routing/', 'proxy/', 'outcomes/', 'shadow/', 'control/', 'state/', 'dataplane/', 'admin/', 'metrics/',
  'config/', 'demo/', 'cli/', 'app.ts', 'cli.ts', 'serve.ts', 'logger.ts', 'errors.ts',
]

/**
 * Which layer may not import which: the one table. A row reads "files in `layer` never import
 * `never`" (or, with `only`, "import nothing else in src/ but `only`"); `*` is every layer but
 * those in `except`. Imports inside a layer are always fine; type-only imports count like any
 * other. The first row that forbids an import gives its reason.
 */
export const LAYER_RULES = [
  { layer: 'routing/', only: ['errors.ts'],
    why: 'routing is pure and synchronous: it builds and reads tables and knows nothing of the rest' },
  { layer: 'proxy/', never: ['control/', 'state/', 'dataplane/', 'admin/', 'metrics/', 'outcomes/', 'app.ts', 'cli.ts'],
    why: 'the data path never reaches into release logic: it sees TableSource and OutcomeSink, which app.ts plugs in' },
  { layer: 'outcomes/', never: ['control/', 'state/', 'dataplane/', 'admin/', 'metrics/'],
    why: 'what finished requests leave behind is plain data that others read; it depends on none of them' },
  { layer: 'shadow/', only: ['outcomes/', 'routing/'],
    why: 'shadow comparison is pure and bounded: it judges captured answers handed to it, and of src/ reads only outcomes/ (route groups) and routing/ types, never the data path or the release logic' },
  { layer: 'state/', never: ['control/', 'admin/', 'dataplane/', 'metrics/'],
    why: 'storage keeps the release document; the logic that decides it sits above, never below' },
  { layer: 'control/', never: ['admin/', 'dataplane/', 'app.ts', 'cli.ts'],
    why: 'release logic is called by its front ends and pushes through a port; it never reaches back into them' },
  { layer: 'admin/', never: ['proxy/', 'dataplane/', 'state/', 'app.ts'],
    why: 'the REST API talks to control through one port, never to storage or the data path' },
  { layer: 'dataplane/', never: ['admin/', 'control/', 'state/', 'app.ts'],
    why: 'a data plane carries tables to proxies and outcomes back; it does not decide or store releases' },
  { layer: 'metrics/', never: ['control/', 'state/', 'dataplane/', 'admin/'],
    why: 'metrics are fed through sinks and gauges that app.ts wires in; they never pull from the control side' },
  { layer: 'config/', never: ['control/', 'state/', 'dataplane/', 'admin/', 'metrics/'],
    why: 'config is read, validated and frozen before anything else exists' },
  { layer: 'cli/', only: ['config/'],
    why: 'the CLI client drives a running switchyard through its documented admin API, like any script; of src/ it borrows only config/ (the duration syntax)' },
  { layer: '*', except: ['cli.ts', 'serve.ts'], never: ['app.ts'],
    why: 'app.ts is the composition root: only the entry point, cli.ts, starts it' },
  { layer: '*', never: ['cli.ts'],
    why: 'cli.ts is the entry point: nothing in src/ depends on it' },
  { layer: '*', except: ['cli.ts'], never: ['serve.ts'],
    why: 'serve.ts starts the server from the command line: only the entry point, cli.ts, calls it' },
  { layer: '*', except: ['cli.ts', 'serve.ts'], never: ['cli/'],
    why: 'the CLI client is a front end of its own: only the entry point runs it (and the server\'s --help lists its commands)' },
]

// A typo in the table would silently enforce nothing: refuse it when the rule loads.
for (const row of LAYER_RULES) {
  const named = [...(row.layer === '*' ? [] : [row.layer]), ...(row.except ?? []), ...(row.never ?? []), ...(row.only ?? [])]
  const unknown = named.filter((name) => !LAYERS.includes(name))
  if (unknown.length > 0) throw new Error(`eslint-rules/layers.js: unknown layer ${unknown.join(', ')} in LAYER_RULES`)
  if ((row.never === undefined) === (row.only === undefined)) throw new Error(`eslint-rules/layers.js: row for ${row.layer} needs exactly one of never and only`)
}

/** The first table row that forbids `from` importing `to`, or undefined. */
export function forbiddingRule(from, to) {
  if (from === to) return undefined
  return LAYER_RULES.find((row) => {
    const applies = row.layer === '*' ? !(row.except ?? []).includes(from) : row.layer === from
    if (!applies) return false
    return row.only !== undefined ? !row.only.includes(to) : row.never.includes(to)
  })
}

/** `app.ts` for src/app.ts, ./app.js or ./app; `state/` for anything under src/state/; undefined outside src/. */
function layerOf(root, file) {
  const rel = path.relative(root, file)
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) return undefined
  const [top, ...rest] = rel.split(path.sep)
  if (rest.length > 0) return `${top}/`
  const base = top.replace(/(\.d)?\.[cm]?[jt]sx?$/, '')
  // `import '../state'` (no extension) names the folder, not a file state.ts.
  if (base === top && LAYERS.includes(`${top}/`)) return `${top}/`
  return `${base}.ts`
}

/** The string an import names, when it is written out (not computed). */
function literalSource(node) {
  if (node == null) return undefined
  if (node.type === 'Literal' && typeof node.value === 'string') return node.value
  if (node.type === 'TemplateLiteral' && node.expressions.length === 0) return node.quasis[0]?.value.cooked ?? undefined
  return undefined
}

/** @type {import('eslint').Rule.RuleModule} */
export const layersRule = {
  meta: {
    type: 'problem',
    docs: { description: 'Keep the layers of src/ apart: the table LAYER_RULES in eslint-rules/layers.js says who may not import whom' },
    schema: [
      {
        type: 'object',
        properties: { root: { type: 'string', description: 'the src/ folder, absolute or relative to the working directory' } },
        additionalProperties: false,
      },
    ],
    messages: { forbidden: '{{from}} must not import {{to}}: {{why}}' },
  },
  create(context) {
    const root = path.resolve(context.cwd, context.options[0]?.root ?? 'src')
    const file = path.resolve(context.cwd, context.filename)
    const from = layerOf(root, file)
    if (from === undefined) return {}

    function check(node, sourceNode) {
      const source = literalSource(sourceNode)
      // Packages and node: builtins are no layer of ours; only relative paths point into src/.
      if (source === undefined || !(source.startsWith('./') || source.startsWith('../'))) return
      const to = layerOf(root, path.resolve(path.dirname(file), source))
      if (to === undefined) return
      const rule = forbiddingRule(from, to)
      if (rule !== undefined) context.report({ node, messageId: 'forbidden', data: { from, to, why: rule.why } })
    }

    return {
      ImportDeclaration: (node) => check(node, node.source),
      ExportNamedDeclaration: (node) => check(node, node.source),
      ExportAllDeclaration: (node) => check(node, node.source),
      ImportExpression: (node) => check(node, node.source),
      // `typeof import('../state/types.js')` in a type position.
      TSImportType: (node) => check(node, node.source ?? node.argument?.literal),
      // `import x = require('../state/types.js')`.
      TSImportEqualsDeclaration: (node) => {
        if (node.moduleReference.type === 'TSExternalModuleReference') check(node, node.moduleReference.expression)
      },
    }
  },
}
