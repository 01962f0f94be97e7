import { describe, expect, it } from 'vitest'
import { ErrorWindow } from '../../src/control/error-window.js'

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
    const { WindowRecorder } = await import('../../src/control/error-window.js')
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
    const { WindowRecorder } = await import('../../src/control/error-window.js')
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
    const { WindowRecorder } = await import('../../src/control/error-window.js')
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
