/**
 * Peer (e): node `http-proxy` with a 90/10 choice by hash of x-user-id.
 * Without an explicit keep-alive agent http-proxy sends `Connection: close` upstream.
 */
import { Agent, createServer } from 'node:http'
import httpProxy from 'http-proxy'
import { peerArgs, weightedPicker } from './pick.js'

const args = peerArgs()
const pick = weightedPicker(args)
const agent = new Agent({ keepAlive: true, maxFreeSockets: 256 })
const proxy = httpProxy.createProxyServer({ agent })

proxy.on('error', (_err, _req, res) => {
  if ('writeHead' in res) {
    if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' })
    res.end('bad gateway\n')
  } else {
    res.destroy()
  }
})

const server = createServer((req, res) => proxy.web(req, res, { target: pick(req.headers['x-user-id']) }))
server.listen(args.port, '127.0.0.1')

const stop = (): void => {
  server.close()
  server.closeAllConnections()
  agent.destroy()
}
process.once('SIGTERM', stop)
process.once('SIGINT', stop)
