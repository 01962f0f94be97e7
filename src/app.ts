import type { AddressInfo } from 'node:net'
import type { Logger } from 'pino'
import type { Reload } from './admin/routes/reload.js'
import { createAdminServer } from './admin/server.js'
import { carryRandomSecret, changedKeys, restartOnlyChanges, type ConfigChanges } from './config/reload.js'
import type { Config } from './config/schema.js'
import { servicesOf, type ServiceSpec } from './config/services.js'
import { globalPort, openService, runService, servicesPort, type Service, type ServiceContext } from './control/services.js'
import type { Release } from './control/release/release.js'
import type { DataPlane } from './dataplane/plane.js'
import { ClusterServicesDataPlane } from './dataplane/cluster/services-primary.js'
import { ServicesDataPlane, type ServiceInput } from './dataplane/services.js'
import { startDataPlane } from './dataplane/start.js'
import { configTargets, startDemoUpstreams } from './demo/demo-upstreams.js'
import { Metrics } from './metrics/metrics.js'
import { CertificateWatcher } from './proxy/certificate-watcher.js'
import { CertificateStore, loadCertificates, type Certificate, type TlsFiles } from './proxy/tls.js'
import { PreviewSigner } from './routing/preview.js'
import type { Color } from './routing/types.js'
import type { WindowDelta } from './outcomes/window-delta.js'
import { openServiceStates } from './state/service-states.js'
import type { StateStore } from './state/types.js'

/** A running switchyard: proxy, admin API, control loop. */
export interface App {
  readonly proxyUrl: string
  readonly adminUrl: string
  /** The release and its one writer (with several services: `default`'s, else the first one's). */
  readonly controller: Release
  readonly metrics: Metrics
  /** Targets each colour points at now (of the service `controller` is). */
  targets(): Record<Color, readonly string[]>
  /** One service's release, by name; undefined when no such service is configured. */
  service(name: string): Release | undefined
  /**
   * Applies a re-read config: targets, timeouts and thresholds; the live split stays. Says what
   * changed, and logs it as `who`'s action (the caller of POST /v1/reload, or `sighup`).
   */
  reload(config: Config, who?: string): Promise<ConfigChanges>
  /** Stops accepting, lets in-flight work finish up to drain.deadline, then closes everything. */
  close(): Promise<void>
}

export interface AppOptions {
  readonly logger: Logger
  /** Defaults to the file store at `state.file` (or Redis with `state.redis`); serves the `default` service. */
  readonly store?: StateStore
  /** What POST /v1/reload calls (the CLI's config reloader); without it the route answers 409. */
  readonly reload?: Reload
}

/** The lane inputs of a service for the several-services data plane. */
function laneInput(service: Service, metrics: Metrics): ServiceInput {
  const { control, fleet, release } = service
  return {
    spec: service.spec,
    targets: release.targets(),
    table: release.current(),
    metrics: metrics.service(service.spec.name),
    shadows: (pairs) => control.shadows.add(pairs),
    // Alone, each request goes straight into the analysis; in a fleet, counts go through Redis and come back summed.
    record: fleet === null ? (color, durationMs, isError, ttfbMs, route) => control.analysis.record(color, durationMs, isError, ttfbMs, route) : null,
    // Proxy workers report batches instead: into the analysis, or to the fleet's counters.
    merge: (deltas) => (fleet === null ? control.analysis.merge(deltas) : fleet.counters.add(deltas)),
  }
}

/** The composition root: the only place that wires config, state, releases, control, data plane and admin. Wiring only. */
export async function startApp(initial: Config, options: AppOptions): Promise<App> {
  const { logger } = options
  let config = initial
  const cleanup: (() => Promise<void>)[] = []
  let closing: Promise<void> | undefined
  try {
    const demo = config.demo === null ? undefined : await startDemoUpstreams(config.demo)
    if (demo !== undefined) {
      cleanup.push(() => demo.close())
      logger.info({ blue: demo.urls.blue, green: demo.urls.green }, 'demo upstreams listening (blue answers v1, green v2)')
    }
    const states = await openServiceStates(config, logger, options.store)
    cleanup.push(() => states.close())

    // Several services: a `service` label on their metrics, a data plane of lanes (in this process or in each worker).
    const several = config.services !== null
    const metrics = new Metrics({ services: several })
    const planes = new Map<string, DataPlane>()
    const ctx: ServiceContext = {
      states,
      metrics,
      several,
      demo,
      logger,
      plane: (name) => planes.get(name) ?? failNotStarted(),
      closing: () => closing !== undefined,
    }
    let services = new Map<string, Service>()
    cleanup.push(async () => {
      for (const service of services.values()) await service.control.close()
    })
    for (const spec of servicesOf(config)) services.set(spec.name, await openService(spec, ctx))
    const main = () => services.get('default') ?? [...services.values()][0]!

    // proxy.tls and admin.tls, read and checked here (workers get the PEMs); watched once listening.
    const proxyCertificates = config.proxy.tls === null ? null : await loadCertificates(config.proxy.tls, 'proxy.tls')
    const adminCertificates = config.admin.tls === null ? null : new CertificateStore(await loadCertificates(config.admin.tls, 'admin.tls'))
    const listening = { proxyUrl: '' }
    if (config.state.redis !== null && config.override.previewSecretRandom) {
      logger.warn('override.previewSecret is not set: each replica signs preview links with its own key, so a link opens only on the replica that made it')
    }
    // The same secret as the proxy's routers (the config is resolved once), so its links open.
    const preview = { signer: new PreviewSigner(config.override.previewSecret), baseUrl: () => config.override.publicUrl || listening.proxyUrl }
    const admin = createAdminServer({
      control: several ? globalPort(() => services, metrics, ctx.plane) : main().port,
      services: several ? servicesPort(() => services, () => config, states) : undefined,
      token: config.admin.token,
      scopedTokens: config.admin.tokens,
      failedAuthLimit: config.admin.failedAuthLimit,
      logger,
      tls: adminCertificates,
      preview,
      reload: options.reload,
    })
    // Closed after the data plane has drained, so operators can watch the drain.
    cleanup.push(() => admin.close())

    let lanes: ServicesDataPlane | ClusterServicesDataPlane | undefined
    let proxyPort: number
    const takeOwn = new Map<string, (() => WindowDelta[]) | undefined>()
    if (!several) {
      const service = main()
      const { release, control, fleet } = service
      // Alone, each request goes straight into the analysis; in a fleet, counts go through Redis and come back summed.
      const counters = fleet?.counters ?? null
      const startedWith = { table: release.current(), targets: release.targets() }
      const started = await startDataPlane({
        config,
        ...startedWith,
        metrics,
        analysis: () => service.spec.config.rollout.analysis,
        certificates: proxyCertificates,
        logger,
        shadows: (pairs) => control.shadows.add(pairs),
        outcomes: {
          merge: (deltas) => (counters === null ? control.analysis.merge(deltas) : counters.add(deltas)),
          direct: counters === null ? (color, durationMs, isError, ttfbMs, route) => control.analysis.record(color, durationMs, isError, ttfbMs, route) : null,
        },
      })
      planes.set(service.spec.name, started.plane)
      cleanup.push(() => started.plane.close(config.drain.deadline))
      release.attach(started.plane, startedWith)
      takeOwn.set(service.spec.name, started.takeOwn)
      proxyPort = started.port
    } else {
      const inputs = [...services.values()].map((s) => laneInput(s, metrics))
      const started = await (config.workers > 1 ? ClusterServicesDataPlane : ServicesDataPlane).start(config, inputs, logger, proxyCertificates)
      lanes = started
      cleanup.push(() => started.close(config.drain.deadline))
      for (const input of inputs) {
        const name = input.spec.name
        planes.set(name, started.plane(name))
        services.get(name)!.release.attach(started.plane(name), { table: input.table, targets: input.targets })
        takeOwn.set(name, started.takeOwn(name))
      }
      proxyPort = started.port
    }
    const proxyUrl = urlOf({ address: config.proxy.host, port: proxyPort, family: config.proxy.host.includes(':') ? 'IPv6' : 'IPv4' }, proxyCertificates !== null)
    listening.proxyUrl = proxyUrl

    await admin.listen({ port: config.admin.port, host: config.admin.host })
    const adminUrl = urlOf(admin.server.address() as AddressInfo, adminCertificates !== null)

    // Certificates follow their files (a change on disk, or SIGHUP through reload).
    const watch = (files: readonly TlsFiles[] | null, key: string, current: readonly Certificate[] | undefined, apply: (c: readonly Certificate[]) => void) => {
      if (files === null || current === undefined) return undefined
      const watcher = new CertificateWatcher({ files, key, current, apply, logger })
      watcher.start()
      cleanup.push(async () => watcher.close())
      return watcher
    }
    const proxyWatcher = watch(config.proxy.tls, 'proxy.tls', proxyCertificates ?? undefined, (c) => planes.get(main().spec.name)?.setCertificates(c))
    const adminWatcher = watch(config.admin.tls, 'admin.tls', adminCertificates?.certificates, (c) => adminCertificates?.update(c))

    const stops = new Map<string, () => Promise<void>>()
    for (const service of services.values()) stops.set(service.spec.name, runService(service, takeOwn.get(service.spec.name)))
    cleanup.push(async () => {
      for (const stop of stops.values()) await stop()
    })
    const targets = main().release.targets()
    logger.info(
      { proxy: proxyUrl, admin: adminUrl, workers: config.workers, blue: targets.blue, green: targets.green, ...(several ? { services: [...services.keys()] } : {}) },
      'switchyard ready',
    )

    /** Applies one kept service's new effective config: its targets, timeouts, health, thresholds. */
    const reloadService = async (service: Service, next: ServiceSpec, who: string) => {
      const before = service.spec.config
      await service.release.reloadTargets(configTargets(next.config, demo), who)
      const plane = planes.get(next.name)!
      plane.setTimeouts(next.config.timeouts)
      plane.setHealth(next.config.healthCheck, next.config.outlierDetection)
      if (next.config.autoRevert.window !== before.autoRevert.window) {
        service.fleet?.counters.setWindow(next.config.autoRevert.window)
        service.fleet?.shadowCounters.setWindow(next.config.autoRevert.window)
      }
      service.control.reload(next.config)
      service.spec = next
    }

    /** Several services: starts those new in `next`, stops (but keeps the stored state of) those gone. */
    const changeServices = async (next: Config, who: string) => {
      const specs = servicesOf(next)
      const kept = new Map<string, Service>()
      const added: Service[] = []
      for (const spec of specs) {
        const running = services.get(spec.name)
        if (running !== undefined) {
          await reloadService(running, spec, who)
          kept.set(spec.name, running)
        } else {
          const service = await openService(spec, ctx)
          kept.set(spec.name, service)
          added.push(service)
        }
      }
      const removed = [...services.values()].filter((s) => !kept.has(s.spec.name))
      const inputs = new Map(added.map((s) => [s.spec.name, laneInput(s, metrics)] as const))
      lanes!.setServices(next, specs, inputs)
      for (const service of added) {
        const name = service.spec.name
        planes.set(name, lanes!.plane(name))
        const input = inputs.get(name)!
        service.release.attach(lanes!.plane(name), { table: input.table, targets: input.targets })
        stops.set(name, runService(service, lanes!.takeOwn(name)))
        logger.info({ action: 'reload', who, service: name, match: service.spec.match }, 'service added')
      }
      services = kept
      for (const service of removed) {
        const name = service.spec.name
        await stops.get(name)?.()
        await service.control.close()
        stops.delete(name)
        planes.delete(name)
        logger.info({ action: 'reload', who, service: name }, 'service removed from the config: its lane closes once its requests finish; its stored state stays until DELETE /v1/services/' + name)
      }
    }

    return {
      proxyUrl,
      adminUrl,
      get controller() {
        return main().release
      },
      metrics,
      targets: () => main().release.targets(),
      service: (name) => services.get(name)?.release,
      async reload(read: Config, who = 'sighup'): Promise<ConfigChanges> {
        const next = carryRandomSecret(config, read)
        const changes = { changed: changedKeys(config, next), restartRequired: restartOnlyChanges(config, next) }
        // Going from one service to several (or back) waits for a restart (config/reload.ts).
        if (several === (next.services !== null)) {
          if (several) await changeServices(next, who)
          else await reloadService(main(), servicesOf(next)[0]!, who)
        }
        lanes?.setHeaderTimeout(next)
        // Re-read even when the paths are the same: SIGHUP is how an operator says "new certificates".
        if (next.proxy.tls !== null) await proxyWatcher?.reload(next.proxy.tls)
        if (next.admin.tls !== null) await adminWatcher?.reload(next.admin.tls)
        config = next
        // One line per reload, a warning when some changes wait for a restart (restartRequired).
        const now = main().release.targets()
        const line = { action: 'reload', who, why: null, ...changes, blue: now.blue, green: now.green, timeouts: next.timeouts }
        if (changes.restartRequired.length > 0) logger.warn(line, 'config reloaded')
        else logger.info(line, 'config reloaded')
        return changes
      },
      close(): Promise<void> {
        closing ??= runCleanup(cleanup)
        return closing
      },
    }
  } catch (err) {
    await runCleanup(cleanup)
    throw err
  }
}

function urlOf(address: Pick<AddressInfo, 'address' | 'port' | 'family'>, tls = false): string {
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
  return `${tls ? 'https' : 'http'}://${host === '0.0.0.0' ? '127.0.0.1' : host === '[::]' ? '[::1]' : host}:${address.port}`
}

function failNotStarted(): never {
  throw new Error('the data plane is not started yet')
}

async function runCleanup(steps: (() => Promise<void>)[]): Promise<void> {
  for (const step of steps.reverse()) {
    await step().catch(() => undefined)
  }
}
