import { buildProxy, buildServicesProxy, serviceLanes } from '../build-proxy.js'
import { createLogger } from '../../logger.js'
import { Metrics } from '../../metrics/metrics.js'
import type { ProxyServer } from '../../proxy/proxy-server.js'
import type { ProxyTimeouts } from '../../proxy/types.js'
import { laneOf, type Lane } from '../services.js'
import { encodePair, fromWireTable, WINDOW_REPORT_MS, WORKER_ENV, type FromWorker, type ToWorker, type WireService } from './messages.js'

type Init = Extract<ToWorker, { t: 'init' }>

function send(message: FromWorker): Promise<void> {
  return new Promise((resolve) => {
    if (process.send === undefined || !process.connected) return resolve()
    process.send(message, undefined, {}, () => resolve())
  })
}

/**
 * The init, and a queue of what came after it. A message that arrives while no listener
 * exists is lost, so one listener is there from the start: what follows the init (a table
 * published meanwhile) waits in the queue until the proxy is built, instead of being dropped.
 */
function firstInit(): Promise<{ init: Init; handle: (handler: (message: ToWorker) => void) => void }> {
  const early: ToWorker[] = []
  let handler: ((message: ToWorker) => void) | undefined
  const handle = (h: (message: ToWorker) => void) => {
    handler = h
    for (const message of early.splice(0)) h(message)
  }
  return new Promise((resolve) => {
    process.on('message', (message: ToWorker) => {
      if (message.t === 'init') resolve({ init: message, handle })
      else if (handler === undefined) early.push(message)
      else handler(message)
    })
    // Messages sent before a listener exists are lost, so ask for the init only now.
    void send({ t: 'hello' })
  })
}

/**
 * A proxy worker: serves the proxy port with the tables the primary sends, one lane per
 * service (a single-service switchyard's one is `default`), reports each service's outcomes
 * (window deltas every 100 ms) and answers metrics and status queries. Signals are the
 * primary's business: a worker drains when told, or when the primary goes away.
 */
export async function runWorker(): Promise<void> {
  const slot = Number(process.env[WORKER_ENV] ?? '0')
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => undefined)

  const { init, handle } = await firstInit()
  const { config, several } = init
  const logger = createLogger(config.log).child({ worker: slot })
  // Several services: every per-service series carries `service`, as in the primary.
  const metrics = new Metrics({ services: several })
  // Outcomes batched for the report, pairs taken by it: analysis settings as the lane was built
  // (a reload of them takes effect when the workers restart).
  const build = (s: WireService): Lane =>
    laneOf(s.spec, { targets: s.targets, table: fromWireTable(s.table), metrics: metrics.service(s.spec.name), shadows: null, record: null })
  let lanes = new Map(init.services.map((s) => [s.spec.name, build(s)]))
  const only = lanes.values().next().value!
  const proxy: ProxyServer = several
    ? buildServicesProxy({ ...config, proxy: { ...config.proxy, defaultService: init.defaultService } }, [...lanes.values()].map((l) => l.parts), logger, init.certificates)
    : buildProxy(config, only.parts.targets, only.tables, only.parts.sink, logger, init.certificates, only.pairs)
  metrics.countConnections(() => proxy.inFlight())

  const lane = (service: string) => proxy.lane(service)
  // One service: its timeouts carry the server's header timeout, as they always did.
  const setTimeouts = (service: string, timeouts: ProxyTimeouts) => (several ? lane(service)?.setTimeouts(timeouts) : proxy.setTimeouts(timeouts))
  // Timeouts and health settings may have changed by reload since the services' configs were read.
  for (const s of init.services) {
    setTimeouts(s.spec.name, s.timeouts)
    if (s.health !== null) lane(s.spec.name)?.setHealth(s.health.healthCheck, s.health.outlier)
  }
  if (several) proxy.setHeaderTimeout(init.headerTimeouts)

  const report = async () => {
    for (const [service, l] of lanes) {
      const deltas = l.recorder?.take() ?? []
      const shadows = l.pairs.take()
      if (shadows.length > 0) await send({ t: 'pairs', service, pairs: shadows.map(encodePair) })
      if (deltas.length > 0) await send({ t: 'window', service, deltas })
    }
  }
  const reporter = setInterval(() => void report(), WINDOW_REPORT_MS)

  let draining = false
  let listening: Promise<unknown> = Promise.resolve()
  const drain = async (deadlineMs: number) => {
    if (draining) return
    draining = true
    // Told while still starting (the primary gave up on the others): close what is listening.
    await listening
    await proxy.close(deadlineMs)
    clearInterval(reporter)
    await report()
    process.exit(0)
  }

  /** A reload's services: kept ones keep their lanes (and take the new match), new ones start, the rest retire. */
  const setServices = (message: Extract<ToWorker, { t: 'services' }>) => {
    const next = new Map<string, Lane>()
    for (const s of message.services) {
      const kept = lanes.get(s.spec.name)
      next.set(s.spec.name, kept === undefined ? build(s) : { ...kept, parts: { ...kept.parts, spec: s.spec } })
    }
    lanes = next
    proxy.setServices({ lanes: serviceLanes([...next.values()].map((l) => l.parts)), defaultService: message.defaultService })
  }

  handle((message: ToWorker) => {
    switch (message.t) {
      case 'table':
        // One reference swap: a request reads either the old table or the new one, never a mix.
        lanes.get(message.service)?.tables.set(fromWireTable(message.table))
        void send({ t: 'applied', seq: message.seq })
        break
      case 'services':
        if (several) setServices(message)
        void send({ t: 'applied', seq: message.seq })
        break
      case 'targets':
        lane(message.service)?.setTargets(message.color, message.targets)
        break
      case 'timeouts':
        setTimeouts(message.service, message.timeouts)
        break
      case 'headerTimeout':
        proxy.setHeaderTimeout(message.timeouts)
        break
      case 'certificates':
        try {
          proxy.setCertificates(message.certificates)
        } catch (err) {
          logger.error({ err: (err as Error).message }, `proxy.tls: new certificates refused by this worker, its served ones stay: ${(err as Error).message}`)
        }
        break
      case 'health':
        lane(message.service)?.setHealth(message.healthCheck, message.outlier)
        break
      case 'drainColor':
        lane(message.service)?.drainColor(message.color, message.deadlineMs)
        break
      case 'cancelDrain':
        lane(message.service)?.cancelDrain(message.color)
        break
      case 'query':
        if (message.what === 'metrics') {
          void metrics.registry.getMetricsAsJSON().then((json) => send({ t: 'answer', id: message.id, metrics: json }))
        } else {
          const services = [...lanes].flatMap(([name, l]) => {
            const found = lane(name)
            if (found === undefined) return []
            return [[name, { health: found.health(), inFlight: found.inFlight(), connections: found.connections(), requests: l.served() }] as const]
          })
          void send({ t: 'answer', id: message.id, services: Object.fromEntries(services) })
        }
        break
      case 'drain':
        void drain(message.deadlineMs)
        break
      case 'init':
        break
    }
  })

  try {
    const listen = proxy.listen(config.proxy.port, config.proxy.host)
    listening = listen.catch(() => undefined)
    const address = await listen
    await send({ t: 'ready', port: address.port })
  } catch (err) {
    await send({ t: 'failed', message: (err as Error).message })
    process.exit(1)
  }
  // No 'disconnect' handler here: when the primary goes away without telling us (a crash, or
  // a second SIGTERM that exits at once), node:cluster's own handler ends this worker at
  // once, before any listener of ours would run, so a drain there would never happen.
}
