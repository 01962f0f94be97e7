import type { Command } from 'commander'
import type { EventView } from '../api-types.js'
import { contextOf } from '../context.js'
import { changeOf, cut, localTime, table } from '../format.js'
import { eventTypes, limit, since, withCommon, type CommonOptions } from '../options.js'
import type { Output } from '../output.js'
import { followStream } from '../sse.js'
import { COMMANDS } from '../summary.js'

interface EventsOptions extends CommonOptions {
  readonly type?: string
  readonly since?: string
  readonly limit?: number
  readonly follow?: boolean
}

const HEADER = ['ID', 'AT', 'TYPE', 'SOURCE', 'CHANGE', 'REASON'] as const

function row(e: EventView): string[] {
  return [e.id === undefined ? '-' : String(e.id), localTime(e.at), e.type, e.source, changeOf(e.from, e.to), e.reason ?? '']
}

/** Follow mode prints rows as they come, so its columns are fixed. */
const FOLLOW_WIDTHS = [5, 19, 12, 11, 22] as const

function followRow(out: Output, cells: readonly string[]): void {
  const line = cells.map((c, i) => (i < FOLLOW_WIDTHS.length ? c.padEnd(FOLLOW_WIDTHS[i]!) : c)).join('  ')
  out.line(cut(line.trimEnd(), out.columns))
}

function query(options: EventsOptions): string {
  const params = new URLSearchParams()
  if (options.limit !== undefined) params.set('limit', String(options.limit))
  if (options.type !== undefined) params.set('type', options.type)
  if (options.since !== undefined) params.set('since', options.since)
  const text = params.toString()
  return text === '' ? '' : `?${text}`
}

/** events (the audit log as a table, oldest first) and events --follow (live, resuming after a drop). */
export function eventsCommand(program: Command): void {
  withCommon(
    program
      .command('events')
      .description(COMMANDS.events)
      .option('--type <types>', 'only these types, separated by commas: split,promote,rollback,revert,targets,step,pause,resume,abort,succeeded,...', eventTypes)
      .option('--since <when>', 'only events after this one: an event id, an ISO time, or a duration ago such as 10m', (value: string) => since(value))
      .option('--limit <n>', 'at most this many, the newest (1 to 9999; default 20, or none with --follow)', limit)
      .option('-f, --follow', 'then stream new events as they happen (Ctrl-C ends); reconnects with Last-Event-ID'),
  )
    .addHelpText('after', '\nExamples:\n  switchyard events --type revert,abort --since 1h\n  switchyard events --follow --json | jq .reason')
    .action(async (options: EventsOptions) => {
      const { client, out } = contextOf(options)
      const follow = options.follow === true
      if (!follow) {
        const listed = await client.get<EventView[]>(`/v1/events${query({ ...options, limit: options.limit ?? 20 })}`)
        if (out.json) out.document(listed)
        else if (listed.length === 0) out.line('no events')
        else out.lines(table(HEADER, [...listed].reverse().map(row), out.columns))
        return
      }
      // The stream resumes after the newest event; history, shown only when asked for, stops there.
      const [newest] = await client.get<EventView[]>('/v1/events?limit=1')
      const newestId = newest?.id ?? 0
      const history = options.limit !== undefined || options.since !== undefined ? await client.get<EventView[]>(`/v1/events${query(options)}`) : []
      const print = (e: EventView) => (out.json ? out.record(e) : followRow(out, row(e)))
      if (!out.json) followRow(out, HEADER)
      history
        .filter((e) => e.id === undefined || e.id <= newestId)
        .reverse()
        .forEach(print)
      const stop = new AbortController()
      process.once('SIGINT', () => stop.abort())
      let lost = false
      await followStream(client, {
        query: options.type === undefined ? '' : `?type=${options.type}`,
        lastEventId: newestId,
        signal: stop.signal,
        onEvent: print,
        onLost: (reason) => {
          if (!lost) out.note(`event stream lost (${reason}); reconnecting with Last-Event-ID`)
          lost = true
        },
        onOpen: (afterLoss) => {
          if (afterLoss) out.note('event stream back')
          lost = false
        },
      })
    })
}
