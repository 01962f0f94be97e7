import { describe, expect, it } from 'vitest'
import { ErrorWindow } from '../../src/control/analysis/error-window.js'
import { decideRevert, readCeiling } from '../../src/control/analysis/judge.js'

describe('ErrorWindow', () => {
  it('counts requests and errors per colour inside the window only', () => {
    let now = 1_000_000
    const window = new ErrorWindow(3000, () => now)
    window.record('green', 10, true)
    window.record('green', 10, false)
    window.record('blue', 10, false)
    now += 1000
    window.record('green', 10, true)
    expect(window.stats('green')).toMatchObject({ requests: 3, errors: 2 })
    expect(window.stats('green').errorRate).toBeCloseTo(2 / 3)
    expect(window.stats('blue')).toMatchObject({ requests: 1, errors: 0, errorRate: 0 })
    now += 2000 // the first second has left the 3 s window
    expect(window.stats('green')).toMatchObject({ requests: 1, errors: 1 })
    now += 5000
    expect(window.stats('green')).toMatchObject({ requests: 0, errors: 0, errorRate: 0, p50Ms: null, p99Ms: null })
  })

  it('reuses a slot for a new second without mixing counts', () => {
    let now = 0
    const window = new ErrorWindow(2000, () => now)
    for (let i = 0; i < 10; i++) window.record('green', 5, true)
    now = 2000 // same slot (2 % 2 === 0), new second
    window.record('green', 5, false)
    expect(window.stats('green')).toMatchObject({ requests: 1, errors: 0 })
  })

  it('estimates p50 and p99 within the histogram resolution', () => {
    const window = new ErrorWindow(10_000, () => 50_000)
    for (let i = 1; i <= 1000; i++) window.record('blue', i, false)
    const { p50Ms, p99Ms } = window.stats('blue')
    expect(p50Ms).toBeGreaterThanOrEqual(500)
    expect(p50Ms).toBeLessThanOrEqual(500 * 1.1)
    expect(p99Ms).toBeGreaterThanOrEqual(990)
    expect(p99Ms).toBeLessThanOrEqual(990 * 1.1)
  })

  it('second() reads one whole second from the same buckets, and nothing once it left the window', () => {
    let now = 7_000_000
    const window = new ErrorWindow(3000, () => now)
    window.record('green', 4, true)
    window.record('blue', 2, false)
    now += 1000
    for (let i = 0; i < 3; i++) window.record('blue', 8, false)
    const first = Math.floor(now / 1000) - 1
    expect(window.second(first).green).toMatchObject({ requests: 1, errors: 1, errorRate: 1 })
    expect(window.second(first).blue).toMatchObject({ requests: 1, errors: 0 })
    expect(window.second(first + 1).blue).toMatchObject({ requests: 3 })
    expect(window.second(first + 1).blue.p50Ms).toBeGreaterThanOrEqual(8)
    now += 3000
    expect(window.second(first).blue).toMatchObject({ requests: 0, p50Ms: null })
  })

  it('reset forgets one colour', () => {
    const window = new ErrorWindow(5000, () => 10_000)
    window.record('green', 1, true)
    window.record('blue', 1, true)
    window.reset('green')
    expect(window.stats('green').requests).toBe(0)
    expect(window.stats('blue').requests).toBe(1)
  })
})

describe('WindowRecorder + merge', () => {
  it('merged deltas from several workers equal recording everything in one window', async () => {
    const { WindowRecorder } = await import('../../src/outcomes/window-delta.js')
    let now = 100_000
    const clock = () => now
    const direct = new ErrorWindow(5000, clock)
    const merged = new ErrorWindow(5000, clock)
    const workers = [new WindowRecorder(clock), new WindowRecorder(clock), new WindowRecorder(clock)]
    for (let i = 0; i < 600; i++) {
      if (i % 150 === 0) now += 1000
      const color = i % 3 === 0 ? 'green' : 'blue'
      const ms = (i % 97) + 1
      const error = i % 7 === 0
      direct.record(color, ms, error)
      workers[i % 3]!.record(color, ms, error)
      if (i % 50 === 0) for (const w of workers) for (const d of w.take()) merged.merge(d)
    }
    for (const w of workers) for (const d of w.take()) merged.merge(d)
    expect(merged.all()).toEqual(direct.all())
  })

  it('drops deltas older than the window', async () => {
    const { WindowRecorder } = await import('../../src/outcomes/window-delta.js')
    let now = 100_000
    const recorder = new WindowRecorder(() => now)
    recorder.record('green', 1, true)
    now += 10_000
    const window = new ErrorWindow(3000, () => now)
    for (const d of recorder.take()) window.merge(d)
    expect(window.stats('green').requests).toBe(0)
  })
})

describe('ErrorWindow.reset with late worker reports', () => {
  it('drops a delta recorded before the reset, so the errors behind a revert cannot trip the next split', async () => {
    const { WindowRecorder } = await import('../../src/outcomes/window-delta.js')
    let now = 100_000
    const recorder = new WindowRecorder(() => now)
    const window = new ErrorWindow(30_000, () => now)
    for (let i = 0; i < 50; i++) recorder.record('green', 1, true)
    now += 40
    // The primary reverts and resets green before this worker's next report arrives.
    window.reset('green')
    now += 60
    for (const d of recorder.take()) window.merge(d)
    expect(window.stats('green').requests).toBe(0)
    // What the worker records after the reset counts as usual.
    now += 10
    recorder.record('green', 1, false)
    for (const d of recorder.take()) window.merge(d)
    expect(window.stats('green')).toMatchObject({ requests: 1, errors: 0 })
  })
})

describe('countsAsError', () => {
  it('5xx and upstream failures count; 4xx and a client leaving early do not', async () => {
    const { countsAsError } = await import('../../src/outcomes/window-delta.js')
    expect(countsAsError(502, 'connect', -1, 10, 5000)).toBe(true)
    expect(countsAsError(500, undefined, 3, 10, 5000)).toBe(true)
    expect(countsAsError(404, undefined, 3, 10, 5000)).toBe(false)
    // A 200 whose body the upstream cut after the head counts by its kind.
    expect(countsAsError(200, 'reset', 5, 900, 5000)).toBe(true)
    expect(countsAsError(200, 'idle', -1, 900, 5000)).toBe(true)
    expect(countsAsError(499, 'client', -1, 4999, 5000)).toBe(false)
  })

  it('a client that gave up after abandonAfter with no first byte is a failure of the colour', async () => {
    const { countsAsError } = await import('../../src/outcomes/window-delta.js')
    expect(countsAsError(499, 'client', -1, 5000, 5000)).toBe(true)
    // It had its first byte (a token): leaving mid-stream is the client's business.
    expect(countsAsError(499, 'client', 40, 60_000, 5000)).toBe(false)
    // 0 = off.
    expect(countsAsError(499, 'client', -1, 60_000, 0)).toBe(false)
  })
})

describe('time to first byte and routes', () => {
  it('WindowRecorder.take() carries a ttfb histogram and per-route requests and errors, omitting empty ones', async () => {
    const { WindowRecorder, binOf } = await import('../../src/outcomes/window-delta.js')
    let now = 100_000
    const recorder = new WindowRecorder(() => now)
    recorder.record('green', 900, false, 300, '/v1/chat')
    recorder.record('green', 900, true, 300, '/v1/chat')
    recorder.record('green', 50, true, -1, '/v1/models')
    recorder.record('blue', 20, false, -1, '')
    const deltas = recorder.take()
    const green = deltas.find((d) => d.color === 'green')!
    expect(green).toMatchObject({ requests: 3, errors: 2, ttfb: [binOf(300), 2] })
    expect(green.routes).toEqual(['/v1/chat', 2, 1, '/v1/models', 1, 1])
    const blue = deltas.find((d) => d.color === 'blue')!
    expect(blue).not.toHaveProperty('ttfb')
    expect(blue).not.toHaveProperty('routes')
    // The next second starts empty.
    now += 1000
    recorder.record('green', 10, false, 5, '/v1/chat')
    const [next] = recorder.take()
    expect(next).toMatchObject({ requests: 1, errors: 0, ttfb: [binOf(5), 1], routes: ['/v1/chat', 1, 0] })
    expect(recorder.take()).toEqual([])
  })

  it('ErrorWindow gives ttfb percentiles over the requests that had a first byte, directly or merged', async () => {
    const { WindowRecorder } = await import('../../src/outcomes/window-delta.js')
    const now = 50_000
    const direct = new ErrorWindow(10_000, () => now)
    const merged = new ErrorWindow(10_000, () => now)
    const recorder = new WindowRecorder(() => now)
    for (let i = 1; i <= 1000; i++) {
      // Every fourth request never got a first byte: not part of the ttfb percentiles.
      const ttfb = i % 4 === 0 ? -1 : i
      direct.record('green', 2000, false, ttfb)
      recorder.record('green', 2000, false, ttfb, '/r')
    }
    for (const d of recorder.take()) merged.merge(d)
    const stats = direct.stats('green')
    expect(stats.ttfbP50Ms).toBeGreaterThanOrEqual(500)
    expect(stats.ttfbP50Ms).toBeLessThanOrEqual(500 * 1.1)
    expect(stats.ttfbP99Ms).toBeGreaterThanOrEqual(990)
    expect(stats.ttfbP99Ms).toBeLessThanOrEqual(1000 * 1.1)
    expect(stats.p50Ms).toBeGreaterThanOrEqual(2000)
    expect(merged.stats('green')).toEqual(stats)
    expect(direct.stats('blue')).toMatchObject({ ttfbP50Ms: null, ttfbP99Ms: null })
  })

  it('a reused slot forgets the ttfb of its previous second', () => {
    let now = 0
    const window = new ErrorWindow(2000, () => now)
    for (let i = 0; i < 10; i++) window.record('green', 5, false, 1000)
    now = 2000
    window.record('green', 5, false, 2)
    window.record('green', 5, false, -1)
    expect(window.stats('green').ttfbP99Ms).toBeLessThanOrEqual(2.2)
  })
})

describe('ErrorWindow.shared: both colours over the same seconds', () => {
  it('after green is reset (a revert), blue counts only from then: a failure both now share is not pinned on green', () => {
    let now = 5_000_000
    const window = new ErrorWindow(30_000, () => now)
    // 20 s of healthy traffic, 90 % on blue.
    for (let s = 0; s < 20; s++, now += 1000) for (let i = 0; i < 200; i++) window.record(i % 10 === 0 ? 'green' : 'blue', 5, false)
    // Green is reverted (its history forgotten); then both colours fail everything.
    window.reset('green')
    for (let s = 0; s < 2; s++, now += 1000) {
      for (let i = 0; i < 7; i++) window.record('green', 5, true)
      for (let i = 0; i < 60; i++) window.record('blue', 5, true)
    }
    now -= 1
    // Whole windows: blue looks healthy (3 % errors, its old successes), green alone looks broken.
    expect(window.stats('blue').errorRate).toBeLessThan(0.05)
    const { green, blue } = window.shared()
    expect(green).toMatchObject({ requests: 14, errors: 14 })
    expect(blue).toMatchObject({ requests: 120, errors: 120 })
    // So the ceiling sees a shared degradation, not a green to revert.
    const ceiling = readCeiling(green, blue, 0.05, 0.01)
    expect(decideRevert([], ceiling, true).action).toBe('shared-degradation')
    const wholeWindows = readCeiling(window.stats('green'), window.stats('blue'), 0.05, 0.01)
    expect(decideRevert([], wholeWindows, true).action).toBe('revert') // what auto-revert did before
  })

  it('is the whole window for both while neither was reset, and follows whichever was reset last', () => {
    let now = 9_000_000
    const window = new ErrorWindow(10_000, () => now)
    for (let s = 0; s < 5; s++, now += 1000) {
      window.record('blue', 5, false)
      window.record('green', 5, false)
    }
    expect(window.shared().blue.requests).toBe(5)
    expect(window.shared().green.requests).toBe(5)
    window.reset('blue') // blue got new targets: green is compared from then on too
    window.record('blue', 5, true)
    window.record('green', 5, true)
    expect(window.shared().blue).toMatchObject({ requests: 1, errors: 1 })
    expect(window.shared().green).toMatchObject({ requests: 1, errors: 1 })
    now += 20_000 // long after: the window bounds it again
    expect(window.shared().green.requests).toBe(0)
  })
})
