import { writeFile } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { StateFileError } from '../../src/state/errors.js'
import { admin, startTestApp, testConfig } from '../helpers/app.js'
import { startColorUpstream, type ColorUpstream } from '../helpers/color-upstream.js'

let blue: ColorUpstream
let green: ColorUpstream
beforeAll(async () => {
  ;[blue, green] = await Promise.all([startColorUpstream('blue'), startColorUpstream('green')])
})
afterAll(async () => {
  await Promise.all([blue.close(), green.close()])
})

describe('state across restarts', () => {
  it('restores the split, generation, revert latch and audit log; config split.green is only the first value', async () => {
    const config = await testConfig([blue.url], [green.url], { split: { green: 10 } })
    const first = await startTestApp(config)
    await admin(first, 'PUT', '/v1/split', { green: 33.33 })
    await admin(first, 'POST', '/v1/promote')
    await admin(first, 'PUT', '/v1/split', { blue: 70 })
    const before = await admin(first, 'GET', '/v1/split')
    const eventsBefore = await admin(first, 'GET', '/v1/events')
    await first.close()

    const second = await startTestApp(config)
    try {
      expect((await admin(second, 'GET', '/v1/split')).body).toEqual(before.body)
      expect(before.body).toMatchObject({ green: 30, generation: 4 })
      expect((await admin(second, 'GET', '/v1/events')).body).toEqual(eventsBefore.body)
      // Routing follows the restored split, not the config's 10 %.
      const greens = await Promise.all(
        Array.from({ length: 200 }, async (_, i) => (await fetch(second.proxyUrl, { headers: { 'x-user-id': `k${i}` } })).headers.get('x-switchyard-color')),
      )
      const share = greens.filter((c) => c === 'green').length / 200
      expect(share).toBeGreaterThan(0.2)
      expect(share).toBeLessThan(0.4)
      expect(second.logs.text()).toContain('split restored from the state')
    } finally {
      await second.close()
    }
  })

  it('keeps targets set through the API across a restart, until the config lists other targets', async () => {
    const canary = await startColorUpstream('canary')
    const next = await startColorUpstream('next')
    try {
      const config = await testConfig([blue.url], [green.url])
      const first = await startTestApp(config)
      expect((await admin(first, 'PUT', '/v1/upstreams/green', { targets: [canary.url] })).status).toBe(200)
      await first.close()

      const second = await startTestApp(config)
      const viaGreen = async (app: { proxyUrl: string }) =>
        (await fetch(app.proxyUrl, { headers: { 'x-switchyard-color': 'green' } })).headers.get('x-upstream')
      try {
        expect(second.targets().green).toEqual([canary.url])
        expect(await viaGreen(second)).toBe('canary')
        expect(second.logs.text()).toContain('green follows the targets set through the admin API')
      } finally {
        await second.close()
      }

      // A config that lists other green targets is a newer decision: it wins.
      const third = await startTestApp({ ...config, upstreams: { ...config.upstreams, green: { targets: [next.url] } } })
      try {
        expect(third.targets().green).toEqual([next.url])
        expect(await viaGreen(third)).toBe('next')
      } finally {
        await third.close()
      }
    } finally {
      await Promise.all([canary.close(), next.close()])
    }
  })

  it('refuses to start on a corrupt state file, naming it, and never replaces it', async () => {
    const config = await testConfig([blue.url], [green.url])
    await writeFile(config.state.file, '{"version":1,"split":{"green":')
    const err = await startTestApp(config).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(StateFileError)
    expect((err as Error).message).toContain(config.state.file)
    const { readFile } = await import('node:fs/promises')
    expect(await readFile(config.state.file, 'utf8')).toBe('{"version":1,"split":{"green":')
  })
})
