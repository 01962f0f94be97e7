import { InvalidArgumentError, Option, type Command } from 'commander'
import { checkTarget, httpUrl } from '../config/addresses.js'
import { parseDuration } from '../config/duration.js'

/** The flags every command that talks to a switchyard takes. */
export interface CommonOptions {
  readonly url: string
  readonly token?: string
  readonly json?: boolean
  /** The service a service-scoped call addresses (/v1/services/{name}/...); absent: the unscoped routes. */
  readonly service?: string
}

export const DEFAULT_URL = 'http://127.0.0.1:9090'

/**
 * Adds --url, --token, --json and --service (with their environment variables) to a command
 * that calls the admin API. Commands whose routes are global (reload, preview, services) pass
 * `scoped: false`: a --service they would silently ignore is better refused as unknown.
 */
export function withCommon(command: Command, { scoped = true }: { readonly scoped?: boolean } = {}): Command {
  command
    .addOption(new Option('--url <url>', "the admin API's address").env('SWITCHYARD_ADMIN_URL').default(DEFAULT_URL).argParser(adminUrl))
    .addOption(new Option('--token <token>', 'admin.token, sent as "Authorization: Bearer" (prefer the variable: flags show in ps)').env('SWITCHYARD_ADMIN_TOKEN'))
    .option('--json', "print the server's JSON answer for scripts: one document, or one object per line when following")
  if (scoped) {
    command.addOption(
      new Option('--service <name>', 'the service to address when switchyard fronts several ("switchyard services" lists them)').env('SWITCHYARD_SERVICE').argParser(serviceName),
    )
  }
  return command
}

// Parsers: each throws InvalidArgumentError, which commander reports as a usage error (exit 2).
// They check what the command line alone can get wrong; ranges that depend on the server's
// config are the server's to refuse (exit 1).

export function adminUrl(value: string): string {
  try {
    httpUrl('--url', value)
  } catch {
    throw new InvalidArgumentError('must be an http(s) URL such as http://127.0.0.1:9090')
  }
  return value
}

/** A service's name as the config allows it (and as it may stand in a URL path unescaped). */
export function serviceName(value: string): string {
  if (!/^[a-z0-9][a-z0-9-]{0,39}$/.test(value)) throw new InvalidArgumentError('must be a service name: lowercase letters, digits and dashes, 1 to 40, not starting with a dash')
  return value
}

/** A share in percent: 0 to 100, at most two decimals (the API's 0.01 resolution). */
export function percent(value: string): number {
  const n = Number(value)
  if (!/^\d+(\.\d{1,2})?$/.test(value.trim()) || !(n >= 0 && n <= 100)) {
    throw new InvalidArgumentError(`${JSON.stringify(value)} is not a percent from 0 to 100 (at most two decimals)`)
  }
  return n
}

/** A duration as the API takes it (`500ms`, `30s`, `2m`, `1h`, or milliseconds), passed on as written. */
export function durationText(value: string): string {
  if (parseDuration(value) === undefined) throw new InvalidArgumentError('must be a duration such as 500ms, 30s, 2m, 1h or an integer of milliseconds')
  return value.trim()
}

/** A duration for the CLI itself, in milliseconds. */
export function durationMs(value: string): number {
  const ms = parseDuration(value)
  if (ms === undefined) throw new InvalidArgumentError('must be a duration such as 500ms, 30s, 10m, 1h or an integer of milliseconds')
  return ms
}

export function wholeNumber(value: string): number {
  if (!/^\d{1,15}$/.test(value.trim())) throw new InvalidArgumentError('must be a whole number')
  return Number(value)
}

export function decimal(value: string): number {
  const n = Number(value)
  if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError('must be a number')
  return n
}

/**
 * One step of --steps: green's share, or with `mirror:` a mirror step (this share of blue's
 * requests copied to green, which answers no user yet); its own hold when written `25:5m`.
 */
export type StepArg = { readonly green: number; readonly hold?: string } | { readonly mirror: number; readonly hold?: string }

const STEP_SHAPES = 'GREEN, GREEN:HOLD, mirror:PERCENT or mirror:PERCENT:HOLD, such as 25, 25:5m or mirror:100:5m'

/** `5,25,50,100`, `5:2m,25:5m,100`, or with mirror steps first: `mirror:100:5m,5:2m,100`. */
export function stepList(value: string): StepArg[] {
  const parts = value.split(',').map((s) => s.trim())
  if (parts.some((p) => p === '')) throw new InvalidArgumentError('must list greens separated by commas, such as 5,25,50,100 (or 5:2m,25:5m with a hold each)')
  const steps = parts.map((part): StepArg => {
    const words = part.split(':')
    const mirror = words[0] === 'mirror'
    const [share, hold, extra] = mirror ? words.slice(1) : words
    if (share === undefined || extra !== undefined) throw new InvalidArgumentError(`${JSON.stringify(part)} must be ${STEP_SHAPES}`)
    const held = hold === undefined ? {} : { hold: durationText(hold) }
    return mirror ? { mirror: percent(share), ...held } : { green: percent(share), ...held }
  })
  // The API's rule, checked before anything is sent: green gets copies before it gets users.
  const firstGreen = steps.findIndex((s) => 'green' in s)
  if (firstGreen !== -1 && steps.slice(firstGreen).some((s) => 'mirror' in s)) {
    throw new InvalidArgumentError('mirror steps come first, before the green ones, such as mirror:100:5m,5,25,100')
  }
  return steps
}

/** `http://a:8000,http://b:8000`: the http(s) origins of a colour, checked as the config checks them. */
export function targetList(value: string, previous: string[] = []): string[] {
  const targets = value.split(',').map((s) => s.trim()).filter((s) => s !== '')
  if (targets.length === 0) throw new InvalidArgumentError('must list at least one http(s) URL')
  for (const target of targets) {
    // The server's own rule for a target (an http(s) origin), so the CLI refuses what it would.
    try {
      checkTarget('target', target)
    } catch {
      throw new InvalidArgumentError(`${JSON.stringify(target)} is not an http(s) origin such as http://10.0.0.7:8000 (no path or query)`)
    }
  }
  return [...previous, ...targets]
}

/** `revert,step`: event types, as GET /v1/events takes them. */
export function eventTypes(value: string): string {
  if (!/^[a-z-]+(,[a-z-]+)*$/.test(value)) throw new InvalidArgumentError('must be event types separated by commas, such as split,revert,step')
  return value
}

/** An event id, an ISO time, or a duration meaning "that long ago" (`10m`). */
export function since(value: string, now = Date.now()): string {
  const v = value.trim()
  if (/^\d{1,15}$/.test(v)) return v
  if (/^\d{4}-\d{2}-\d{2}T[0-9:.]+(Z|[+-]\d{2}:\d{2})$/.test(v) && !Number.isNaN(Date.parse(v))) return v
  const ms = parseDuration(v)
  if (ms !== undefined && !/^\d+$/.test(v)) return new Date(now - ms).toISOString()
  throw new InvalidArgumentError('must be an event id, an ISO time such as 2025-06-01T10:00:00Z, or a duration ago such as 10m')
}

/** --limit: 1 to 9999, as GET /v1/events takes it. */
export function limit(value: string): number {
  if (!/^[1-9]\d{0,3}$/.test(value.trim())) throw new InvalidArgumentError('must be a whole number from 1 to 9999')
  return Number(value)
}
