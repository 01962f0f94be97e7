import { afterEach, describe, expect, it } from 'vitest'
import type { App } from '../../src/app.js'
import { admin, startTestApp, testConfig } from '../helpers/app.js'
import { startTunableUpstream } from '../helpers/load.js'

const opened: { close(): Promise<void> }[] = []
afterEach(async () => {
  for (const thing of opened.splice(0).reverse()) await thing.close()
})

const USERS = Array.from({ length: 40 }, (_, i) => `user-${i}`)

async function colours(app: App): Promise<string[]> {
  const out: string[] = []
  for (const user of USERS) {
    const res = await fetch(app.proxyUrl, { headers: { 'x-user-id': user } })
    await res.arrayBuffer()
    out.push(res.headers.get('x-switchyard-color') ?? '?')
  }
  return out
}

async function setup(reshuffle: 'perRelease' | 'never') {
  const blue = await startTunableUpstream('blue')
  const green = await startTunableUpstream('green')
  const next = await startTunableUpstream('green')
  opened.push(blue, green, next)
  const patch = { sticky: { keys: ['header:x-user-id'], reshuffle }, split: { green: 50 } }
  const config = await testConfig([blue.url], [green.url], patch)
  const app = await startTestApp(config)
  opened.push(app)
  return { app, reload: async () => app.reload(await testConfig([blue.url], [next.url], { ...patch, state: { file: config.state.file } })) }
}

describe('sticky.reshuffle', () => {
  it('perRelease: new green targets from a config reload draw a new group; the split stays monotone within it', async () => {
    const { app, reload } = await setup('perRelease')
    const before = await colours(app)
    expect(await colours(app)).toEqual(before)
    await reload()
    const after = await colours(app)
    // 40 users at 50 %: the same grouping again by chance is 1 in 2^40.
    expect(after).not.toEqual(before)
    expect(await colours(app)).toEqual(after)
    await admin(app, 'PUT', '/v1/split', { green: 80 })
    const raised = await colours(app)
    after.forEach((c, i) => c === 'green' && expect(raised[i]).toBe('green'))
  })

  it('never: a new release keeps every user where they were', async () => {
    const { app, reload } = await setup('never')
    const before = await colours(app)
    await reload()
    expect(await colours(app)).toEqual(before)
  })
})
