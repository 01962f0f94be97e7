import { afterEach, describe, expect, it } from 'vitest'
import { DeadlineSweep, type Timed } from '../../../src/proxy/raw/deadlines.js'
import { until } from '../../helpers/wait.js'

/** A connection's stand-in: records when its deadline was found passed. */
class Item implements Timed {
  deadline = 0
  firedAt: number[] = []
  expired(): void {
    this.firedAt.push(performance.now())
    this.deadline = 0
  }
}

/** Waits until a second sweep tells a deadline `ms` away: the sweep under test had ticks enough to act by then. */
async function anotherSweepAfter(ms: number): Promise<void> {
  const watcher = new Item()
  const other = new DeadlineSweep([watcher])
  other.start()
  watcher.deadline = other.after(ms)
  try {
    await until(() => watcher.firedAt.length > 0)
  } finally {
    other.stop()
  }
}

let sweep: DeadlineSweep | undefined
afterEach(() => sweep?.stop())

describe('DeadlineSweep', () => {
  it('tells each item once its deadline passed, never before, and leaves items without one alone', async () => {
    const items = new Set([new Item(), new Item(), new Item()])
    const [soon, later, none] = [...items] as [Item, Item, Item]
    sweep = new DeadlineSweep(items)
    sweep.start()
    soon.deadline = sweep.after(40)
    later.deadline = sweep.after(120)
    const soonDue = soon.deadline
    const laterDue = later.deadline
    await until(() => later.firedAt.length > 0)
    expect(soon.firedAt).toHaveLength(1)
    expect(soon.firedAt[0]!).toBeGreaterThanOrEqual(soonDue)
    expect(later.firedAt[0]!).toBeGreaterThanOrEqual(laterDue)
    expect(soon.firedAt[0]!).toBeLessThan(later.firedAt[0]!)
    expect(none.firedAt).toHaveLength(0)
  })

  it('follows an item added after it started and one whose deadline moved on', async () => {
    const items = new Set<Item>()
    sweep = new DeadlineSweep(items)
    sweep.start()
    const moved = new Item()
    items.add(moved)
    moved.deadline = sweep.after(30)
    // Moved on (as a body read restarts its silence): the first deadline no longer counts.
    const first = moved.deadline
    moved.deadline = sweep.after(90)
    await until(() => moved.firedAt.length > 0)
    expect(moved.firedAt[0]! - first).toBeGreaterThanOrEqual(60)
  })

  it('asked to stop when empty, keeps telling the items left and stops after the last is gone', async () => {
    const items = new Set([new Item()])
    const [last] = [...items] as [Item]
    sweep = new DeadlineSweep(items)
    sweep.start()
    sweep.stopWhenEmpty()
    last.deadline = sweep.after(30)
    await until(() => last.firedAt.length > 0)
    items.clear()
    await until(() => !sweep!.running)
    // Stopped: an item back with a deadline is not told (another sweep shows the time passed).
    items.add(last)
    last.deadline = sweep.after(10)
    await anotherSweepAfter(60)
    expect(last.firedAt).toHaveLength(1)
  })

  it('stops telling once stopped', async () => {
    const item = new Item()
    sweep = new DeadlineSweep([item])
    sweep.start()
    item.deadline = sweep.after(20)
    sweep.stop()
    await anotherSweepAfter(100)
    expect(item.firedAt).toHaveLength(0)
  })
})
