import type { Command } from 'commander'
import type { ServiceView, ServicesView } from '../api-types.js'
import { contextOf } from '../context.js'
import { pct, table } from '../format.js'
import { withCommon, type CommonOptions } from '../options.js'
import { COMMANDS } from '../summary.js'

/** `blue 1/1 green 0/2`: healthy targets of each colour; `-` when the server gives none (a service removed from the config). */
function healthCell(health: ServiceView['health']): string {
  if (health === undefined) return '-'
  const cells = (['blue', 'green'] as const).flatMap((color) => {
    const h = health[color]
    return h === undefined ? [] : [`${color} ${h.healthy}/${h.total}`]
  })
  return cells.length === 0 ? '-' : cells.join(' ')
}

/** `hosts api.example.com · paths /,/v2`; an empty host list matches any host. */
function matchCell(service: ServiceView): string {
  if (!service.configured) return 'removed from config'
  if (service.match === undefined) return '-'
  const hosts = service.match.hosts.length === 0 ? 'any host' : `hosts ${service.match.hosts.join(',')}`
  const paths = service.match.pathPrefixes.length === 0 ? 'any path' : `paths ${service.match.pathPrefixes.join(',')}`
  return `${hosts} · ${paths}`
}

/** GET /v1/services as a table, one line per service, the default one marked. */
export function servicesLines(view: ServicesView, width?: number): string[] {
  const rows = view.services.map((s) => [
    s.name === view.defaultService ? `${s.name} (default)` : s.name,
    s.split === null ? '-' : `blue ${pct(s.split.blue)} · green ${pct(s.split.green)}`,
    s.split === null ? '-' : String(s.split.generation),
    s.phase,
    pct(s.mirror),
    healthCell(s.health),
    matchCell(s),
  ])
  return table(['SERVICE', 'SPLIT', 'GEN', 'ROLLOUT', 'MIRROR', 'HEALTH', 'MATCH'], rows, width)
}

/** services: GET /v1/services, the one global view of every service. */
export function servicesCommand(program: Command): void {
  withCommon(program.command('services').description(COMMANDS.services), { scoped: false })
    .addHelpText('after', '\nAddress one service with --service NAME (or SWITCHYARD_SERVICE) on split, rollout, upstreams, mirror, events, status.')
    .action(async (options: CommonOptions) => {
      const { client, out } = contextOf(options)
      const view = await client.get<ServicesView>('/v1/services')
      if (out.json) out.document(view)
      else out.lines(servicesLines(view, out.columns))
    })
}
