import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { AdminClient } from '../../src/cli/client.js'
import { RefusedError } from '../../src/cli/errors.js'
import { followRollout } from '../../src/cli/follow-rollout.js'

// A real HTTP server plays the admin API of a switchyard that is stopping: the event stream
// carries one event and ends, and the next read of the rollout meets the 503 fastify answers
// while it closes. A follower (release --wait, rollout get --wait/--watch) must take that as
// "not now" and come back, not as a refusal that ends the wait with exit 1.

const rollout = (phase: string) => ({
  id: 'r1', phase, step: 1, steps: [{ green: 100, holdMs: 100 }], green: phase === 'succeeded' ? 100 : 50, holdLeftMs: 0,
  startedAt: new Date().toISOString(), stepStartedAt: new Date().toISOString(), endedAt: null, reason: null,
})

let server: Server | undefined
afterEach(async () => {
  server?.closeAllConnections()
  await new Promise((resolve) => server?.close(resolve))
})

async function admin(answers: { rollout: Array<[number, unknown]> }): Promise<{ url: string; reads: () => number; streams: () => string[] }> {
  let reads = 0
  const lastIds: string[] = []
  server = createServer((req, res) => {
    if (req.url?.startsWith('/v1/events/stream')) {
      lastIds.push(String(req.headers['last-event-id'] ?? ''))
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.write('retry: 100\n\n')
      // One event on the first stream, then the stream ends (the server going away).
      if (lastIds.length === 1) res.end(`id: 8\nevent: step\ndata: ${JSON.stringify({ id: 8, type: 'step' })}\n\n`)
      return
    }
    if (req.url === '/v1/rollout') {
      const [status, body] = answers.rollout[Math.min(reads++, answers.rollout.length - 1)]!
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
      return
    }
    res.writeHead(404).end()
  })
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, reads: () => reads, streams: () => lastIds }
}

const closing = [503, { statusCode: 503, error: 'Service Unavailable', message: 'Service Unavailable' }] as [number, unknown]

describe('following a rollout across a switchyard that stops and comes back', () => {
  it('a 503 while it closes is a lost stream: the follower reconnects with Last-Event-ID and sees the end', async () => {
    // Read at start, when the stream opens, after its one event (503: closing), when it opens
    // again (503: not up yet), and once more (back, and the rollout has ended meanwhile).
    const api = await admin({ rollout: [[200, rollout('progressing')], [200, rollout('progressing')], closing, closing, [200, rollout('succeeded')]] })
    const lost: string[] = []
    const end = await followRollout(new AdminClient({ url: api.url, token: undefined }), {
      afterEventId: 7,
      rolloutId: 'r1',
      timeoutMs: 10_000,
      onView: () => undefined,
      onLost: (reason) => lost.push(reason),
    })
    expect(end.kind).toBe('ended')
    expect(end.view.phase).toBe('succeeded')
    expect(lost.some((reason) => reason.includes('503'))).toBe(true)
    // It came back after the last event it had seen, each time.
    expect(api.streams()).toEqual(['7', '8', '8'])
    expect(api.reads()).toBe(5)
  })

  it('a refusal that means no (401, 404) still ends the following at once', async () => {
    const api = await admin({ rollout: [[200, rollout('progressing')], [404, { statusCode: 404, code: 'SY_ERR_NO_ROLLOUT', message: 'no rollout' }]] })
    await expect(
      followRollout(new AdminClient({ url: api.url, token: undefined }), { afterEventId: 7, rolloutId: 'r1', timeoutMs: 10_000, onView: () => undefined }),
    ).rejects.toBeInstanceOf(RefusedError)
  })
})
