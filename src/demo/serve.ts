#!/usr/bin/env node
/**
 * One demo colour as its own process, for containers: `node dist/demo/serve.js blue 3001`
 * answers like the built-in demo upstream of that colour on 0.0.0.0:3001 (compose.yaml runs
 * blue and green this way beside switchyard). SIGTERM closes it.
 */
import { listenDemoUpstream } from './demo-upstreams.js'

const USAGE = 'usage: node dist/demo/serve.js blue|green [PORT] [HOST]   (default port 3001 for blue, 3002 for green; host 0.0.0.0)'

const [color, portArg, host = '0.0.0.0'] = process.argv.slice(2)
if (color !== 'blue' && color !== 'green') {
  process.stderr.write(`${USAGE}\n`)
  process.exit(2)
}
const port = portArg === undefined ? (color === 'blue' ? 3001 : 3002) : Number(portArg)
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write(`port must be a whole number from 0 to 65535, got ${portArg}\n${USAGE}\n`)
  process.exit(2)
}
try {
  const server = await listenDemoUpstream(color, port, host)
  const address = server.address()
  process.stdout.write(`demo ${color} listening on ${typeof address === 'object' && address !== null ? `${address.address}:${address.port}` : String(address)}\n`)
  const stop = () => {
    server.closeAllConnections()
    server.close(() => process.exit(0))
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n`)
  process.exit(1)
}
