/**
 * Peer (f): fastify 5 + @fastify/http-proxy, none of switchyard's logic.
 * `upstream: ''` is required: with a URL there, `getUpstream` is silently ignored.
 */
import fastifyHttpProxy from '@fastify/http-proxy'
import Fastify from 'fastify'
import { peerArgs, weightedPicker } from './pick.js'

const args = peerArgs()
const pick = weightedPicker(args)
const app = Fastify({ logger: false })

await app.register(fastifyHttpProxy, {
  upstream: '',
  replyOptions: { getUpstream: (request) => pick(request.headers['x-user-id']) },
})
await app.listen({ port: args.port, host: '127.0.0.1' })

const stop = (): void => {
  void app.close()
}
process.once('SIGTERM', stop)
process.once('SIGINT', stop)
