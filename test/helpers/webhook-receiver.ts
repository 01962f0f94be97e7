import http, { type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import { readBody } from './upstream-server.js'

/** One POST as a webhook receiver saw it. */
export interface ReceivedWebhook {
  readonly method: string
  readonly url: string
  readonly headers: IncomingHttpHeaders
  /** The raw body, exactly as sent (what a signature covers). */
  readonly body: string
  readonly json: Record<string, unknown>
  /** Resolves when the sender closed the connection before an answer (e.g. its timeout). */
  readonly aborted: Promise<void>
}

/** Picks the status for the n-th request (0-based); 'hang' never answers. */
export type WebhookResponder = (req: ReceivedWebhook, index: number) => number | 'hang' | Promise<number | 'hang'>

/** A real node:http webhook receiver on 127.0.0.1 that records every request. */
export interface WebhookReceiver {
  readonly url: string
  readonly requests: ReceivedWebhook[]
  close(): Promise<void>
}

export async function startWebhookReceiver(respond: WebhookResponder = () => 200): Promise<WebhookReceiver> {
  const requests: ReceivedWebhook[] = []
  const server = http.createServer((req, res) => {
    void (async () => {
      const aborted = new Promise<void>((resolve) => res.on('close', () => (res.writableFinished ? undefined : resolve())))
      const body = (await readBody(req)).toString('utf8')
      const received: ReceivedWebhook = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body,
        json: JSON.parse(body) as Record<string, unknown>,
        aborted,
      }
      const index = requests.push(received) - 1
      const status = await respond(received, index)
      if (status === 'hang') return
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status < 300 ? 'ok' : 'nope')
    })().catch(() => res.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
