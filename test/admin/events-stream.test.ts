import { afterEach, describe, expect, it } from 'vitest'
import { admin, startTestApp, testConfig } from '../helpers/app.js'
import { startColorUpstream } from '../helpers/color-upstream.js'
import { dropPrefix, SHARED_REDIS_URL, uniquePrefix } from '../helpers/redis.js'

const TOKEN = 'stream-token'
const AUTH = { authorization: `Bearer ${TOKEN}` }

const opened: { close(): Promise<void> }[] = []
afterEach(async () => {
  for (const thing of opened.splice(0).reverse()) await thing.close()
})

async function setup(patch: Record<string, unknown> = {}) {
  const blue = await startColorUpstream('blue')
  const green = await startColorUpstream('green')
  opened.push(blue, green)
  const app = await startTestApp(await testConfig([blue.url], [green.url], { admin: { host: '127.0.0.1', port: 0, token: TOKEN }, ...patch }))
  opened.push(app)
  return app
}

interface Frame {
  id: number
  event: string
  data: { id: number; type: string; to: unknown; source: string }
}

/** An open GET /v1/events/stream: the frames read so far, and a wait for the next ones. */
async function follow(adminUrl: string, query = '', headers: Record<string, string> = {}) {
  const controller = new AbortController()
  const res = await fetch(`${adminUrl}/v1/events/stream${query}`, { headers: { ...AUTH, ...headers }, signal: controller.signal })
  expect(res.status).toBe(200)
  expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8')
  const frames: Frame[] = []
  let ended = false
  const reading = (async () => {
    const decoder = new TextDecoder()
    let buffer = ''
    try {
      for await (const chunk of res.body!) {
        buffer += decoder.decode(chunk as Uint8Array, { stream: true })
        for (let end = buffer.indexOf('\n\n'); end !== -1; end = buffer.indexOf('\n\n')) {
          const block = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          const fields = Object.fromEntries(block.split('\n').filter((l) => !l.startsWith(':')).map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 2)]))
          if (fields.data !== undefined) frames.push({ id: Number(fields.id), event: fields.event!, data: JSON.parse(fields.data) as Frame['data'] })
        }
      }
    } catch {
      // aborted by the test
    }
    ended = true
  })()
  const until = async (test: () => boolean, what: string) => {
    const start = Date.now()
    while (!test()) {
      if (Date.now() - start > 5_000) throw new Error(`no ${what} within 5 s; frames: ${JSON.stringify(frames)}`)
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
  }
  return {
    frames,
    ended: () => ended,
    until,
    close: async () => {
      controller.abort()
      await reading
    },
  }
}

describe('GET /v1/events/stream', () => {
  it('streams each change as it happens, with rising ids; a client that comes back with Last-Event-ID gets what it missed first, once', async () => {
    const app = await setup()
    expect((await admin(app, 'GET', '/v1/events/stream')).status).toBe(401)

    const live = await follow(app.adminUrl)
    await admin(app, 'PUT', '/v1/split', { green: 10 }, AUTH)
    await admin(app, 'PUT', '/v1/split', { green: 20 }, AUTH)
    await live.until(() => live.frames.length === 2, 'two split events')
    const [first, second] = live.frames
    expect(first).toMatchObject({ event: 'split', data: { type: 'split', to: { green: 10 }, source: 'api' } })
    expect(second!.id).toBe(first!.id + 1)
    expect(second!.data.id).toBe(second!.id)
    await live.close()

    // Missed while away: a promote and a rollback; then a live one after reconnecting.
    await admin(app, 'POST', '/v1/promote', undefined, AUTH)
    await admin(app, 'POST', '/v1/rollback', undefined, AUTH)
    const back = await follow(app.adminUrl, '', { 'last-event-id': String(second!.id) })
    await back.until(() => back.frames.length === 2, 'the missed events')
    await admin(app, 'PUT', '/v1/split', { green: 5 }, AUTH)
    await back.until(() => back.frames.length === 3, 'the live event after the missed ones')
    expect(back.frames.map((f) => f.event)).toEqual(['promote', 'rollback', 'split'])
    expect(back.frames.map((f) => f.id)).toEqual([second!.id + 1, second!.id + 2, second!.id + 3])
    await back.close()

    // The audit log carries the same ids, and filters by type and by what came after an id or a time.
    const log = (await admin(app, 'GET', '/v1/events', undefined, AUTH)).body as { id: number; type: string; at: string }[]
    expect(log.map((e) => e.id)).toEqual([...back.frames].reverse().map((f) => f.id).concat([second!.id, first!.id]))
    expect(((await admin(app, 'GET', '/v1/events?type=promote,rollback', undefined, AUTH)).body as { type: string }[]).map((e) => e.type)).toEqual(['rollback', 'promote'])
    expect(((await admin(app, 'GET', `/v1/events?since=${second!.id + 1}`, undefined, AUTH)).body as { id: number }[]).map((e) => e.id)).toEqual([second!.id + 3, second!.id + 2])
    const since = async (at: number) => ((await admin(app, 'GET', `/v1/events?since=${new Date(at).toISOString()}`, undefined, AUTH)).body as unknown[]).length
    expect(await since(Date.parse(log.at(-1)!.at) - 1)).toBe(5)
    expect(await since(Date.now() + 60_000)).toBe(0)
    expect((await admin(app, 'GET', '/v1/events?since=yesterday', undefined, AUTH)).status).toBe(400)
  })

  it('keeps only the asked types, refuses a Last-Event-ID that is no id, and ends every stream when switchyard stops', async () => {
    const app = await setup()
    const reverts = await follow(app.adminUrl, '?type=rollback,promote')
    await admin(app, 'PUT', '/v1/split', { green: 30 }, AUTH)
    await admin(app, 'POST', '/v1/rollback', undefined, AUTH)
    await reverts.until(() => reverts.frames.length === 1, 'the rollback')
    expect(reverts.frames[0]!.event).toBe('rollback')
    const bad = await fetch(`${app.adminUrl}/v1/events/stream`, { headers: { ...AUTH, 'last-event-id': 'abc' } })
    expect(bad.status).toBe(400)
    expect(await bad.json()).toMatchObject({ code: 'SY_ERR_HTTP_400' })

    await app.close()
    await reverts.until(() => reverts.ended(), 'the end of the stream')
    opened.splice(opened.indexOf(app), 1)
  })

  it('in a fleet, a replica streams the changes made through another, with the same ids as the shared log', async () => {
    const keyPrefix = uniquePrefix()
    opened.push({ close: () => dropPrefix(keyPrefix) })
    const fleet = { state: { redis: { url: SHARED_REDIS_URL, keyPrefix } } }
    const a = await setup(fleet)
    const b = await setup(fleet)
    const onB = await follow(b.adminUrl)
    await admin(a, 'PUT', '/v1/split', { green: 40 }, AUTH)
    await onB.until(() => onB.frames.length === 1, 'the change made through the other replica')
    expect(onB.frames[0]).toMatchObject({ event: 'split', data: { to: { green: 40 } } })
    const shared = (await admin(a, 'GET', '/v1/events?limit=1', undefined, AUTH)).body as { id: number }[]
    expect(onB.frames[0]!.id).toBe(shared[0]!.id)
    await onB.close()
  })
})
