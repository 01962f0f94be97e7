import type { Command } from 'commander'
import type { SplitView, StatusView, TargetView, WindowStats } from '../api-types.js'
import { contextOf } from '../context.js'
import { duration, pct, splitLine, table } from '../format.js'
import { percent, wholeNumber, withCommon, type CommonOptions } from '../options.js'
import type { Output } from '../output.js'
import { COMMANDS } from '../summary.js'
import { holdLeft } from '../watch.js'

interface ChangeOptions extends CommonOptions {
  readonly reason?: string
  readonly ifGeneration?: number
  readonly force?: boolean
}

/** The optional fields of PUT /v1/split, POST /v1/promote and /v1/rollback. */
function changeBody(options: ChangeOptions): Record<string, unknown> {
  return {
    ...(options.reason === undefined ? {} : { reason: options.reason }),
    ...(options.ifGeneration === undefined ? {} : { ifGeneration: options.ifGeneration }),
    ...(options.force === true ? { force: true } : {}),
  }
}

function changeOptions(command: Command, force: boolean): Command {
  command
    .option('--reason <text>', 'why, for the audit log')
    .option('--if-generation <n>', 'only if the split is still at this generation (else refused, 409)', wholeNumber)
  if (force) command.option('--force', 'even when green has no healthy target (skips the health gate)')
  return withCommon(command)
}

function printSplit(out: Output, split: SplitView): void {
  if (out.json) return out.document(split)
  out.line(`split: ${splitLine(split, out.style)}`)
  if (split.reverted !== null) out.line(`reverted at ${split.reverted.at}: ${split.reverted.reason}`)
}

function stats(s: WindowStats | undefined): string {
  if (s === undefined) return '-'
  const ms = (v: number | null) => (v === null ? '-' : `${v} ms`)
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`
  return `${plural(s.requests, 'request')}, ${plural(s.errors, 'error')} (${(s.errorRate * 100).toFixed(2)} %), p50 ${ms(s.p50Ms)}, p99 ${ms(s.p99Ms)}`
}

function health(t: TargetView): string {
  if (t.healthy) return t.inFlight ? `healthy, ${t.inFlight} in flight` : 'healthy'
  const why = t.lastError === null || t.lastError === undefined ? '' : `: ${t.lastError}`
  const until = t.ejectedUntil === null || t.ejectedUntil === undefined ? '' : ` (ejected until ${t.ejectedUntil})`
  return `unhealthy${until}${why}`
}

/** Each target of both colours with its health, as table rows. */
export function targetRows(upstreams: Partial<Record<'blue' | 'green', readonly TargetView[]>>): string[][] {
  return (['blue', 'green'] as const).flatMap((color) => {
    const targets = upstreams[color] ?? []
    if (targets.length === 0) return [[color, '(no targets)', '']]
    return targets.map((t) => [color, t.url, health(t)])
  })
}

function printStatus(out: Output, client: string, s: StatusView): void {
  const store = s.state?.store === undefined ? '' : ` · state: ${s.state.store}${s.state.file === undefined ? '' : ` ${s.state.file}`}`
  out.line(`switchyard at ${client}: ${s.status === 'ok' ? out.style.green('ok') : out.style.yellow(s.status)}${store}`)
  out.line(`split: ${splitLine(s.split, out.style)}`)
  if (s.split.reverted !== null) out.line(`reverted at ${s.split.reverted.at}: ${s.split.reverted.reason}`)
  const w = s.window
  if (w !== undefined) {
    out.line(`last ${w.seconds ?? '?'} s:`)
    out.line(`  blue   ${stats(w.blue)}`)
    out.line(`  green  ${stats(w.green)}`)
  }
  if (s.upstreams !== undefined) {
    out.line('targets:')
    for (const line of table(['', '', ''], targetRows(s.upstreams)).slice(1)) out.line(`  ${line}`)
  }
  const r = s.rollout
  if (r === null || r === undefined) out.line('rollout: none')
  else {
    const left = holdLeft(r, Date.now(), Date.now())
    const hold = r.phase === 'progressing' || r.phase === 'paused' ? (left === null || left === 0 ? ', hold over' : `, ${duration(left)} of the hold left`) : ''
    out.line(`rollout: ${r.phase}, step ${r.step}/${r.steps.length} (green ${pct(r.green)})${hold}${r.reason === null ? '' : ` · ${r.reason}`}`)
  }
}

/**
 * Several services: the `default` one in full when there is one, then one line per service
 * (`--service NAME` shows one in full).
 */
function printServicesStatus(out: Output, client: string, s: StatusView, services: Readonly<Record<string, StatusView>>): void {
  if ((s as Partial<StatusView>).split !== undefined) printStatus(out, client, s)
  else out.line(`switchyard at ${client}: ${Object.keys(services).length} services (switchyard status --service NAME for one)`)
  for (const [name, service] of Object.entries(services)) {
    const r = service.rollout
    const rollout = r === null || r === undefined ? 'no rollout' : `rollout ${r.phase}, step ${r.step}/${r.steps.length}`
    out.line(`  ${name}: ${service.status} · ${splitLine(service.split, out.style)} · ${rollout}`)
  }
}

/** status, split, promote, rollback. */
export function statusCommand(program: Command): void {
  withCommon(program.command('status').description(COMMANDS.status)).action(async (options: CommonOptions) => {
    const { client, out } = contextOf(options)
    const status = await client.get<StatusView>('/v1/status')
    if (out.json) out.document(status)
    else if (status.services !== undefined) printServicesStatus(out, client.url, status, status.services)
    else printStatus(out, client.url, status)
  })
}

export function splitCommands(program: Command): void {
  changeOptions(
    program
      .command('split')
      .description(COMMANDS.split)
      .argument('<green>', "green's share in percent, 0 to 100 (0.01 steps); blue gets the rest", percent),
    true,
  )
    .addHelpText('after', '\nExamples:\n  switchyard split 25\n  switchyard split 50 --if-generation 8 --reason "p99 fine at 25 %"')
    .action(async (green: number, options: ChangeOptions) => {
      const { client, out } = contextOf(options)
      printSplit(out, await client.request<SplitView>('PUT', '/v1/split', { green, ...changeBody(options) }))
    })

  changeOptions(program.command('promote').description(COMMANDS.promote), true).action(async (options: ChangeOptions) => {
    const { client, out } = contextOf(options)
    printSplit(out, await client.request<SplitView>('POST', '/v1/promote', changeBody(options)))
  })

  changeOptions(program.command('rollback').description(COMMANDS.rollback), false).action(async (options: ChangeOptions) => {
    const { client, out } = contextOf(options)
    printSplit(out, await client.request<SplitView>('POST', '/v1/rollback', changeBody(options)))
  })
}
