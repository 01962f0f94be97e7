import { WindowRecorder } from '../../outcomes/window-delta.js'
import { buildProxy } from '../build-proxy.js'
import { outcomeSink } from '../outcome-sink.js'
import { createLogger } from '../../logger.js'
import { Metrics } from '../../metrics/metrics.js'
import { makeTable } from '../../routing/types.js'
import { TableHolder } from '../local.js'
import { PairQueue } from '../mirror-sink.js'
import { encodePair, WINDOW_REPORT_MS, WORKER_ENV, type FromWorker, type ToWorker } from './messages.js'

function send(message: FromWorker): Promise<void> {
  return new Promise((resolve) => {
    if (process.send === undefined || !process.connected) return resolve()
    process.send(message, undefined, {}, () => resolve())
  })
}

function firstInit(): Promise<Extract<ToWorker, { t: 'init' }>> {
  return new Promise((resolve) => {
    const listen = (message: ToWorker) => {
      if (message.t !== 'init') return
      process.off('message', listen)
      resolve(message)
    }
    process.on('message', listen)
    // Messages sent before a listener exists are lost, so ask for the init only now.
    void send({ t: 'hello' })
  })
}

/**
 * A proxy worker: serves the proxy port with the table the primary sends, reports its
 * outcomes (window deltas every 100 ms) and answers metrics and status queries. Signals are
 * the primary's business: a worker drains when told, or when the primary goes away.
 */
export async function runWorker(): Promise<void> {
  const slot = Number(process.env[WORKER_ENV] ?? '0')
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => undefined)

  const init = await firstInit()
  const config = init.config
  const logger = createLogger(config.log).child({ worker: slot })
  const tables = new TableHolder(makeTable(init.generation, init.greenBuckets, init.salt, init.mirrorBuckets))
  const metrics = new Metrics()
  const recorder = new WindowRecorder()
  // As the config was at start: a reload of the analysis settings takes effect when the workers restart.
  const sink = outcomeSink(metrics, () => config.rollout.analysis, (color, durationMs, isError, ttfbMs, route) =>
    recorder.record(color, durationMs, isError, ttfbMs, route),
  )
  const pairs = new PairQueue(metrics, null)
  const proxy = buildProxy(config, init.targets, tables, sink, logger, init.certificates, pairs)
  metrics.countConnections(() => proxy.inFlight())
  try {
    const address = await proxy.listen(config.proxy.port, config.proxy.host)
    await send({ t: 'ready', port: address.port })
  } catch (err) {
    await send({ t: 'failed', message: (err as Error).message })
    process.exit(1)
  }

  const report = async () => {
    const deltas = recorder.take()
    const shadows = pairs.take()
    if (shadows.length > 0) await send({ t: 'pairs', pairs: shadows.map(encodePair) })
    if (deltas.length > 0) await send({ t: 'window', deltas })
  }
  const reporter = setInterval(() => void report(), WINDOW_REPORT_MS)

  let draining = false
  const drain = async (deadlineMs: number) => {
    if (draining) return
    draining = true
    await proxy.close(deadlineMs)
    clearInterval(reporter)
    await report()
    process.exit(0)
  }

  process.on('message', (message: ToWorker) => {
    switch (message.t) {
      case 'table':
        // One reference swap: a request reads either the old table or the new one, never a mix.
        tables.set(makeTable(message.generation, message.greenBuckets, message.salt, message.mirrorBuckets))
        void send({ t: 'applied', seq: message.seq })
        break
      case 'targets':
        proxy.setTargets(message.color, message.targets)
        break
      case 'timeouts':
        proxy.setTimeouts(message.timeouts)
        break
      case 'certificates':
        try {
          proxy.setCertificates(message.certificates)
        } catch (err) {
          logger.error({ err: (err as Error).message }, `proxy.tls: new certificates refused by this worker, its served ones stay: ${(err as Error).message}`)
        }
        break
      case 'health':
        proxy.setHealth(message.healthCheck, message.outlier)
        break
      case 'drainColor':
        proxy.drainColor(message.color, message.deadlineMs)
        break
      case 'cancelDrain':
        proxy.cancelDrain(message.color)
        break
      case 'query':
        if (message.what === 'metrics') {
          void metrics.registry.getMetricsAsJSON().then((json) => send({ t: 'answer', id: message.id, metrics: json }))
        } else {
          void send({
            t: 'answer',
            id: message.id,
            health: proxy.health(),
            inFlight: proxy.inFlight(),
            connections: proxy.connections(),
            requests: sink.served(),
          })
        }
        break
      case 'drain':
        void drain(message.deadlineMs)
        break
      case 'init':
        break
    }
  })
  // No 'disconnect' handler here: when the primary goes away without telling us (a crash, or
  // a second SIGTERM that exits at once), node:cluster's own handler ends this worker at
  // once, before any listener of ours would run, so a drain there would never happen.
}
