import type { AddressInfo } from 'node:net'
import type { Logger } from 'pino'
import type { Reload } from './admin/routes/reload.js'
import { createAdminServer } from './admin/server.js'
import { carryRandomSecret, changedKeys, restartOnlyChanges, type ConfigChanges } from './config/reload.js'
import type { Config } from './config/schema.js'
import { Control } from './control/control.js'
import { Release } from './control/release/release.js'
import { logRelease } from './control/release/start-log.js'
import type { DataPlane } from './dataplane/plane.js'
import { startDataPlane } from './dataplane/start.js'
import { configTargets, startDemoUpstreams } from './demo/demo-upstreams.js'
import { Metrics } from './metrics/metrics.js'
import { CertificateWatcher } from './proxy/certificate-watcher.js'
import { CertificateStore, loadCertificates, type Certificate, type TlsFiles } from './proxy/tls.js'
import { PreviewSigner } from './routing/preview.js'
import { percentToBuckets, type Color } from './routing/types.js'
import { openState } from './state/open.js'
import type { StateStore } from './state/types.js'

/** A running switchyard: proxy, admin API, control loop. */
export interface App {
  readonly proxyUrl: string
  readonly adminUrl: string
  /** The release and its one writer. */
  readonly controller: Release
  readonly metrics: Metrics
  /** Targets each colour points at now. */
  targets(): Record<Color, readonly string[]>
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
  /** Defaults to the file store at `state.file` (or Redis with `state.redis`). */
  readonly store?: StateStore
  /** What POST /v1/reload calls (the CLI's config reloader); without it the route answers 409. */
  readonly reload?: Reload
}

/** The composition root: the only place that wires config, state, release, control, data plane and admin. Wiring only. */
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
    const { store, fleet } = await openState(config, logger, options.store)
    if (fleet !== null) cleanup.push(() => fleet.close())

    const release = new Release(store, {
      logger,
      configTargets: configTargets(config, demo),
      reshuffle: () => config.sticky.reshuffle === 'perRelease',
      drainDeadline: () => config.drain.deadline,
    })
    logRelease(logger, await release.init(percentToBuckets(config.split.green), percentToBuckets(config.mirror.percent)), release, fleet?.link)

    const metrics = new Metrics()
    const started: { plane?: DataPlane } = {}
    const dataPlane = (): DataPlane => started.plane ?? failNotStarted()
    const fleetView =
      fleet === null
        ? null
        : { leads: () => fleet.lease.leads(), status: () => fleet.status(), reports: { shareReport: (json: string) => fleet.shareReport(json), otherReports: () => fleet.otherReports() } }
    const control = new Control({ release, config, logger, metrics, fleet: fleetView, plane: dataPlane, closing: () => closing !== undefined })
    cleanup.push(() => control.close())
    await control.restore()

    // proxy.tls and admin.tls, read and checked here (workers get the PEMs); watched once listening.
    const proxyCertificates = config.proxy.tls === null ? null : await loadCertificates(config.proxy.tls, 'proxy.tls')
    const adminCertificates = config.admin.tls === null ? null : new CertificateStore(await loadCertificates(config.admin.tls, 'admin.tls'))
    const listening = { proxyUrl: '' }
    if (fleet !== null && config.override.previewSecretRandom) {
      logger.warn('override.previewSecret is not set: each replica signs preview links with its own key, so a link opens only on the replica that made it')
    }
    // The same secret as the proxy's router (the config is resolved once), so its links open.
    const preview = { signer: new PreviewSigner(config.override.previewSecret), baseUrl: () => config.override.publicUrl || listening.proxyUrl }
    const admin = createAdminServer({
      control: control.port(),
      token: config.admin.token,
      failedAuthLimit: config.admin.failedAuthLimit,
      logger,
      tls: adminCertificates,
      preview,
      reload: options.reload,
    })
    // Closed after the data plane has drained, so operators can watch the drain.
    cleanup.push(() => admin.close())

    // Alone, each request goes straight into the analysis; in a fleet, counts go through Redis and come back summed.
    const counters = fleet?.counters ?? null
    const startedWith = { table: release.current(), targets: release.targets() }
    const { plane, port, takeOwn } = await startDataPlane({
      config,
      ...startedWith,
      metrics,
      analysis: () => config.rollout.analysis,
      certificates: proxyCertificates,
      logger,
      shadows: (pairs) => control.shadows.add(pairs),
      outcomes: {
        merge: (deltas) => (counters === null ? control.analysis.merge(deltas) : counters.add(deltas)),
        direct: counters === null ? (color, durationMs, isError, ttfbMs, route) => control.analysis.record(color, durationMs, isError, ttfbMs, route) : null,
      },
    })
    started.plane = plane
    cleanup.push(() => plane.close(config.drain.deadline))
    release.attach(plane, startedWith)
    const proxyUrl = urlOf({ address: config.proxy.host, port, family: config.proxy.host.includes(':') ? 'IPv6' : 'IPv4' }, proxyCertificates !== null)
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
    const proxyWatcher = watch(config.proxy.tls, 'proxy.tls', proxyCertificates ?? undefined, (c) => dataPlane().setCertificates(c))
    const adminWatcher = watch(config.admin.tls, 'admin.tls', adminCertificates?.certificates, (c) => adminCertificates?.update(c))

    control.start()
    cleanup.push(async () => control.stop())
    if (fleet !== null) {
      fleet.start(takeOwn, (deltas) => control.analysis.merge(deltas), { own: control.shadows.shareThroughFleet(), merge: (deltas) => control.shadows.merge(deltas) })
      cleanup.push(() => fleet.stopLeading())
    }
    const targets = release.targets()
    logger.info({ proxy: proxyUrl, admin: adminUrl, workers: config.workers, blue: targets.blue, green: targets.green }, 'switchyard ready')

    return {
      proxyUrl,
      adminUrl,
      controller: release,
      metrics,
      targets: () => release.targets(),
      async reload(read: Config, who = 'sighup'): Promise<ConfigChanges> {
        const next = carryRandomSecret(config, read)
        const changes = { changed: changedKeys(config, next), restartRequired: restartOnlyChanges(config, next) }
        await release.reloadTargets(configTargets(next, demo), who)
        dataPlane().setTimeouts(next.timeouts)
        dataPlane().setHealth(next.healthCheck, next.outlierDetection)
        // Re-read even when the paths are the same: SIGHUP is how an operator says "new certificates".
        if (next.proxy.tls !== null) await proxyWatcher?.reload(next.proxy.tls)
        if (next.admin.tls !== null) await adminWatcher?.reload(next.admin.tls)
        if (next.autoRevert.window !== config.autoRevert.window) {
          counters?.setWindow(next.autoRevert.window)
          fleet?.shadowCounters.setWindow(next.autoRevert.window)
        }
        control.reload(next)
        config = next
        // One line per reload, a warning when some changes wait for a restart (restartRequired).
        const now = release.targets()
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
