/**
 * The dashboard's service selector in headless Chromium (Debian's /usr/bin/chromium, driven by
 * playwright-core) against one real switchyard fronting two services, each with its own real
 * blue and green: `api` (Host api.test) and `web` (everything else, the default service).
 * Choosing `api` moves only api's split, and the choice survives a reload through the hash.
 */
import { existsSync } from 'node:fs'
import { chromium, type Browser, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { App } from '../../src/app.js'
import { admin, startTestApp, testConfig } from '../helpers/app.js'
import { startTunableUpstream, type TunableUpstream } from '../helpers/load.js'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const TOKEN = 'dashboard-services-token'
const AUTH = { authorization: `Bearer ${TOKEN}` }
const WAIT = { timeout: 8_000 }

let browser: Browser
let page: Page
let app: App
const upstreams: TunableUpstream[] = []
/** Every call the page made, as `METHOD path`. */
const requested: string[] = []

beforeAll(async () => {
  // Loud, never a silent skip: .ci/run installs chromium when it is missing.
  if (!existsSync(CHROMIUM)) throw new Error(`no browser at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH); .ci/run installs it`)
  const launching = chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] })
  const [apiBlue, apiGreen, webBlue, webGreen] = await Promise.all(['api-blue', 'api-green', 'web-blue', 'web-green'].map((name) => startTunableUpstream(name)))
  upstreams.push(apiBlue!, apiGreen!, webBlue!, webGreen!)
  const colours = (blue: TunableUpstream, green: TunableUpstream) => ({ blue: { targets: [blue.url] }, green: { targets: [green.url] } })
  app = await startTestApp(
    await testConfig([webBlue!.url], [webGreen!.url], {
      proxy: { host: '127.0.0.1', port: 0, defaultService: 'web' },
      admin: { host: '127.0.0.1', port: 0, token: TOKEN },
      services: {
        api: { match: { hosts: ['api.test'] }, upstreams: colours(apiBlue!, apiGreen!), split: { green: 10 } },
        web: { upstreams: colours(webBlue!, webGreen!), split: { green: 20 } },
      },
    }),
  )
  browser = await launching
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } })
  page.on('request', (request) => requested.push(`${request.method()} ${new URL(request.url()).pathname}`))
}, 30_000)

afterAll(async () => {
  await browser?.close()
  await app?.close()
  await Promise.all(upstreams.map((u) => u.close()))
})

async function split(service: string): Promise<{ green: number; generation: number }> {
  const res = await admin(app, 'GET', `/v1/services/${service}/split`, undefined, AUTH)
  expect(res.status, JSON.stringify(res.body)).toBe(200)
  return res.body as { green: number; generation: number }
}

describe('the dashboard with several services', () => {
  it('lists the services, the default one first, and shows it until another is chosen', async () => {
    await page.goto(`${app.adminUrl}/`)
    await page.locator('#login').waitFor({ state: 'visible', ...WAIT })
    await page.fill('#token', TOKEN)
    await page.click('#login-form button[type=submit]')
    await page.locator('#conn[data-state=live]').waitFor(WAIT)
    await page.locator('#service').waitFor({ state: 'visible', ...WAIT })
    expect(await page.locator('#service option').allTextContents()).toEqual(['web (default)', 'api'])
    expect(await page.inputValue('#service')).toBe('web')
    await page.locator('#split-green', { hasText: '20 %' }).waitFor(WAIT)
    expect(new URL(page.url()).hash).toBe('#service=web')
  })

  it("moves only the chosen service's split, through that service's routes", async () => {
    const web = await split('web')
    await page.selectOption('#service', 'api')
    await page.waitForURL(/#service=api$/, WAIT)
    await page.locator('#split-green', { hasText: '10 %' }).waitFor(WAIT)
    expect(await page.title()).toContain('api')

    await page.fill('#slider', '30')
    await page.click('#apply-split')
    await page.locator('#confirm-text', { hasText: 'green 30 %' }).waitFor(WAIT)
    await page.click('#confirm-yes')
    await page.locator('#split-green', { hasText: '30 %' }).waitFor(WAIT)

    expect((await split('api')).green).toBe(30)
    expect(await split('web')).toEqual(web)
    expect(requested).toContain('PUT /v1/services/api/split')
    expect(requested).toContain('GET /v1/services/api/events/stream')
    expect(requested.filter((r) => r.startsWith('PUT '))).toEqual(['PUT /v1/services/api/split'])
  })

  it('keeps the chosen service across a reload (#service=api)', async () => {
    await page.reload()
    await page.locator('#conn[data-state=live]').waitFor(WAIT)
    expect(new URL(page.url()).hash).toBe('#service=api')
    expect(await page.inputValue('#service')).toBe('api')
    await page.locator('#split-green', { hasText: '30 %' }).waitFor(WAIT)
    expect(await page.title()).toContain('api')
  })
})
