/**
 * The stream-only frames of GET /v1/events/stream: `stats` once a second (with ?stats=1) and
 * `health` when a target leaves or rejoins the rotation. Neither has an id, so neither moves a
 * client's Last-Event-ID, and neither lands in the audit log.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { admin, startTestApp, testConfig } from '../helpers/app.js'
import { startColorUpstream } from '../helpers/color-upstream.js'
import { HEALTH_PATH, startHealthUpstream } from '../helpers/health-upstream.js'
import { startPacedLoad } from '../helpers/load.js'
import { dropPrefix, SHARED_REDIS_URL, uniquePrefix } from '../helpers/redis.js'

const TOKEN = 'live-token'
const AUTH = { authorization: `Bearer ${TOKEN}` }

const opened: { close(): Promise<void> }[] = []
afterEach(async () => {
  for (const thing of opened.splice(0).reverse()) await thing.close()
})

interface Frame {
  id: string | undefined
  event: string
  data: Record<string, unknown>
}

/** An open stream, parsed frame by frame (the raw text is kept too). */
async function follow(adminUrl: string, query = '', headers: Record<string, string> = {}) {
  const controller = new AbortController()
  const res = await fetch(`${adminUrl}/v1/events/stream${query}`, { headers: { ...AUTH, ...headers }, signal: controller.signal })
  expect(res.status).toBe(200)
  const frames: Frame[] = []
  const reading = (async () => {
    const decoder = new TextDecoder()
    let buffer = ''
    try {
      for await (const chunk of res.body!) {
        buffer += decoder.decode(chunk as Uint8Array, { stream: true })
        for (let end = buffer.indexOf('\n\n'); end !== -1; end = buffer.indexOf('\n\n')) {
          const lines = buffer.slice(0, end).split('\n').filter((l) => l !== '' && !l.startsWith(':'))
          buffer = buffer.slice(end + 2)
          const fields = new Map(lines.map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 2)]))
          const data = fields.get('data')
          if (data !== undefined) frames.push({ id: fields.get('id'), event: fields.get('event')!, data: JSON.parse(data) as Record<string, unknown> })
        }
      }
    } catch {
      // aborted by the test
    }
  })()
  const until = async (test: () => boolean, what: string, ms = 5_000) => {
    const start = Date.now()
    while (!test()) {
      if (Date.now() - start > ms) throw new Error(`no ${what} within ${ms} ms; frames: ${JSON.stringify(frames.map((f) => f.event))}`)
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
  }
  const stream = {
    frames,
    of: (event: string) => frames.filter((f) => f.event === event),
    until,
    close: async () => {
      controller.abort()
      await reading
    },
  }
  opened.push(stream)
  return stream
}

type ColorStats = { requests: number; errors: number; errorRate: number; p50Ms: number | null; p99Ms: number | null }

describe('stats frames', () => {
  it('come once a second with ?stats=1: each colour in the last whole second, connections, no id; the audit stream and Last-Event-ID go on as before', async () => {
    const blue = await startColorUpstream('blue')
    const green = await startColorUpstream('green')
    opened.push(blue, green)
    green.status = 503
    const app = await startTestApp(
      await testConfig([blue.url], [green.url], {
        admin: { host: '127.0.0.1', port: 0, token: TOKEN },
        split: { green: 50 },
        autoRevert: { enabled: false },
        outlierDetection: { consecutiveErrors: 0 },
      }),
    )
    opened.push(app)
    const plain = await follow(app.adminUrl)
    const live = await follow(app.adminUrl, '?stats=1')
    const load = startPacedLoad(app.proxyUrl, 100, 10_000)
    opened.push({ close: async () => void (await load.stop()) })

    // A whole second with traffic on both colours.
    const busy = (f: Frame) => (f.data.blue as ColorStats).requests > 10 && (f.data.green as ColorStats).requests > 10
    await live.until(() => live.of('stats').some(busy), 'a stats frame with traffic', 6_000)
    const frame = live.of('stats').find(busy)!
    expect(frame.id).toBeUndefined()
    const { blue: b, green: g, second, seconds, at, connections, draining, fleet } = frame.data as Record<string, unknown> & { blue: ColorStats; green: ColorStats }
    expect(seconds).toBe(1)
    expect(second).toBe(Math.floor(Date.parse(at as string) / 1000) - 1)
    expect(b).toMatchObject({ errors: 0, errorRate: 0 })
    expect(b.p50Ms).toBeGreaterThan(0)
    expect(b.p99Ms).toBeGreaterThanOrEqual(b.p50Ms!)
    expect(g.errors).toBe(g.requests)
    expect(g.errorRate).toBe(1)
    // The load is paced at 100 a second, split about evenly: a second holds at most that many
    // (a margin for pacing catching up), and at least what made it "busy" (a loaded machine
    // paces slower, so no tighter floor).
    expect(b.requests + g.requests).toBeGreaterThan(20)
    expect(b.requests + g.requests).toBeLessThan(200)
    const open = connections as Record<'blue' | 'green', { requests: number; streams: number; websockets: number }>
    expect(open.blue).toMatchObject({ streams: 0, websockets: 0 })
    expect(open.blue.requests + open.green.requests).toBeGreaterThanOrEqual(0)
    expect(draining).toEqual({ blue: 0, green: 0 })
    expect(fleet).toBeNull()

    // One a second, each for a later second (the next one unless the machine stalled a tick).
    const index = live.of('stats').indexOf(frame)
    await live.until(() => live.of('stats').length >= index + 2, 'the next stats frame')
    expect(live.of('stats')[index + 1]!.data.second).toBeGreaterThan(second as number)

    // An audit event in between keeps its id; a reconnect from it replays nothing twice.
    await admin(app, 'PUT', '/v1/split', { green: 0 }, AUTH)
    await live.until(() => live.of('split').length === 1, 'the split event')
    const split = live.of('split')[0]!
    expect(Number(split.id)).toBe(split.data.id)
    await load.stop()
    const again = await follow(app.adminUrl, '?stats=1', { 'last-event-id': split.id! })
    await again.until(() => again.of('stats').length >= 1, 'stats after reconnecting')
    expect(again.frames.filter((f) => f.id !== undefined)).toEqual([])

    // Without ?stats=1: the audit events only.
    expect(plain.of('stats')).toEqual([])
    expect(plain.frames.map((f) => f.event)).toEqual(['split'])
  })
})

describe('health frames', () => {
  it('report a target failing its active checks and passing again, as they happen, only to this replica\'s streams', async () => {
    const blue = await startHealthUpstream('blue')
    const green = await startHealthUpstream('green')
    opened.push(blue, green)
    const app = await startTestApp(
      await testConfig([blue.url], [green.url], {
        admin: { host: '127.0.0.1', port: 0, token: TOKEN },
        healthCheck: { path: HEALTH_PATH, interval: '100ms', timeout: '500ms', unhealthyThreshold: 2, healthyThreshold: 1 },
      }),
    )
    opened.push(app)
    const all = await follow(app.adminUrl)
    const health = await follow(app.adminUrl, '?type=health')
    const splits = await follow(app.adminUrl, '?type=split')

    green.healthStatus = 503
    await all.until(() => all.of('health').length === 1, 'the health frame of green going down')
    const down = all.of('health')[0]!
    expect(down.id).toBeUndefined()
    expect(down.data).toMatchObject({ type: 'health', target: green.url, color: 'green', healthy: false, active: 'unhealthy', why: 'fails its active health checks', replica: null })
    // Seen within about one tick of the check that decided it.
    expect(Date.now() - Date.parse(down.data.at as string)).toBeLessThan(2_000)
    const upstreams = (await admin(app, 'GET', '/v1/upstreams', undefined, AUTH)).body as { green: { targets: { healthy: boolean }[] } }
    expect(upstreams.green.targets[0]!.healthy).toBe(false)

    green.healthStatus = 200
    await all.until(() => all.of('health').length === 2, 'the health frame of green coming back')
    expect(all.of('health')[1]!.data).toMatchObject({ color: 'green', healthy: true, why: 'passes its active health checks again' })

    await health.until(() => health.frames.length === 2, 'both on the health-only stream')
    expect(splits.frames).toEqual([])
    // Each replica's own view: not in the shared audit log.
    const events = (await admin(app, 'GET', '/v1/events', undefined, AUTH)).body as { type: string }[]
    expect(events.filter((e) => e.type === 'health')).toEqual([])
  })

  it('report an ejection after consecutive errors and its end, which the data path tells nobody', async () => {
    const blue = await startColorUpstream('blue')
    const green = await startColorUpstream('green')
    opened.push(blue, green)
    const app = await startTestApp(
      await testConfig([blue.url], [green.url], {
        admin: { host: '127.0.0.1', port: 0, token: TOKEN },
        autoRevert: { enabled: false },
        outlierDetection: { consecutiveErrors: 3, ejectionTime: '1500ms' },
      }),
    )
    opened.push(app)
    // The feed took its first look (the starting point) before the stream's head was sent.
    const live = await follow(app.adminUrl)
    green.status = 502
    for (let i = 0; i < 3; i++) await (await fetch(app.proxyUrl, { headers: { 'x-switchyard-color': 'green' } })).text()
    await live.until(() => live.of('health').length === 1, 'the ejection')
    const ejected = live.of('health')[0]!.data
    expect(ejected).toMatchObject({ color: 'green', target: green.url, healthy: false, why: 'ejected after 3 errors in a row: status 502' })
    expect(ejected.ejectedUntil).toEqual(expect.any(String))
    await live.until(() => live.of('health').length === 2, 'the end of the ejection', 4_000)
    const back = live.of('health')[1]!.data
    expect(back).toMatchObject({ color: 'green', healthy: true, why: 'ejection over: takes requests again' })
    expect(Date.parse(back.at as string)).toBeGreaterThanOrEqual(Date.parse(ejected.ejectedUntil as string))
  })

  it("in a fleet, each replica streams its own view, named by its replica id, beside the fleet's members", async () => {
    const blue = await startHealthUpstream('blue')
    const green = await startHealthUpstream('green')
    opened.push(blue, green)
    const keyPrefix = uniquePrefix()
    opened.push({ close: () => dropPrefix(keyPrefix) })
    const patch = {
      admin: { host: '127.0.0.1', port: 0, token: TOKEN },
      state: { redis: { url: SHARED_REDIS_URL, keyPrefix } },
      healthCheck: { path: HEALTH_PATH, interval: '100ms', timeout: '500ms', unhealthyThreshold: 2, healthyThreshold: 1 },
    }
    const a = await startTestApp(await testConfig([blue.url], [green.url], patch))
    opened.push(a)
    const b = await startTestApp(await testConfig([blue.url], [green.url], patch))
    opened.push(b)
    const onB = await follow(b.adminUrl, '?stats=1')
    type Fleet = { replica: string; leader: boolean; members: { replica: string }[] }
    await onB.until(() => onB.of('stats').some((f) => (f.data.fleet as Fleet | null)?.members.length === 2), 'both members in a stats frame')
    const fleet = onB.of('stats').at(-1)!.data.fleet as Fleet
    expect(fleet.members.map((m) => m.replica)).toContain(fleet.replica)

    blue.healthStatus = 503
    await onB.until(() => onB.of('health').length === 1, "B's health frame")
    expect(onB.of('health')[0]!.data).toMatchObject({ color: 'blue', healthy: false, replica: fleet.replica })
    // Not written to the shared log: A's audit log has no health events either.
    expect(((await admin(a, 'GET', '/v1/events', undefined, AUTH)).body as { type: string }[]).filter((e) => e.type === 'health')).toEqual([])
  })
})
