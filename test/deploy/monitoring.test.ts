import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { beforeAll, describe, expect, it } from 'vitest'
import { parse as parseYaml } from 'yaml'
import { Metrics } from '../../src/metrics/metrics.js'
import { ERROR_KINDS } from '../../src/proxy/types.js'
import { COLORS } from '../../src/routing/types.js'

// A static check of deploy/: every PromQL expression the Grafana dashboard and the alert rules
// hold is read by a small PromQL reader that knows switchyard's real registry, so a misspelt
// metric, a label the metric lacks, a label value that never occurs or a label lost to an
// aggregation fails here instead of drawing an empty panel or never firing.
const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const dashboard = JSON.parse(readFileSync(`${ROOT}deploy/grafana/switchyard.json`, 'utf8')) as Dashboard
const rules = parseYaml(readFileSync(`${ROOT}deploy/prometheus/alerts.yaml`, 'utf8')) as { groups?: RuleGroup[] }

interface Panel { id: number; type: string; title?: string; datasource?: { type?: string; uid?: string }; gridPos: { x: number; y: number; w: number; h: number }; targets?: { refId?: string; expr?: string; legendFormat?: string; datasource?: { uid?: string } }[]; panels?: Panel[] }
interface Variable { name: string; type: string; query?: string | { query: string } }
interface Dashboard { schemaVersion: number; uid: string; title: string; panels: Panel[]; templating: { list: Variable[] }; annotations: { list: { datasource?: { type?: string }; expr?: string; textFormat?: string }[] } }
interface Rule { alert?: string; expr?: string; for?: string; labels?: { severity?: string }; annotations?: { summary?: string; description?: string } }
interface RuleGroup { name?: string; rules?: Rule[] }

type Value = { kind: 's' } | { kind: 't'; text: string } | { kind: 'v' | 'm'; labels: ReadonlySet<string> }
interface Matcher { label: string; op: string; value: string }
interface Analysis { metrics: string[]; selectors: { metric: string; matchers: Matcher[] }[]; labels: ReadonlySet<string>; problems: string[] }
interface Known { type: string; labels: ReadonlySet<string> }

/** Labels Prometheus adds to every scraped series. */
const TARGET_LABELS = ['job', 'instance']
/** Labels whose values are a closed set: a matcher must be able to match one of them. */
const VALUES: Record<string, readonly string[]> = {
  color: COLORS,
  kind: ERROR_KINDS,
  result: ['delivered', 'failed'],
  code: ['0', ...Array.from({ length: 500 }, (_, i) => String(100 + i))],
}
const AGGREGATIONS: Record<string, RegExp> = { sum: /^v$/, min: /^v$/, max: /^v$/, avg: /^v$/, group: /^v$/, count: /^v$/, stddev: /^v$/, stdvar: /^v$/, topk: /^sv$/, bottomk: /^sv$/, quantile: /^sv$/ }
/** Argument kinds as a pattern: v instant vector, m range vector, s scalar, t string. */
const FUNCTIONS: Record<string, RegExp> = {
  ...Object.fromEntries(['rate', 'irate', 'increase', 'delta', 'idelta', 'deriv', 'changes', 'resets', 'absent_over_time', 'present_over_time', 'last_over_time',
    ...['avg', 'min', 'max', 'sum', 'count', 'stddev', 'stdvar'].map((a) => `${a}_over_time`)].map((f) => [f, /^m$/])),
  ...Object.fromEntries(['abs', 'ceil', 'floor', 'exp', 'ln', 'log2', 'log10', 'sqrt', 'sgn', 'sort', 'sort_desc', 'timestamp', 'absent', 'scalar'].map((f) => [f, /^v$/])),
  quantile_over_time: /^sm$/, predict_linear: /^ms$/, round: /^vs?$/, clamp: /^vss$/, clamp_min: /^vs$/, clamp_max: /^vs$/,
  histogram_quantile: /^sv$/, label_replace: /^vtttt$/, label_join: /^vttt*$/, vector: /^s$/, time: /^$/,
}
const LEVELS = [['or'], ['and', 'unless'], ['==', '!=', '>', '<', '>=', '<='], ['+', '-'], ['*', '/', '%', 'atan2'], ['^']]
const DURATION = String.raw`(?:\d+(?:ms|[smhdwy]))+|\$\{?\w+\}?`
const RANGE = new RegExp(String.raw`^\s*(${DURATION})\s*(:\s*(${DURATION})?\s*)?$`)
const TOKEN = new RegExp(String.raw`\s+|#[^\n]*|(?<t>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|\x60[^\x60]*\x60)|\[(?<range>[^\]]*)\]|(?<dur>(?:\d+(?:ms|[smhdwy]))+)(?![\w.])|(?<s>0x[0-9a-f]+|(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)|(?<id>[a-z_:][\w:]*)|(?<op>==|!=|>=|<=|=~|!~|[-+*/%^<>=(){},@])`, 'iy')

function unquote(text: string): string {
  if (text.startsWith('`')) return text.slice(1, -1)
  const inner = text.startsWith("'") ? text.slice(1, -1).replace(/\\'/g, "'").replace(/"/g, '\\"') : text.slice(1, -1)
  return JSON.parse(`"${inner}"`) as string
}

/** Reads one PromQL expression against the known metrics: what it selects, its result labels, and what is wrong. */
function analyse(expr: string, known: ReadonlyMap<string, Known>): Analysis {
  const tokens: { kind: string; text: string }[] = []
  const result: Analysis = { metrics: [], selectors: [], labels: new Set(), problems: [] }
  const problem = (text: string) => void result.problems.push(text)
  TOKEN.lastIndex = 0
  while (TOKEN.lastIndex < expr.length) {
    const at = TOKEN.lastIndex
    const match = TOKEN.exec(expr)
    if (match === null) return { ...result, problems: [`cannot read "${expr.slice(at, at + 20)}"`] }
    const [kind, text] = Object.entries(match.groups ?? {}).find(([, v]) => v !== undefined) ?? []
    if (kind !== undefined && text !== undefined) tokens.push({ kind, text })
  }
  let pos = 0
  const peek = (offset = 0) => tokens[pos + offset]?.text ?? ''
  const accept = (...texts: string[]) => (tokens[pos]?.kind !== 't' && texts.includes(peek()) ? tokens[pos++]!.text : undefined)
  const want = (text: string) => accept(text) ?? problem(`expected "${text}" at "${peek()}"`)
  const take = (kind: string) => (tokens[pos]?.kind === kind ? tokens[pos++]!.text : (problem(`expected ${kind} at "${peek()}"`), ''))
  const text = (quoted: string) => {
    try {
      return unquote(quoted)
    } catch {
      return (problem(`cannot read the string ${quoted}`), '')
    }
  }
  const labelList = () => {
    const labels: string[] = []
    want('(')
    while (pos < tokens.length && !accept(')')) {
      labels.push(take('id'))
      if (peek() !== ')') want(',')
    }
    return labels
  }
  const vector = (v: Value, where: string) => ('labels' in v && v.kind === 'v' ? v.labels : (problem(`${where} needs an instant vector`), new Set<string>()))
  const same = (a: ReadonlySet<string>, b: ReadonlySet<string>) => a.size === b.size && [...a].every((l) => b.has(l))

  const selector = (name: string): Value => {
    const matchers: Matcher[] = []
    if (accept('{')) {
      while (pos < tokens.length && !accept('}')) {
        const label = take('id')
        const op = accept('=', '!=', '=~', '!~') ?? (problem(`bad matcher on ${label}`), '=')
        matchers.push({ label, op, value: text(take('t')) })
        if (peek() !== '}') want(',')
      }
    }
    if (name === '') name = matchers.find((m) => m.label === '__name__' && m.op === '=')?.value ?? ''
    const suffix = /^(.*)_(bucket|sum|count)$/.exec(name)
    const base = suffix !== null && ['histogram', 'summary'].includes(known.get(suffix[1]!)?.type ?? '') ? suffix[1]! : name
    const spec = known.get(base)
    if (spec === undefined) problem(`unknown metric ${name || '(no name)'}`)
    const labels = new Set([...(spec?.labels ?? []), ...TARGET_LABELS, ...(suffix?.[2] === 'bucket' && base !== name ? ['le'] : [])])
    for (const { label, op, value } of matchers) {
      if (label !== '__name__' && !labels.has(label)) problem(`${base} has no label ${label}`)
      const values = VALUES[label]
      if (values === undefined || value.includes('$')) continue
      const test = op.endsWith('~') ? new RegExp(`^(?:${value})$`) : { test: (v: string) => v === value }
      if (!values.some((v) => test.test(v))) problem(`${label}${op}"${value}" matches no ${label} switchyard writes`)
    }
    result.metrics.push(base)
    result.selectors.push({ metric: base, matchers })
    return { kind: 'v', labels }
  }

  const call = (name: string): Value => {
    const aggregation = AGGREGATIONS[name]
    const grouping = () => (accept('by', 'without') === 'by' ? { by: true, labels: labelList() } : { by: false, labels: labelList() })
    let group = aggregation !== undefined && ['by', 'without'].includes(peek()) ? grouping() : undefined
    const args: Value[] = []
    want('(')
    while (pos < tokens.length && !accept(')')) {
      args.push(binary(0))
      if (peek() !== ')') want(',')
    }
    if (aggregation !== undefined && ['by', 'without'].includes(peek())) group = grouping()
    const spec = aggregation ?? FUNCTIONS[name]
    if (spec === undefined) return (problem(`unknown function ${name}`), { kind: 'v', labels: new Set() })
    if (!spec.test(args.map((a) => a.kind).join(''))) problem(`${name}(${args.map((a) => a.kind).join(', ')}) does not take these arguments`)
    const input = args.find((a) => 'labels' in a)
    const inLabels = input !== undefined && 'labels' in input ? input.labels : new Set<string>()
    const strings = args.map((a) => ('text' in a ? a.text : ''))
    if (aggregation !== undefined) {
      for (const l of group?.labels ?? []) if (!inLabels.has(l)) problem(`${name} by/without (${l}): the input has no label ${l}`)
      if (group === undefined) return { kind: 'v', labels: ['topk', 'bottomk'].includes(name) ? inLabels : new Set() }
      return { kind: 'v', labels: group.by ? new Set(group.labels) : new Set([...inLabels].filter((l) => !group.labels.includes(l))) }
    }
    if (name === 'histogram_quantile') {
      if (!inLabels.has('le')) problem('histogram_quantile: the input has no le label (sum by (le, ...) over a _bucket rate)')
      return { kind: 'v', labels: new Set([...inLabels].filter((l) => l !== 'le')) }
    }
    if (name === 'scalar' || name === 'time') return { kind: 's' }
    if (name === 'vector') return { kind: 'v', labels: new Set() }
    if (name.startsWith('label_')) {
      const sources = (name === 'label_replace' ? strings.slice(3, 4) : strings.slice(3)).filter((l) => l !== '')
      for (const l of sources) if (!inLabels.has(l)) problem(`${name}: the input has no label ${l}`)
      return { kind: 'v', labels: new Set([...inLabels, strings[1] ?? '']) }
    }
    return { kind: 'v', labels: inLabels }
  }

  const primary = (): Value => {
    const token = tokens[pos++]
    if (token === undefined) return (problem('unexpected end'), { kind: 's' })
    if (token.kind === 's' || ['Inf', 'NaN'].includes(token.text)) return { kind: 's' }
    if (token.kind === 't') return { kind: 't', text: text(token.text) }
    if (token.text === '(') {
      const inner = binary(0)
      want(')')
      return inner
    }
    if (token.text === '{') return (pos--, selector(''))
    if (token.kind !== 'id') return (problem(`unexpected "${token.text}"`), { kind: 's' })
    return peek() === '(' || (token.text in AGGREGATIONS && ['by', 'without'].includes(peek())) ? call(token.text) : selector(token.text)
  }

  const unary = (): Value => {
    if (accept('-', '+')) return unary()
    let value = primary()
    const range = tokens[pos]?.kind === 'range' ? tokens[pos++]!.text : undefined
    if (range !== undefined) {
      const parts = RANGE.exec(range)
      if (parts === null || (value.kind !== 'v' && parts[2] === undefined)) problem(`bad range [${range}]`)
      value = 'labels' in value ? { kind: 'm', labels: value.labels } : value
    }
    if (accept('offset')) {
      accept('-')
      take('dur')
    }
    return value
  }

  const binary = (level: number): Value => {
    const ops = LEVELS[level]
    if (ops === undefined) return unary()
    let left = binary(level + 1)
    for (let op = accept(...ops); op !== undefined; op = accept(...ops)) {
      accept('bool')
      const on = accept('on', 'ignoring')
      const matching = on === undefined ? [] : labelList()
      const side = accept('group_left', 'group_right')
      const extra = side !== undefined && peek() === '(' ? labelList() : []
      const right = binary(op === '^' ? level : level + 1)
      if (!('labels' in left) || !('labels' in right)) {
        left = 'labels' in left ? left : right
        continue
      }
      const [l, r] = [vector(left, op), vector(right, op)]
      for (const label of matching) if (on === 'on' ? !l.has(label) || !r.has(label) : !l.has(label) && !r.has(label)) problem(`${on} (${label}): a side has no label ${label}`)
      for (const label of extra) if (!(side === 'group_left' ? r : l).has(label)) problem(`${side} (${label}): the other side has no label ${label}`)
      const drop = (s: ReadonlySet<string>) => new Set([...s].filter((x) => (on === 'on' ? matching.includes(x) : !matching.includes(x))))
      if (side === undefined && op !== 'or' && !same(drop(l), drop(r))) problem(`${op}: the sides have different labels (${[...l].join(',')} vs ${[...r].join(',')})`)
      const labels = op === 'or' ? new Set([...l, ...r]) : side !== undefined ? new Set([...(side === 'group_left' ? l : r), ...extra]) : ['and', 'unless'].includes(op) ? l : drop(l)
      left = { kind: 'v', labels }
    }
    return left
  }

  const value = binary(0)
  if (pos < tokens.length) problem(`unexpected "${peek()}" after the expression`)
  if (!('labels' in value) || value.kind !== 'v') problem('the expression is not an instant vector')
  return { ...result, labels: 'labels' in value ? value.labels : new Set() }
}

let known: Map<string, Known>
beforeAll(async () => {
  const metrics = new Metrics()
  metrics.setStateConnected(true) // registered on first use: only fleet replicas have it
  known = new Map()
  for (const { name, type } of await metrics.registry.getMetricsAsJSON()) {
    const metric = metrics.registry.getSingleMetric(name) as unknown as { labelNames?: readonly string[] }
    known.set(name, { type: String(type), labels: new Set(metric.labelNames ?? []) })
  }
  known.set('up', { type: 'gauge', labels: new Set() }) // written by Prometheus for every target it scrapes
})

const allPanels = (panels: Panel[]): Panel[] => panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])])
const queryOf = (v: Variable) => (typeof v.query === 'string' ? v.query : (v.query?.query ?? ''))
const templateLabels = (text: string, pattern: RegExp) => [...text.matchAll(pattern)].map((m) => m[1]!)

describe('the PromQL reader', () => {
  it.each([
    ['rate(switchyard_request_total[1m])', 'unknown metric switchyard_request_total'],
    ['sum by (colour) (rate(switchyard_requests_total[1m]))', 'the input has no label colour'],
    ['switchyard_upstream_errors_total{kind="connection"}', 'matches no kind'],
    ['switchyard_split_percent{colour="green"}', 'has no label colour'],
    ['histogram_quantile(0.9, sum by (le) (rate(switchyard_requests_total[1m])))', 'has no label le'],
    ['sum by (color) (rate(switchyard_requests_total[1m])) / sum(rate(switchyard_requests_total[1m]))', 'different labels'],
    ['rate(switchyard_requests_total)', 'does not take these arguments'],
    ['rates(switchyard_requests_total[1m])', 'unknown function rates'],
  ])('finds the mistake in %s', (expr, mistake) => {
    expect(analyse(expr, known).problems.join('; ')).toContain(mistake)
  })

  it('reads a histogram quantile by colour', () => {
    const result = analyse('histogram_quantile(0.99, sum by (le, color) (rate(switchyard_request_duration_seconds_bucket{job="x", color=~"blue|green"}[$__rate_interval])))', known)
    expect(result.problems).toEqual([])
    expect(result.metrics).toEqual(['switchyard_request_duration_seconds'])
    expect([...result.labels]).toEqual(['color'])
  })
})

describe('deploy/grafana/switchyard.json', () => {
  const panels = allPanels(dashboard.panels)
  const variables = new Set(dashboard.templating.list.map((v) => v.name))
  const queries = [
    ...panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: `panel ${p.id} "${p.title}" ${t.refId}`, expr: t.expr ?? '', legend: t.legendFormat ?? '' }))),
    ...dashboard.annotations.list.filter((a) => a.datasource?.type === 'prometheus').map((a) => ({ where: 'annotation', expr: a.expr ?? '', legend: a.textFormat ?? '' })),
  ]

  it('has a Prometheus data source variable and job and instance variables', () => {
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36)
    expect(dashboard.templating.list.find((v) => v.name === 'datasource')).toMatchObject({ type: 'datasource', query: 'prometheus' })
    for (const name of ['job', 'instance']) expect(queryOf(dashboard.templating.list.find((v) => v.name === name)!)).toMatch(/^label_values\(/)
  })

  it('has panels with unique ids, a data source, queries and a place on the grid', () => {
    expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length)
    for (const panel of panels.filter((p) => p.type !== 'row')) {
      expect(panel.datasource, `panel ${panel.id}`).toEqual({ type: 'prometheus', uid: '${datasource}' })
      expect(panel.targets?.length, `panel ${panel.id}`).toBeGreaterThan(0)
      expect(new Set(panel.targets?.map((t) => t.refId)).size).toBe(panel.targets?.length)
      for (const t of panel.targets ?? []) expect(t.expr?.trim(), `panel ${panel.id}`).toBeTruthy()
      expect(panel.gridPos.x + panel.gridPos.w, `panel ${panel.id}`).toBeLessThanOrEqual(24)
    }
  })

  it('queries only metrics and labels switchyard exports, filtered by job and instance', () => {
    expect(queries.length).toBeGreaterThan(10)
    const problems = queries.flatMap(({ where, expr, legend }) => {
      const result = analyse(expr, known)
      return [
        ...result.problems,
        ...(result.metrics.length === 0 ? ['queries no metric'] : []),
        ...result.selectors.filter(({ matchers }) => !['job', 'instance'].every((l) => matchers.some((m) => m.label === l))).map(({ metric }) => `${metric} is not filtered by $job and $instance`),
        ...templateLabels(legend, /\{\{\s*(\w+)\s*\}\}/g).filter((l) => !result.labels.has(l)).map((l) => `{{${l}}}: the result has no label ${l}`),
        ...templateLabels(expr, /\$\{?(\w+)/g).filter((v) => !variables.has(v) && !v.startsWith('__')).map((v) => `$${v} is not a variable`),
      ].map((p) => `${where}: ${p}`)
    })
    expect(problems).toEqual([])
  })

  it('reads its variables from an existing metric and label', () => {
    for (const variable of dashboard.templating.list.filter((v) => v.type === 'query')) {
      const [, selector = '', label = ''] = /^label_values\((.*),\s*(\w+)\)$/.exec(queryOf(variable)) ?? []
      const result = analyse(selector, known)
      expect(result.problems, variable.name).toEqual([])
      expect(result.labels.has(label), `${variable.name}: ${label}`).toBe(true)
    }
  })
})

describe('deploy/prometheus/alerts.yaml', () => {
  const all = (rules.groups ?? []).flatMap((g) => g.rules ?? [])

  it('has groups of rules with an alert, an expression, a for, a severity and a summary', () => {
    expect(rules.groups?.length).toBeGreaterThan(0)
    for (const group of rules.groups ?? []) expect(group.name && group.rules?.length).toBeTruthy()
    expect(new Set(all.map((r) => r.alert)).size).toBe(all.length)
    for (const rule of all) {
      expect(rule.alert, JSON.stringify(rule)).toMatch(/^Switchyard[A-Z]\w+$/)
      expect(rule.expr?.trim(), rule.alert).toBeTruthy()
      expect(rule.for, rule.alert).toMatch(/^\d+[smh]$/)
      expect(['critical', 'warning', 'info'], rule.alert).toContain(rule.labels?.severity)
      expect(rule.annotations?.summary, rule.alert).toBeTruthy()
      expect(rule.annotations?.description, rule.alert).toBeTruthy()
    }
  })

  it('queries only metrics and labels switchyard exports, each selector with a job', () => {
    const problems = all.flatMap((rule) => {
      const result = analyse(rule.expr ?? '', known)
      const text = `${rule.annotations?.summary} ${rule.annotations?.description}`
      return [
        ...result.problems,
        ...result.selectors.filter(({ matchers }) => !matchers.some((m) => m.label === 'job')).map(({ metric }) => `${metric} has no job selector`),
        ...templateLabels(text, /\$labels\.(\w+)/g).filter((l) => !result.labels.has(l)).map((l) => `$labels.${l}: the result has no label ${l}`),
      ].map((p) => `${rule.alert}: ${p}`)
    })
    expect(problems).toEqual([])
  })

  it('covers reverts, errors, latency, health, the state store, webhooks and scrapes', () => {
    const used = new Set(all.flatMap((r) => analyse(r.expr ?? '', known).metrics))
    for (const name of ['switchyard_reverts_total', 'switchyard_requests_total', 'switchyard_request_duration_seconds', 'switchyard_target_healthy',
      'switchyard_state_store_connected', 'switchyard_webhook_deliveries_total', 'up']) expect(used).toContain(name)
  })
})
