import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

/** A real upstream that answers its name; `status` can be changed to make it fail. */
export interface ColorUpstream {
  readonly url: string
  readonly server: Server
  status: number
  hits: number
  close(): Promise<void>
}

/** Starts an upstream on 127.0.0.1 with an ephemeral port. */
export async function startColorUpstream(name: string): Promise<ColorUpstream> {
  const upstream = {
    status: 200,
    hits: 0,
  } as ColorUpstream
  const server = createServer((req, res) => {
    upstream.hits++
    req.resume()
    req.on('end', () => {
      res.writeHead(upstream.status, { 'content-type': 'text/plain', 'x-upstream': name }).end(name)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return Object.assign(upstream, {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    server,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  })
}
