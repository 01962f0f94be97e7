/**
 * Runs a proxy in its own process so a test can watch its memory: `node --import tsx
 * upstream-proxy-fixture.ts UPSTREAM_URL`. Prints `{"port":N,"pid":P}` once listening and
 * runs until SIGTERM or stdin closes.
 */
import { pino } from 'pino'
import { createProxyServer } from '../../src/proxy/proxy-server.js'
import { Router } from '../../src/routing/router.js'
import { makeTable } from '../../src/routing/types.js'
import { POLICY } from './upstream-proxy-harness.js'

const upstream = process.argv[2]
if (upstream === undefined) throw new Error('usage: upstream-proxy-fixture.ts UPSTREAM_URL')

const table = makeTable(1, 0)
const proxy = createProxyServer({
  tables: { current: () => table },
  router: new Router(POLICY),
  sink: { record: () => undefined },
  upstreams: { blue: [upstream], green: [upstream] },
  timeouts: { connect: 2_000, request: 30_000, idle: 0 },
  logger: pino({ level: 'silent' }),
  accessLog: false,
})
const address = await proxy.listen(0, '127.0.0.1')
process.stdout.write(`${JSON.stringify({ port: address.port, pid: process.pid })}\n`)

const stop = (): void => void proxy.close(1_000).then(() => process.exit(0))
process.on('SIGTERM', stop)
process.stdin.on('end', stop)
process.stdin.resume()
