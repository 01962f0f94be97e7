/**
 * The services of one switchyard (config/services.ts), each its own release: how one is opened
 * (its store, release and control wing), run and stopped, and the admin API's views over all
 * of them. app.ts composes them with the data plane.
 */
import type { Logger } from 'pino'
import type { Config } from '../config/schema.js'
import type { ServiceSpec } from '../config/services.js'
import { configTargets, type DemoUpstreams } from '../demo/demo-upstreams.js'
import type { Metrics } from '../metrics/metrics.js'
import type { WindowDelta } from '../outcomes/window-delta.js'
import { percentToBuckets } from '../routing/types.js'
import type { Fleet } from '../state/redis/fleet.js'
import type { ServiceStates } from '../state/service-states.js'
import { Control, type PlaneReader } from './control.js'
import type { ControlPort, ServicesPort, ServiceView } from './port.js'
import { Release } from './release/release.js'
import { splitView } from './release/transitions.js'
import { serviceView } from './service-view.js'
import { logRelease } from './release/start-log.js'

/** One service's running parts: its release, its control wing, its fleet membership. */
export interface Service {
  spec: ServiceSpec
  readonly release: Release
  readonly control: Control
  readonly port: ControlPort
  readonly fleet: Fleet | null
  readonly logger: Logger
}

/** What starting a service needs from the app around it. */
export interface ServiceContext {
  readonly states: ServiceStates
  readonly metrics: Metrics
  readonly several: boolean
  readonly demo: DemoUpstreams | undefined
  readonly logger: Logger
  readonly plane: (name: string) => PlaneReader
  readonly closing: () => boolean
}

/** Opens a service's store, restores its release and builds its control wing (not yet started). */
export async function openService(spec: ServiceSpec, ctx: ServiceContext): Promise<Service> {
  const logger = ctx.several ? ctx.logger.child({ service: spec.name }) : ctx.logger
  const { store, fleet } = await ctx.states.open(spec.name, spec.config.autoRevert.window)
  const release = new Release(store, {
    logger,
    configTargets: configTargets(spec.config, ctx.demo),
    reshuffle: () => service.spec.config.sticky.reshuffle === 'perRelease',
    drainDeadline: () => service.spec.config.drain.deadline,
  })
  logRelease(logger, await release.init(percentToBuckets(spec.config.split.green), percentToBuckets(spec.config.mirror.percent)), release, fleet?.link)
  const fleetView =
    fleet === null
      ? null
      : { leads: () => fleet.lease.leads(), status: () => fleet.status(), reports: { shareReport: (json: string) => fleet.shareReport(json), otherReports: () => fleet.otherReports() } }
  const control = new Control({
    release,
    config: spec.config,
    logger,
    metrics: ctx.several ? ctx.metrics.service(spec.name) : ctx.metrics,
    fleet: fleetView,
    plane: () => ctx.plane(spec.name),
    closing: ctx.closing,
    service: ctx.several ? spec.name : undefined,
  })
  await control.restore()
  const service: Service = { spec, release, control, port: control.port(), fleet, logger }
  return service
}

/** Starts a service's control loop and fleet exchange once its lane routes; returns how to stop them (not close). */
export function runService(service: Service, takeOwn: (() => WindowDelta[]) | undefined): () => Promise<void> {
  const { control, fleet } = service
  control.start()
  if (fleet !== null) {
    fleet.start(takeOwn, (deltas) => control.analysis.merge(deltas), { own: control.shadows.shareThroughFleet(), merge: (deltas) => control.shadows.merge(deltas) })
  }
  return async () => {
    control.stop()
    await fleet?.stopLeading()
  }
}

/** The admin API's view of every service: the configured ones, and those only stored. */
export function servicesPort(services: () => ReadonlyMap<string, Service>, config: () => Config, states: ServiceStates): ServicesPort {
  const view = (s: Service) => serviceView(s.spec.name, s.spec.match, s.port)
  return {
    names: () => [...services().keys()],
    port: (name) => services().get(name)?.port,
    defaultService: () => config().proxy.defaultService,
    list: async () => {
      const configured = await Promise.all([...services().values()].map(view))
      const stored = (await states.stored()).filter((name) => !services().has(name))
      // A removed service as it was left: its stored split, rollout phase and mirror share.
      const removed = await Promise.all(
        stored.map(async (name): Promise<ServiceView> => {
          const kept = await (await states.open(name)).store.load().catch(() => null)
          return {
            name,
            configured: false,
            split: kept === null ? null : splitView(kept.split),
            phase: kept?.rollout?.phase ?? 'idle',
            mirror: (kept?.mirror?.buckets ?? 0) / 100,
          }
        }),
      )
      return [...configured, ...removed]
    },
    forget: async (name) => {
      if (!(await states.stored()).includes(name)) return false
      await states.forget(name)
      return true
    },
  }
}

/** The whole switchyard's port for what is not one service's: status of all, liveness, readiness, metrics. */
export function globalPort(services: () => ReadonlyMap<string, Service>, metrics: Metrics, plane: ServiceContext['plane']): ControlPort {
  const all = () => [...services().values()]
  const first = () => services().get('default') ?? all()[0]!
  return {
    ...first().port,
    status: async () => {
      const each = await Promise.all(all().map(async (s) => [s.spec.name, await s.port.status()] as const))
      const own = services().get('default') === undefined ? {} : Object.fromEntries(each).default
      return { ...own, services: Object.fromEntries(each) }
    },
    liveness: () => {
      const each = all().map((s) => s.port.liveness())
      return each.find((l) => l.status !== 'ok') ?? each[0] ?? { status: 'ok' }
    },
    notReadyBecause: () => all().map((s) => s.port.notReadyBecause()).find((reason) => reason !== null) ?? null,
    metricsText: async () => {
      // Every plane answers the same workers' whole registries (every service's series): ask one.
      const [remote] = await Promise.all([plane(first().spec.name).remoteMetrics(), ...all().map((s) => s.port.refreshMetrics())])
      return metrics.text(remote)
    },
    metricsContentType: metrics.registry.contentType,
  }
}

