import type { AddressInfo } from 'node:net'
import type { Logger } from 'pino'
import type { Config } from './config/schema.js'
import { createAdminServer } from './admin/admin-server.js'
import { AutoRevert } from './control/auto-revert.js'
import { ClusterDataPlane } from './dataplane/cluster/primary.js'
import { ErrorWindow } from './control/analysis/error-window.js'
import { countsAsError, WindowRecorder, type WindowDelta } from './outcomes/window-delta.js'
import { Evidence } from './control/analysis/evidence.js'
import { evidenceView, followRelease } from './control/analysis/follow-release.js'
import { PreviewSigner } from './routing/preview.js'
import { Fleet } from './state/redis/fleet.js'
import { RouteGroups } from './outcomes/route-groups.js'
import { RolloutController } from './control/rollout/rollout.js'
import { WebhookNotifier } from './control/webhooks.js'
import { splitView } from './admin/admin-server.js'
import { FileStateStore } from './state/file-store.js'
import { SplitController } from './control/release/split-controller.js'
import type { StateStore } from './state/types.js'
import { startDemoUpstreams, type DemoUpstreams } from './demo/demo-upstreams.js'
import { Metrics } from './metrics/metrics.js'
import { buildProxy, localDataPlane, type DataPlane } from './dataplane/plane.js'
import type { ErrorKind, OutcomeSink } from './proxy/types.js'
import { CertificateWatcher } from './proxy/certificate-watcher.js'
import { CertificateStore, loadCertificates, type Certificate } from './proxy/tls.js'
import { COLORS, percentToBuckets, type Color } from './routing/types.js'

/** A running switchyard: proxy, admin API, control loop. */
export interface App {
  readonly proxyUrl: string
  readonly adminUrl: string
  readonly controller: SplitController
  readonly metrics: Metrics
  /** Targets each colour points at now. */
  targets(): Record<Color, readonly string[]>
  /** Applies a re-read config: targets, timeouts and thresholds; the live split stays. */
  reload(config: Config): Promise<void>
  /** Stops accepting, lets in-flight work finish up to drain.deadline, then closes everything. */
  close(): Promise<void>
}

export interface AppOptions {
  readonly logger: Logger
  /** Defaults to the file store at `state.file`. */
  readonly store?: StateStore
}

function urlOf(address: Pick<AddressInfo, 'address' | 'port' | 'family'>, tls = false): string {
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
  return `${tls ? 'https' : 'http'}://${host === '0.0.0.0' ? '127.0.0.1' : host === '[::]' ? '[::1]' : host}:${address.port}`
}

/** The composition root: the only place that wires config, routing, proxy, control, admin and metrics. */
export async function startApp(initial: Config, options: AppOptions): Promise<App> {
  const { logger } = options
  let config = initial
  const cleanup: (() => Promise<void>)[] = []
  let closing: Promise<void> | undefined
  try {
    let demo: DemoUpstreams | undefined
    // Set once the proxy listens: where preview links point when override.publicUrl is not set.
    const listening = { proxyUrl: '' }
    if (config.demo !== null) {
      demo = await startDemoUpstreams(config.demo)
      cleanup.push(() => demo!.close())
      logger.info({ blue: demo.urls.blue, green: demo.urls.green }, 'demo upstreams listening (blue answers v1, green v2)')
    }
    const targetsOf = (c: Config): Record<Color, readonly string[]> => ({
      blue: c.upstreams.blue.targets.length > 0 || demo === undefined ? c.upstreams.blue.targets : [demo.urls.blue],
      green: c.upstreams.green.targets.length > 0 || demo === undefined ? c.upstreams.green.targets : [demo.urls.green],
    })
    // The config's targets; the state may hold API-set targets over them (see effectiveTargets).
    let configTargets = targetsOf(config)

    // Fleet mode: the split, the audit log, the window counters and the rollout lease live in Redis.
    const fleet = config.state.redis === null || options.store !== undefined ? null : await Fleet.connect(config.state.redis, config.autoRevert.window, logger)
    if (fleet !== null) cleanup.push(() => fleet.close())
    const store: StateStore = options.store ?? fleet?.store ?? new FileStateStore(config.state.file)
    const controller = new SplitController(store, { logger })
    const { restored, offline } = await controller.init(percentToBuckets(config.split.green))
    const split = controller.state()
    if (offline !== undefined) {
      logger.warn(
        { green: split.greenBuckets / 100, redis: fleet?.link.where, reason: offline },
        fleet?.link.connected === true
          ? 'the shared state in Redis cannot be read at start: routing with the config split until it can (see /healthz)'
          : 'Redis is unreachable at start: routing with the config split until it answers, then adopting the stored split',
      )
    } else {
      logger.info(
        { green: split.greenBuckets / 100, generation: split.generation, restored, store: fleet === null ? 'file' : 'redis' },
        restored ? 'split restored from the state (config split.green is only the first-start value)' : 'split seeded from config',
      )
    }

    // API-set targets apply while the config still lists the targets they were set over; in a
    // fleet they are shared, so every replica points a colour at the same release.
    const effectiveTargets = (color: Color): readonly string[] => {
      const override = controller.targetOverrides()[color]
      return override !== undefined && sameList(override.over, configTargets[color]) ? override.targets : configTargets[color]
    }
    const targets: Record<Color, readonly string[]> = { blue: effectiveTargets('blue'), green: effectiveTargets('green') }
    for (const color of COLORS) {
      if (!sameList(targets[color], configTargets[color])) {
        logger.info({ color, targets: targets[color], config: configTargets[color] }, `${color} follows the targets set through the admin API, not the config's`)
      }
    }

    const metrics = new Metrics()
    metrics.setSplit(split.greenBuckets)
    controller.onChange((state, event, origin) => {
      metrics.setSplit(state.greenBuckets)
      // Counted where the change was made, so a fleet's sum counts each change once.
      if (origin === 'remote') return
      if (event.type !== 'targets') metrics.splitChanged(event.source)
      if (event.type === 'revert') metrics.reverted()
    })

    const webhookOptions = (c: Config) => ({
      hooks: c.webhooks,
      logger,
      onDelivery: (result: 'delivered' | 'failed', event: string) => metrics.webhook(result, event),
    })
    let webhooks = new WebhookNotifier(webhookOptions(config))
    cleanup.push(() => webhooks.close(5_000))

    let window = new ErrorWindow(config.autoRevert.window)
    // Outcomes since the last conclusive rollout check.
    // The release's body of evidence, green against blue, shared by auto-revert and rollouts.
    const evidence = new Evidence(config.rollout.analysis)
    const merge = (deltas: readonly WindowDelta[]) => {
      for (const delta of deltas) {
        window.merge(delta)
        evidence.merge(delta)
      }
    }
    // In a fleet this replica's outcomes go to Redis, and the window takes the fleet's sums back.
    const counters = fleet?.counters ?? null
    // Assigned below, once the proxy (or its workers) listens; the admin API reads it lazily.
    let plane: DataPlane | undefined
    const dataPlane = (): DataPlane => {
      if (plane === undefined) throw new Error('the data plane is not started yet')
      return plane
    }

    const autoRevert = new AutoRevert({
      controller,
      evidence: () => evidence,
      window: () => window,
      settings: config.autoRevert,
      analysis: () => config.rollout.analysis,
      logger,
      // Both colours fail together: say so once, and hold a rollout where it is.
      onSharedDegradation: async (reason) => {
        const r = controller.rollout()
        if (r?.phase === 'progressing') await rollouts.pause('auto-revert', `shared degradation: ${reason}`).catch(() => undefined)
        await controller.record('degradation', null, null, 'auto-revert', reason).catch((err: unknown) => logger.warn({ err: String(err) }, 'the shared-degradation event could not be stored'))
      },
      ...(fleet === null ? {} : { leads: () => fleet.lease.leads() }),
    })

    const applyTargets = (color: Color, next: readonly string[]) => {
      targets[color] = [...next]
      // Before the data plane starts it takes `targets` as they are then.
      plane?.setTargets(color, next)
      // A new release on green starts with a clean error history and a new body of evidence.
      window.reset(color)
      if (color === 'green') evidence.restart()
    }
    // Stored first: when the store refuses (Redis down), nothing changes.
    const setTargets = async (color: Color, next: readonly string[], source: string, reason: string | null) => {
      const override = sameList(next, configTargets[color]) ? null : { targets: [...next], over: [...configTargets[color]] }
      // New green targets are a new release: with sticky.reshuffle perRelease it draws a new group of users.
      const newRelease = color === 'green' && config.sticky.reshuffle === 'perRelease'
      const event = await controller.changeTargets(color, override, { color, targets: [...targets[color]] }, { color, targets: [...next] }, source, reason, newRelease)
      applyTargets(color, next)
      // ... and a rollout's analysis starts over.
      if (color === 'green') await rollouts.restartForNewTargets()
      return event
    }

    const rollouts = new RolloutController({
      controller,
      evidence: () => evidence,
      window: () => window,
      ceilingVsBlue: () => config.autoRevert.ceilingVsBlue,
      settings: () => config.rollout,
      logger,
      // After a promotion the colours swap roles so the next release deploys to the idle one.
      // At every moment all traffic goes to the new release: blue takes green's targets first.
      swapColors: async () => {
        const released = [...targets.green]
        const previous = [...targets.blue]
        await setTargets('blue', released, 'rollout', 'swap colours after promotion: blue takes the new release')
        await controller.change({ greenBuckets: 0, type: 'split', source: 'rollout', reason: 'swap colours after promotion' })
        await setTargets('green', previous, 'rollout', 'swap colours after promotion: green is idle for the next release')
      },
      ...(fleet === null ? {} : { leads: () => fleet.lease.leads() }),
      reshuffle: () => config.sticky.reshuffle === 'perRelease',
    })
    // Alone, a restart restarts the step's hold; in a fleet the others went on holding it.
    if (fleet === null) await rollouts.restore()

    let propagation: Promise<void> = Promise.resolve()
    // Every proxy process routes with a new table as soon as it exists (a revert: before it is stored).
    controller.onTable((table) => {
      if (plane !== undefined) propagation = plane.publish(table)
    })
    followRelease(controller, evidence)

    let lastGreen = controller.state().greenBuckets
    controller.onChange((state, event, origin) => {
      if (origin === 'remote') {
        // Another replica's revert: its errors must not count against the next split here either.
        if (event.type === 'revert') {
          window.reset('green')
          evidence.restart()
        }
        // Another replica pointed a colour at new targets: this one follows.
        for (const color of COLORS) {
          const wanted = effectiveTargets(color)
          if (!sameList(wanted, targets[color])) {
            applyTargets(color, wanted)
            logger.info({ color, targets: wanted }, `${color} targets changed through another replica`)
          }
        }
      }
      // A change adopted before the data plane starts: it reads the table when it starts.
      if (plane === undefined) {
        lastGreen = state.greenBuckets
        return
      }
      // A colour whose share went to 0 drains: its WebSockets and streams run until the deadline.
      const green = state.greenBuckets
      if (green !== lastGreen) {
        if (green === 0) plane.drainColor('green', config.drain.deadline)
        else if (lastGreen === 0) plane.cancelDrain('green')
        if (green === 10_000) plane.drainColor('blue', config.drain.deadline)
        else if (lastGreen === 10_000) plane.cancelDrain('blue')
        lastGreen = green
      }
      // Off the request path: the notifier queues and delivers in the background. One
      // webhook per event in a fleet: the replica that made the change sends it.
      if (origin === 'local') webhooks.notify(event.type, { ...event, split: splitView(state), rollout: rollouts.view() })
    })

    // proxy.tls and admin.tls, read and checked here (workers get the PEMs); watched once listening.
    const proxyCertificates = config.proxy.tls === null ? null : await loadCertificates(config.proxy.tls, 'proxy.tls')
    const adminCertificates = config.admin.tls === null ? null : new CertificateStore(await loadCertificates(config.admin.tls, 'admin.tls'))

    const admin = createAdminServer({
      tls: adminCertificates,
      controller,
      rollouts,
      metrics,
      token: config.admin.token,
      logger,
      windowStats: () => window.all(),
      evidence: () => evidenceView(evidence),
      autoRevert: () => config.autoRevert,
      health: () => dataPlane().health(),
      inFlight: () => dataPlane().inFlight(),
      connections: () => dataPlane().connections(),
      workers: () => dataPlane().workers(),
      metricsText: async () => {
        const [health, remote] = await Promise.all([dataPlane().health(), dataPlane().remoteMetrics()])
        metrics.setTargetHealth(health)
        if (fleet !== null) metrics.setStateConnected(fleet.store.status().connected)
        return metrics.text(remote)
      },
      propagated: () => propagation,
      closing: () => closing !== undefined,
      stateFile: config.state.file,
      stateStatus: () => fleet?.status() ?? null,
      setTargets: (color, next, reason) => setTargets(color, next, 'api', reason),
      // The same secret as the proxy's router (the config is resolved once), so its links open.
      preview: {
        signer: new PreviewSigner(config.override.previewSecret),
        baseUrl: () => config.override.publicUrl || listening.proxyUrl,
      },
    })
    // Closed after the data plane has drained, so operators can watch the drain.
    cleanup.push(() => admin.close())

    if (fleet !== null && config.override.previewSecretRandom) {
      logger.warn('override.previewSecret is not set: each replica signs preview links with its own key, so a link opens only on the replica that made it')
    }

    // This process's own outcomes, when a recorder collects them for the fleet counters.
    let exchangeOwn: (() => WindowDelta[]) | undefined
    let proxyUrl: string
    if (config.workers > 1) {
      // Proxy workers report their outcomes into this process's window; this process steers.
      const workers = new ClusterDataPlane({
        config,
        count: config.workers,
        targets,
        table: () => controller.current(),
        report: (deltas: readonly WindowDelta[]) => (counters === null ? merge(deltas) : counters.add(deltas)),
        logger,
        certificates: proxyCertificates,
      })
      plane = workers
      cleanup.push(() => workers.close(config.drain.deadline))
      await workers.start()
      const family = config.proxy.host.includes(':') ? 'IPv6' : 'IPv4'
      proxyUrl = urlOf({ address: config.proxy.host, port: workers.port, family }, proxyCertificates !== null)
    } else {
      let served = 0
      const recorder = counters === null ? null : new WindowRecorder()
      if (recorder !== null) exchangeOwn = () => recorder.take()
      // Route groups as configured at start (a reload of rollout.analysis.routes applies on restart).
      const routeGroups = new RouteGroups(config.rollout.analysis.routes)
      const sink: OutcomeSink = {
        record(color: Color, status: number, durationMs: number, errorKind: ErrorKind | undefined, ttfbMs: number, url: string | undefined): void {
          served++
          metrics.record(color, status, durationMs, errorKind, ttfbMs)
          const isError = countsAsError(status, errorKind, ttfbMs, durationMs, config.rollout.analysis.abandonAfter)
          const route = routeGroups.group(url)
          if (recorder !== null) {
            recorder.record(color, durationMs, isError, ttfbMs, route)
            return
          }
          window.record(color, durationMs, isError, ttfbMs)
          evidence.record(color, durationMs, isError, ttfbMs, route)
        },
      }
      const proxy = buildProxy(config, targets, controller, sink, logger, proxyCertificates)
      plane = localDataPlane(proxy, () => served)
      cleanup.push(() => proxy.close(config.drain.deadline))
      proxyUrl = urlOf(await proxy.listen(config.proxy.port, config.proxy.host), proxyCertificates !== null)
    }
    listening.proxyUrl = proxyUrl

    await admin.listen({ port: config.admin.port, host: config.admin.host })
    const adminUrl = urlOf(admin.server.address() as AddressInfo, adminCertificates !== null)

    // Certificates follow their files (a change on disk, or SIGHUP through reload).
    const watchCertificates = (files: Config['proxy']['tls'], key: string, current: readonly Certificate[] | undefined, apply: (c: readonly Certificate[]) => void) => {
      if (files === null || current === undefined) return undefined
      const watcher = new CertificateWatcher({ files, key, current, apply, logger })
      watcher.start()
      cleanup.push(async () => watcher.close())
      return watcher
    }
    const proxyCertificateWatcher = watchCertificates(config.proxy.tls, 'proxy.tls', proxyCertificates ?? undefined, (c) => dataPlane().setCertificates(c))
    const adminCertificateWatcher = watchCertificates(config.admin.tls, 'admin.tls', adminCertificates?.certificates, (c) => adminCertificates?.update(c))

    autoRevert.start()
    rollouts.start()
    cleanup.push(async () => {
      autoRevert.stop()
      rollouts.stop()
    })
    if (fleet !== null) {
      fleet.start(exchangeOwn, merge)
      cleanup.push(() => fleet.stopLeading())
    }
    logger.info(
      { proxy: proxyUrl, admin: adminUrl, workers: config.workers, blue: targets.blue, green: targets.green },
      'switchyard ready',
    )

    return {
      proxyUrl,
      adminUrl,
      controller,
      metrics,
      targets: () => ({ ...targets }),
      async reload(next: Config): Promise<void> {
        const wanted = targetsOf(next)
        for (const color of COLORS) {
          if (sameList(wanted[color], configTargets[color])) continue
          // New targets in the file win here over targets set through the API (effectiveTargets:
          // the override no longer matches this config). The shared override stays: replicas
          // that still run the old config keep following it. The file is this replica's truth,
          // so its targets apply even when the store cannot record the event.
          configTargets = { ...configTargets, [color]: wanted[color] }
          const before = [...targets[color]]
          applyTargets(color, effectiveTargets(color))
          // The targets event, the shared override left as it is, and for green a new release
          // (sticky.reshuffle), as when the targets change through the API.
          const newRelease = color === 'green' && next.sticky.reshuffle === 'perRelease'
          const override = controller.targetOverrides()[color] ?? null
          await controller
            .changeTargets(color, override, { color, targets: before }, { color, targets: [...targets[color]] }, 'reload', 'config reloaded', newRelease)
            .catch((err: unknown) => logger.warn({ err: String(err) }, 'new targets from the config apply; their audit event could not be stored'))
          if (color === 'green') await rollouts.restartForNewTargets().catch(() => undefined)
        }
        dataPlane().setTimeouts(next.timeouts)
        dataPlane().setHealth(next.healthCheck, next.outlierDetection)
        // Re-read even when the paths are the same: SIGHUP is how an operator says "new certificates".
        if (next.proxy.tls !== null) await proxyCertificateWatcher?.reload(next.proxy.tls)
        if (next.admin.tls !== null) await adminCertificateWatcher?.reload(next.admin.tls)
        if (next.autoRevert.window !== config.autoRevert.window) {
          window = new ErrorWindow(next.autoRevert.window)
          counters?.setWindow(next.autoRevert.window)
        }
        autoRevert.configure(next.autoRevert)
        evidence.configure(next.rollout.analysis)
        if (JSON.stringify(next.webhooks) !== JSON.stringify(config.webhooks)) {
          const previous = webhooks
          webhooks = new WebhookNotifier(webhookOptions(next))
          void previous.close(5_000)
        }
        // Certificate files reload live; turning TLS on or off takes a restart.
        const view = (c: Config, key: keyof Config): unknown => (key === 'proxy' || key === 'admin' ? { ...c[key], tls: c[key].tls !== null } : c[key])
        const restartOnly: string[] = (['proxy', 'admin', 'sticky', 'override', 'state', 'log', 'demo', 'workers', 'limits'] as const).filter(
          (key) => JSON.stringify(view(next, key)) !== JSON.stringify(view(config, key)),
        )
        if (JSON.stringify(next.upstreams.tls) !== JSON.stringify(config.upstreams.tls)) restartOnly.push('upstreams.tls')
        if (restartOnly.length > 0) {
          logger.warn({ keys: restartOnly }, `config reloaded; changes to ${restartOnly.join(', ')} take effect on restart`)
        }
        config = next
        logger.info({ blue: targets.blue, green: targets.green, timeouts: next.timeouts }, 'config reloaded')
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

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i])
}

async function runCleanup(steps: (() => Promise<void>)[]): Promise<void> {
  for (const step of steps.reverse()) {
    await step().catch(() => undefined)
  }
}
