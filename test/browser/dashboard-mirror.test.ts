/**
 * The dashboard's Mirror panel in headless Chromium (Debian's /usr/bin/chromium, driven by
 * playwright-core) against one real switchyard with a token: set the share from the panel,
 * see a refusal's message, follow a change made elsewhere, and read the report of real pairs
 * (blue and green answer one field differently; a request id differs on every answer and is
 * learned as noise from blue's two targets).
 */
import { existsSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { chromium, type Browser, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { App } from '../../src/app.js'
import { admin, startTestApp, testConfig } from '../helpers/app.js'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const TOKEN = 'dashboard-mirror-token'
const AUTH = { authorization: `Bearer ${TOKEN}` }
const WAIT = { timeout: 8_000 }

/** The little of the browser these page functions touch (the project's TypeScript has no DOM lib). */
interface InPage {
  document: { querySelector(selector: string): { value?: string } | null }
}

let browser: Browser
let page: Page
let app: App
const upstreams: Server[] = []

/** An upstream answering `{"id":7,"price":PRICE,"requestId":<random>}`. */
async function startJsonUpstream(price: number): Promise<string> {
  const server = createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      // With a length: an answer without one counts as a stream, whose body is never compared.
      const body = JSON.stringify({ id: 7, price, requestId: Math.random().toString(36).slice(2) })
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body)
    })
  })
  upstreams.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

beforeAll(async () => {
  // Loud, never a silent skip: .ci/run installs chromium when it is missing.
  if (!existsSync(CHROMIUM)) throw new Error(`no browser at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH); .ci/run installs it`)
  const launching = chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] })
  const [blueA, blueB, green] = await Promise.all([startJsonUpstream(10), startJsonUpstream(10), startJsonUpstream(12)])
  app = await startTestApp(
    await testConfig([blueA, blueB], [green], {
      admin: { host: '127.0.0.1', port: 0, token: TOKEN },
      split: { green: 0 },
      mirror: { noise: { percent: 100, minDiffs: 2 } },
    }),
  )
  browser = await launching
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } })
}, 30_000)

afterAll(async () => {
  await browser?.close()
  await app?.close()
  for (const server of upstreams) {
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
})

async function mirrorPercent(): Promise<number> {
  return ((await admin(app, 'GET', '/v1/mirror', undefined, AUTH)).body as { percent: number }).percent
}

async function setFromPanel(value: string): Promise<void> {
  await page.fill('#mirror-input', value)
  await page.click('#mirror-apply')
}

describe('the dashboard mirror panel', () => {
  it('is served as its own module and stylesheet, and shows mirroring off after the login', async () => {
    for (const path of ['/ui/mirror.js', '/ui/mirror.css']) {
      const res = await fetch(app.adminUrl + path)
      expect(res.status, path).toBe(200)
      expect(res.headers.get('content-security-policy'), path).toContain("default-src 'self'")
    }
    await page.goto(`${app.adminUrl}/`)
    await page.fill('#token', TOKEN)
    await page.click('#login-form button[type=submit]')
    await page.locator('#conn[data-state=live]').waitFor(WAIT)
    await page.locator('#mirror-percent[data-percent="0"]').waitFor(WAIT)
    expect(await page.textContent('#mirror-what')).toContain('off')
    expect(await page.inputValue('#mirror-input')).toBe('0')
    expect(await page.textContent('#mirror-report')).toContain('No pairs compared')
  })

  it('sets the share from the panel: GET /v1/mirror has it, the timeline shows the event', async () => {
    await setFromPanel('37.5')
    await page.locator('#mirror-percent[data-percent="37.5"]').waitFor(WAIT)
    expect(await mirrorPercent()).toBe(37.5)
    expect(await page.textContent('#mirror-message')).toBe("Mirroring 37.5 % of blue's requests to green.")
    await page.locator('#timeline li[data-type=mirror]').waitFor(WAIT)
  })

  it("shows the server's 400 message for a bad value, and changes nothing", async () => {
    // Each refusal names its problem: the range, then the resolution.
    for (const [bad, problem] of [['150', /percent must be <= 100/], ['12.345', /two decimals/]] as const) {
      await setFromPanel(bad)
      const message = page.locator('#mirror-message[data-kind=bad]', { hasText: problem })
      await message.waitFor(WAIT)
      expect(await message.textContent()).toMatch(/^Refused \(400 SY_ERR_HTTP_400\): (body\.percent|"percent") must/)
      expect(await mirrorPercent()).toBe(37.5)
      // The input shows the share in force again.
      await page.waitForFunction(() => (globalThis as unknown as InPage).document.querySelector('#mirror-input')?.value === '37.5', undefined, WAIT)
    }
    await setFromPanel('lots')
    await page.locator('#mirror-message[data-kind=bad]', { hasText: 'is not a number' }).waitFor(WAIT)
    expect(await page.textContent('#mirror-percent')).toBe('37.5 %')
  })

  it('follows a change made elsewhere, through the event stream', async () => {
    expect((await admin(app, 'PUT', '/v1/mirror', { percent: 100, reason: 'from a script' }, AUTH)).status).toBe(200)
    // Sooner than the panel's own refresh every few seconds: the "mirror" event brings it.
    await page.locator('#mirror-percent[data-percent="100"]').waitFor({ timeout: 2_500 })
    expect(await page.inputValue('#mirror-input')).toBe('100')
  })

  it('shows the report: pairs, differing share, the route and its differing field, the noisy one marked', async () => {
    for (let i = 0; i < 30; i++) expect((await fetch(`${app.proxyUrl}/api/items?page=${i}`)).status).toBe(200)
    await page.locator('.mirror-path[data-path="$.price"]').waitFor(WAIT)
    await page.locator('.mirror-path[data-path="$.requestId"][data-noisy=true]').waitFor(WAIT)
    const summary = page.locator('#mirror-summary')
    expect(Number(await summary.getAttribute('data-pairs'))).toBeGreaterThan(0)
    expect(await summary.textContent()).toMatch(/100 % differ/)
    expect(await page.textContent('.mirror-path[data-path="$.price"]')).toMatch(/\$\.price \d+ · 100 %/)
    expect(await page.textContent('.mirror-path[data-noisy=true]')).toContain('noisy')
    // For a look at the panel: MIRROR_SCREENSHOT=/tmp/mirror.png
    if (process.env.MIRROR_SCREENSHOT) await page.screenshot({ path: process.env.MIRROR_SCREENSHOT })
  })
})
