import type { Logger } from 'pino'
import type { Config } from '../config/schema.js'
import type { MetricsOfService as Metrics } from '../metrics/metrics.js'
import type { ConnectionCounts } from '../proxy/proxy-state.js'
import type { TargetHealth } from '../proxy/types.js'
import type { Color } from '../routing/types.js'
import { sameData } from '../state/same-data.js'
import type { FleetStatus } from '../state/redis/fleet.js'
import { ReleaseAnalysis } from './analysis/release-analysis.js'
import { AutoRevert } from './auto-revert.js'
import { LiveFeed } from './live-feed.js'
import { ShadowJudge } from './mirror/shadow-judge.js'
import { MirrorDesk, type ReportExchange } from './mirror/mirror-desk.js'
import { callerName, type ControlPort, type EventQuery, type RolloutAction } from './port.js'
import type { AuditEvent } from '../state/types.js'
import type { Release } from './release/release.js'
import { splitView } from './release/transitions.js'
import type { RolloutPlan } from './rollout/plan.js'
import { RolloutController } from './rollout/rollout.js'
import { WebhookNotifier } from './webhooks.js'

/** The data plane as the control side reads it (dataplane/ implements it). */
export interface PlaneReader {
  health(): Promise<Record<Color, readonly TargetHealth[]>>
  inFlight(): Promise<Record<Color, number>>
  connections(): Promise<Record<Color, ConnectionCounts>>
  workers(): Promise<readonly unknown[]>
  remoteMetrics(): Promise<object[]>
}

/** The fleet as the control side sees it: the lease that picks who drives, and the store's health. */
export interface FleetView {
  leads(): boolean
  status(): FleetStatus
  /** Mirror reports shared through the fleet, for the fleet's sum. */
  readonly reports?: ReportExchange
}

export interface ControlOptions {
  readonly release: Release
  readonly config: Config
  readonly logger: Logger
  readonly metrics: Metrics
  /** null with the state file (one node). */
  readonly fleet: FleetView | null
  /** The data plane, once it is started. */
  readonly plane: () => PlaneReader
  /** True once the process is stopping (SIGTERM): /readyz says not ready. */
  readonly closing: () => boolean
  /** The service's name when the switchyard fronts several: webhooks then say which service an event is of. */
  readonly service?: string | undefined
}

/**
 * The control wing of one release: its analysis, auto-revert, rollouts and webhooks, wired to
 * the release's one writer, and the port the admin API drives it through. Nothing here runs
 * on the request path.
 */
export class Control {
  readonly analysis: ReleaseAnalysis
  /** Shadow pairs compared, reported and judged (a rollout's mirror stage). */
  readonly shadows: ShadowJudge
  readonly rollouts: RolloutController
  readonly #autoRevert: AutoRevert
  readonly #o: ControlOptions
  #config: Config
  #webhooks: WebhookNotifier
  /** Listeners of the live event stream (GET /v1/events/stream). */
  readonly #streams = new Set<(event: AuditEvent) => void>()
  /** The stream-only frames: live stats and health changes. */
  readonly #live: LiveFeed
  /** What the admin API reads of mirroring. */
  readonly #mirror: MirrorDesk

  constructor(options: ControlOptions) {
    this.#o = options
    const { release, logger, metrics, fleet } = options
    this.#config = options.config
    const config = () => this.#config
    this.analysis = new ReleaseAnalysis(config().autoRevert.window, config().rollout.analysis)
    this.shadows = new ShadowJudge(config(), metrics, logger)
    this.#mirror = new MirrorDesk({ release, shadows: this.shadows, config, fleet: fleet?.reports ?? null, logger })
    this.#webhooks = this.#notifier(config())
    const leads = fleet === null ? {} : { leads: () => fleet.leads() }
    this.#autoRevert = new AutoRevert({
      release,
      evidence: () => this.analysis.evidence,
      window: () => this.analysis.window,
      settings: config().autoRevert,
      analysis: () => config().rollout.analysis,
      logger,
      // Both colours fail together: say so once, and hold a rollout where it is.
      onSharedDegradation: async (reason) => {
        if (release.rollout()?.phase === 'progressing') await this.rollouts.pause('auto-revert', `shared degradation: ${reason}`).catch(() => undefined)
        await release
          .record({ type: 'degradation', from: null, to: null, source: 'auto-revert', reason })
          .catch((err: unknown) => logger.warn({ err: String(err), reason }, 'the shared-degradation event could not be stored'))
      },
      ...leads,
    })
    this.rollouts = new RolloutController({
      release,
      evidence: () => this.analysis.evidence,
      window: () => this.analysis.window,
      shadow: { evidence: () => this.shadows.analysis.evidence, window: () => this.shadows.analysis.window },
      ceilingVsBlue: () => config().autoRevert.ceilingVsBlue,
      settings: () => config().rollout,
      logger,
      ...leads,
      reshuffle: () => config().sticky.reshuffle === 'perRelease',
    })
    // New green targets are a new release: a rollout's analysis starts over.
    release.onNewGreen(() => this.rollouts.restartForNewTargets())
    this.analysis.follow(release)
    this.shadows.follow(release)

    metrics.setSplit(release.state().greenBuckets)
    this.#live = new LiveFeed({
      window: () => this.analysis.window,
      plane: () => options.plane(),
      greenBuckets: () => release.state().greenBuckets,
      rollout: () => this.rollouts.view(),
      fleet: () => fleet?.status() ?? null,
      logger,
    })
    release.onChange((state, event, origin) => {
      metrics.setSplit(state.greenBuckets)
      // Every replica streams every event of the release (a stand-in for an adopted change has no id and is not one).
      if (event.id !== undefined) for (const listener of this.#streams) listener(event)
      // Counted, and told to the webhooks, where the change was made: a fleet's sum counts each change once.
      if (origin === 'remote') return
      if (event.type !== 'targets') metrics.splitChanged(event.source)
      if (event.type === 'revert') metrics.reverted()
      // Off the request path: the notifier queues and delivers in the background.
      this.#webhooks.notify(event.type, { ...event, split: splitView(state), rollout: this.rollouts.view() })
    })
  }

  /** Continues a stored rollout (alone: a restart restarts the step's hold; in a fleet the others went on holding it). */
  async restore(): Promise<void> {
    if (this.#o.fleet === null) await this.rollouts.restore()
  }

  start(): void {
    this.#autoRevert.start()
    this.rollouts.start()
    this.#mirror.start()
  }

  /** Stops judging and stepping (the process is stopping). */
  stop(): void {
    this.#mirror.stop()
    this.#autoRevert.stop()
    this.rollouts.stop()
    this.#live.stop()
  }

  /** Delivers what the webhooks still have queued, for up to 5 s. */
  close(): Promise<void> {
    this.stop()
    return this.#webhooks.close(5_000)
  }

  /** A re-read config: thresholds, analysis settings, the window's length and the webhooks apply from now on. */
  reload(next: Config): void {
    const before = this.#config
    this.#config = next
    this.analysis.configure(next.autoRevert.window, next.rollout.analysis, next.autoRevert.window !== before.autoRevert.window)
    this.shadows.configure(next, next.autoRevert.window !== before.autoRevert.window)
    this.#autoRevert.configure(next.autoRevert)
    if (!sameData(next.webhooks, before.webhooks)) {
      void this.#webhooks.close(5_000)
      this.#webhooks = this.#notifier(next)
    }
  }

  /** The door the admin API uses. */
  port(): ControlPort {
    const { release, metrics, fleet, plane, closing } = this.#o
    const rollouts = this.rollouts
    const view = () => rollouts.view()
    const refreshMetrics = async () => {
      metrics.setTargetHealth(await plane().health())
      if (fleet !== null) metrics.setStateConnected(fleet.status().connected)
    }
    return {
      split: () => splitView(release.state()),
      setSplit: async ({ caller, ...request }) => {
        const { value, propagated } = await release.setSplit({ ...request, source: 'api', who: callerName(caller) })
        // Answered once every proxy process routes with the new split.
        await propagated
        return splitView(value)
      },
      mirror: () => this.#mirror.view(),
      setMirror: async (buckets, reason, caller) => {
        const { propagated } = await release.setMirror(buckets, { source: 'api', reason, who: callerName(caller) })
        // Answered once every proxy process samples with the new share.
        await propagated
        return this.#mirror.view()
      },
      mirrorReport: (scope) => this.#mirror.report(scope),
      resetMirrorReport: () => this.shadows.reset(),
      upstreams: () => plane().health(),
      setTargets: async (color, targets, reason, caller) => {
        await release.setTargets(color, targets, { source: 'api', reason, who: callerName(caller) })
        return (await plane().health())[color]
      },
      rollout: view,
      startRollout: async (plan: RolloutPlan, reason, force, caller) => {
        await rollouts.begin(plan, 'api', reason, force, callerName(caller))
        await release.propagated()
        return view()
      },
      rolloutAction: async (action: RolloutAction, reason, caller) => {
        const who = callerName(caller)
        if (action === 'abort') await rollouts.abort('api', reason ?? 'aborted by an operator', who)
        else if (action === 'promote-step') await rollouts.promoteStep('api', reason, who)
        else if (action === 'skip-analysis') await rollouts.skipAnalysis('api', reason, who)
        else await rollouts[action]('api', reason, who)
        await release.propagated()
        return view()
      },
      status: async () => {
        const p = plane()
        const [inFlight, connections, upstreams, workers] = await Promise.all([p.inFlight(), p.connections(), p.health(), p.workers()])
        const state = fleet?.status() ?? null
        const settings = this.#config.autoRevert
        const windows = this.analysis.window.all()
        return {
          status: state?.state ?? 'ok',
          split: splitView(release.state()),
          state: state ?? { store: 'file', file: this.#config.state.file },
          window: { seconds: settings.window / 1000, blue: windows.blue, green: windows.green },
          autoRevert: settings,
          evidence: this.analysis.view(),
          mirror: this.#mirror.view(),
          inFlight,
          connections,
          upstreams,
          workers,
          rollout: view(),
        }
      },
      events: (query = {}) => selectEvents(release.events(), query),
      subscribe: (listener) => {
        this.#streams.add(listener)
        return () => void this.#streams.delete(listener)
      },
      live: (listener, options) => this.#live.subscribe(listener, options),
      liveness: () => {
        // 200 while this process serves traffic, also when degraded: the proxy keeps routing with
        // its last split while Redis is away, so a load balancer must not take it out for that.
        const state = fleet?.status() ?? null
        if (state === null) return { status: 'ok' }
        const detail = !state.connected
          ? `shared store unreachable since ${state.since}: ${state.lastError ?? 'connecting'}; routing with the last known split, changes refused`
          : state.state === 'ok'
            ? 'connected to the shared store'
            : `${state.lastError ?? 'the shared state cannot be read'}; routing with the last known split, changes refused`
        return { status: state.state, detail: { state: detail, store: state } }
      },
      // Not ready while stopping, nor while a fleet replica has never read the fleet's split (it
      // would route users with its config's split, unlike the others).
      notReadyBecause: () =>
        closing()
          ? 'stopping: draining the requests in flight'
          : release.startedOffline()
            ? "started without the fleet's split (the shared store has not answered yet); routing with the config's split"
            : null,
      metricsText: async () => {
        const [, remote] = await Promise.all([refreshMetrics(), plane().remoteMetrics()])
        return metrics.text(remote)
      },
      refreshMetrics,
      metricsContentType: metrics.registry.contentType,
    }
  }

  #notifier(config: Config): WebhookNotifier {
    return new WebhookNotifier({
      hooks: config.webhooks,
      logger: this.#o.logger,
      onDelivery: (result, event) => this.#o.metrics.webhook(result, event),
      service: this.#o.service,
    })
  }
}

/** The events of `log` (newest first) that `query` asks for. */
export function selectEvents(log: readonly AuditEvent[], query: EventQuery): readonly AuditEvent[] {
  const { types, since, limit } = query
  const after =
    since === undefined
      ? () => true
      : typeof since === 'number'
        ? (e: AuditEvent) => e.id !== undefined && e.id > since
        : (e: AuditEvent) => Date.parse(e.at) > Date.parse(since)
  const picked = log.filter((e) => (types === undefined || types.includes(e.type)) && after(e))
  return limit === undefined ? picked : picked.slice(0, limit)
}
