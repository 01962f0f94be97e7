import { afterEach, describe, expect, it } from 'vitest'
import { admin, startTestApp, testConfig } from '../helpers/app.js'
import { startTunableUpstream } from '../helpers/load.js'

const opened: { close(): Promise<void> }[] = []
afterEach(async () => {
  for (const thing of opened.splice(0).reverse()) await thing.close()
})

async function setup() {
  const blue = await startTunableUpstream('blue')
  const green = await startTunableUpstream('green')
  opened.push(blue, green)
  const app = await startTestApp(await testConfig([blue.url], [green.url], { split: { green: 0 }, override: { previewSecret: 'a test secret of 16+ chars' } }))
  opened.push(app)
  return { app, blue, green }
}

describe('override header and preview links, over HTTP', () => {
  it('answers an unknown override value 400 naming it, and never forwards it', async () => {
    const { app, blue, green } = await setup()
    const res = await fetch(app.proxyUrl, { headers: { 'x-switchyard-color': 'purple' } })
    expect(res.status).toBe(400)
    expect(((await res.json()) as { message: string }).message).toBe('x-switchyard-color must be "blue" or "green", not "purple"')
    expect(blue.hits + green.hits).toBe(0)
    expect((await fetch(app.proxyUrl, { headers: { 'x-switchyard-color': 'green' } })).headers.get('x-switchyard-color')).toBe('green')
  })

  it('POST /v1/preview signs a link that sets the preview cookie; bad input is a 400 that names it', async () => {
    const { app } = await setup()
    const made = await admin(app, 'POST', '/v1/preview', { color: 'green', ttl: '10m' })
    expect(made.status).toBe(201)
    const link = made.body as { url: string; path: string; expiresAt: string; color: string }
    expect(link.color).toBe('green')
    expect(Date.parse(link.expiresAt) - Date.now()).toBeGreaterThan(9 * 60_000)
    const landing = await fetch(link.url, { redirect: 'manual' })
    expect(landing.status).toBe(302)
    expect(landing.headers.get('location')).toBe('/')
    const cookie = /^(sy_preview=[^;]+)/.exec(landing.headers.get('set-cookie') ?? '')![1]!
    expect((await fetch(app.proxyUrl, { headers: { cookie } })).headers.get('x-switchyard-color')).toBe('green')
    expect((await fetch(app.proxyUrl)).headers.get('x-switchyard-color')).toBe('blue')
    // An open redirect is not on offer: only local paths.
    const away = await fetch(`${link.url}&to=//evil.example/`, { redirect: 'manual' })
    expect(away.headers.get('location')).toBe('/')
    for (const body of [{ color: 'purple' }, { color: 'green', ttl: 'forever' }, { color: 'green', ttl: '30d' }, {}]) {
      const refused = await admin(app, 'POST', '/v1/preview', body)
      expect(refused.status).toBe(400)
      expect((refused.body as { message: string }).message).toMatch(/color|ttl/)
    }
  })
})
