import type { Logger } from 'pino'
import type { Dispatcher } from 'undici'
import { describeError } from './errors.js'
import type { ActiveHealth, HealthCheckSettings, OutlierSettings } from './types.js'

/** Active health checks off: what a proxy built without `healthCheck` uses, and the config's `healthCheck:` defaults. */
// Not annotated with HealthCheckSettings: that type is derived from the config schema, whose defaults are these.
export const HEALTH_CHECK_OFF = Object.freeze({
  path: '',
  interval: 5_000,
  timeout: 2_000,
  healthyThreshold: 2,
  unhealthyThreshold: 3,
})

/** Envoy's defaults for consecutive-5xx ejection: what a proxy built without `outlier` uses, and the config's. */
export const DEFAULT_OUTLIER: OutlierSettings = Object.freeze({ consecutiveErrors: 5, ejectionTime: 30_000 })

/** A change of a target's health, for the log: an active verdict flipped, or an ejection began. */
export interface HealthEvent {
  readonly url: string
  readonly event: 'healthy' | 'unhealthy' | 'ejected'
  /** The failure behind it (`status 503`, `ECONNREFUSED: ...`), or `status 200` for a recovery. */
  readonly reason: string
}

/** Gets every HealthEvent; called off the request path except for ejections (rare). */
export type HealthListener = (event: HealthEvent) => void

/** A listener that logs each change: warn when a target leaves the rotation, info when it returns. */
export function logHealthEvents(logger: Logger): HealthListener {
  return ({ url, event, reason }) => {
    if (event === 'healthy') logger.info({ url, reason }, 'upstream target passes its health checks')
    else if (event === 'unhealthy') logger.warn({ url, reason }, 'upstream target fails its health checks')
    else logger.warn({ url, reason }, 'upstream target ejected after consecutive errors')
  }
}

/** The outcome of one probe: `ok` for a 2xx/3xx answer in time; `detail` says what came back. */
export interface ProbeResult {
  readonly ok: boolean
  readonly detail: string
}

/**
 * One target's active-check verdict. Starts `unknown` (routed as healthy); from there one
 * success says healthy and `unhealthyThreshold` failures in a row say unhealthy. Later flips
 * need `healthyThreshold` successes or `unhealthyThreshold` failures in a row.
 */
export class ActiveCheck {
  state: ActiveHealth = 'off'
  /** The health path the verdict belongs to; a new path starts over at `unknown`. */
  path = ''
  successes = 0
  failures = 0

  /** Aligns the verdict with the settings: off without a path, unknown for a new path. */
  configure(path: string): void {
    if (path === this.path) return
    this.path = path
    this.state = path === '' ? 'off' : 'unknown'
    this.successes = 0
    this.failures = 0
  }

  /** Counts one probe; returns the new state when the verdict changed. */
  record(ok: boolean, settings: HealthCheckSettings): ActiveHealth | undefined {
    if (this.state === 'off') return undefined
    if (ok) {
      this.failures = 0
      this.successes++
      if (this.state === 'unknown' || (this.state === 'unhealthy' && this.successes >= settings.healthyThreshold)) {
        this.state = 'healthy'
        return this.state
      }
    } else {
      this.successes = 0
      this.failures++
      if (this.state !== 'unhealthy' && this.failures >= settings.unhealthyThreshold) {
        this.state = 'unhealthy'
        return this.state
      }
    }
    return undefined
  }

  copyFrom(other: ActiveCheck): void {
    this.state = other.state
    this.path = other.path
    this.successes = other.successes
    this.failures = other.failures
  }
}

/** What HealthChecker needs of a target: its connection pool and its verdict. */
export interface CheckedTarget {
  readonly url: string
  readonly pool: Dispatcher
  readonly activeCheck: ActiveCheck
}

/** Sends `GET path` on `dispatcher`; a 2xx/3xx answer within `timeoutMs` is a success. Never throws. */
export async function probe(dispatcher: Dispatcher, path: string, timeoutMs: number, stop: AbortSignal): Promise<ProbeResult> {
  const controller = new AbortController()
  const abort = (): void => controller.abort()
  const timer = setTimeout(abort, timeoutMs)
  timer.unref()
  stop.addEventListener('abort', abort, { once: true })
  try {
    const { statusCode, body } = await dispatcher.request({
      path,
      method: 'GET',
      headers: { 'user-agent': 'switchyard-health-check' },
      signal: controller.signal,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    })
    // The verdict is in the status; the body is only read to free the connection.
    await body.dump().catch(() => undefined)
    return { ok: statusCode >= 200 && statusCode < 400, detail: `status ${statusCode}` }
  } catch (err) {
    const detail = controller.signal.aborted && !stop.aborted ? `no answer within ${timeoutMs}ms` : describeError(err)
    return { ok: false, detail }
  } finally {
    clearTimeout(timer)
    stop.removeEventListener('abort', abort)
  }
}

/**
 * Probes each target of one pool every `interval` ms (counted from the end of the previous
 * probe, so a slow target is never probed twice at once). Timers are unref()ed; `stop()`
 * clears them and aborts probes in flight. Never touches the request path.
 */
export class HealthChecker {
  readonly #targets: readonly CheckedTarget[]
  readonly #settings: HealthCheckSettings
  readonly #listener: HealthListener | undefined
  readonly #stop = new AbortController()
  readonly #timers = new Map<CheckedTarget, NodeJS.Timeout>()

  constructor(targets: readonly CheckedTarget[], settings: HealthCheckSettings, listener?: HealthListener) {
    this.#targets = targets
    this.#settings = settings
    this.#listener = listener
  }

  /** Starts probing; the first probe of each target goes out at once. */
  start(): void {
    for (const target of this.#targets) this.#schedule(target, 0)
  }

  /** Stops for good. */
  stop(): void {
    this.#stop.abort()
    for (const timer of this.#timers.values()) clearTimeout(timer)
    this.#timers.clear()
  }

  #schedule(target: CheckedTarget, delayMs: number): void {
    if (this.#stop.signal.aborted) return
    const timer = setTimeout(() => void this.#check(target), delayMs)
    timer.unref()
    this.#timers.set(target, timer)
  }

  async #check(target: CheckedTarget): Promise<void> {
    const settings = this.#settings
    const result = await probe(target.pool, settings.path, settings.timeout, this.#stop.signal)
    if (this.#stop.signal.aborted) return
    const before = target.activeCheck.state
    const changed = target.activeCheck.record(result.ok, settings)
    this.#schedule(target, settings.interval)
    // A first verdict of healthy is no news; a recovery is.
    if (changed === 'unhealthy' || (changed === 'healthy' && before === 'unhealthy')) {
      try {
        this.#listener?.({ url: target.url, event: changed, reason: result.detail })
      } catch {
        // A failing listener must not stop the checks (nor reject a promise nobody awaits).
      }
    }
  }
}
