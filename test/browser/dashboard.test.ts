/**
 * The dashboard at the admin port's `/`, in headless Chromium (Debian's /usr/bin/chromium,
 * driven by playwright-core), against one real switchyard with a token and real upstreams for
 * the whole file. The tests run in order on one page: log in, move the split, watch traffic,
 * walk and abort a rollout, watch an auto-revert arrive.
 */
import { existsSync } from 'node:fs'
import { chromium, type Browser, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { App } from '../../src/app.js'
import { admin, startTestApp, testConfig } from '../helpers/app.js'
import { startPacedLoad, startTunableUpstream, type Load, type TunableUpstream } from '../helpers/load.js'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const TOKEN = 'dashboard-test-token'
const AUTH = { authorization: `Bearer ${TOKEN}` }
const WAIT = { timeout: 8_000 }

let browser: Browser
let page: Page
let app: App
let blue: TunableUpstream
let green: TunableUpstream
let load: Load | undefined
/** The little of the browser these page functions touch (the project's TypeScript has no DOM lib). */
interface InPage {
  document: { querySelector(selector: string): { textContent: string | null; getAttribute(name: string): string | null } | null }
  sessionStorage: { getItem(key: string): string | null }
}

/** The token the page keeps in its tab's sessionStorage. */
function storedToken(): Promise<string | null> {
  return page.evaluate(() => (globalThis as unknown as InPage).sessionStorage.getItem('switchyard.adminToken'))
}

/** Every URL the page asked for. */
const requested: string[] = []

beforeAll(async () => {
  // Loud, never a silent skip: .ci/run installs chromium when it is missing.
  if (!existsSync(CHROMIUM)) throw new Error(`no browser at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH); .ci/run installs it`)
  const launching = chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] })
  ;[blue, green] = await Promise.all([startTunableUpstream('blue'), startTunableUpstream('green')])
  app = await startTestApp(
    await testConfig([blue.url], [green.url], {
      admin: { host: '127.0.0.1', port: 0, token: TOKEN },
      split: { green: 10 },
      sticky: { keys: ['header:x-user-id'], cookie: '' },
      autoRevert: { enabled: true, window: '10s', maxErrorRate: 0.2 },
      // A step passes once green served 40 requests in it: with the load stopped, a step holds.
      rollout: { analysis: { interval: '100ms', minRequests: 40, maxP99: '500ms' } },
    }),
  )
  browser = await launching
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } })
  page.on('request', (request) => requested.push(request.url()))
}, 30_000)

afterAll(async () => {
  await load?.stop()
  await browser?.close()
  await app?.close()
  await Promise.all([blue?.close(), green?.close()])
})

async function split(): Promise<{ green: number; generation: number }> {
  return (await admin(app, 'GET', '/v1/split', undefined, AUTH)).body as { green: number; generation: number }
}

describe('the dashboard', () => {
  it('is served never cached, under a strict Content-Security-Policy, with no inline script', async () => {
    for (const path of ['/', '/ui/app.js', '/ui/app.css']) {
      const res = await fetch(app.adminUrl + path)
      expect(res.status, path).toBe(200)
      expect(res.headers.get('cache-control'), path).toBe('no-store')
      const csp = res.headers.get('content-security-policy') ?? ''
      expect(csp, path).toContain("default-src 'self'")
      expect(csp, path).toContain("script-src 'self'")
      expect(csp, path).not.toContain('unsafe-inline')
      expect(res.headers.get('x-content-type-options'), path).toBe('nosniff')
      if (path === '/') {
        const html = await res.text()
        expect(html).not.toMatch(/<script(?![^>]*\ssrc=)[^>]*>/i)
        expect(html).not.toMatch(/\sstyle=|\son[a-z]+=/i)
        expect(html).not.toMatch(/https?:\/\//i)
      }
    }
    expect((await fetch(`${app.adminUrl}/ui/..%2Fpackage.json`)).status).toBe(404)
    expect((await fetch(`${app.adminUrl}/ui/missing.js`)).status).toBe(404)
  })

  it('asks for the token, refuses a wrong one, and shows the split with the right one', async () => {
    await page.goto(`${app.adminUrl}/`)
    await page.locator('#login').waitFor({ state: 'visible', ...WAIT })
    await page.fill('#token', 'not-the-token')
    await page.click('#login-form button[type=submit]')
    await page.locator('#login-error', { hasText: 'That token was refused.' }).waitFor(WAIT)
    expect(await storedToken()).toBeNull()

    await page.fill('#token', TOKEN)
    await page.click('#login-form button[type=submit]')
    await page.locator('#conn[data-state=live]').waitFor(WAIT)
    expect(await page.isVisible('#login')).toBe(false)
    await page.locator('#split-green', { hasText: '10 %' }).waitFor(WAIT)
    expect(await page.textContent('#split-blue')).toBe('90 %')
    expect(await storedToken()).toBe(TOKEN)
  })

  it('moves the split with the slider once confirmed; a stale confirmation is refused with a message', async () => {
    await page.fill('#slider', '30')
    await page.click('#apply-split')
    await page.locator('#confirm-text', { hasText: 'green 30 %' }).waitFor(WAIT)
    // Nothing changes before the confirmation.
    expect((await split()).green).toBe(10)
    await page.click('#confirm-yes')
    await page.locator('#split-green', { hasText: '30 %' }).waitFor(WAIT)
    expect((await split()).green).toBe(30)

    // Asked at one generation, confirmed after someone else changed the split: 409, shown.
    await page.fill('#slider', '40')
    await page.click('#apply-split')
    await page.locator('#confirm').waitFor({ state: 'visible', ...WAIT })
    expect((await admin(app, 'PUT', '/v1/split', { green: 20 }, AUTH)).status).toBe(200)
    await page.locator('#split-green', { hasText: '20 %' }).waitFor(WAIT)
    await page.click('#confirm-yes')
    await page.locator('#message[data-kind=bad]', { hasText: 'SY_ERR_GENERATION_CONFLICT' }).waitFor(WAIT)
    expect((await split()).green).toBe(20)

    // The number beside the slider takes the API's 0.01 steps.
    await page.fill('#slider-value', '12.5')
    await page.click('#apply-split')
    await page.locator('#confirm-text', { hasText: 'green 12.5 %' }).waitFor(WAIT)
    await page.click('#confirm-yes')
    await page.locator('#split-green', { hasText: '12.5 %' }).waitFor(WAIT)
    expect((await split()).green).toBe(12.5)
    expect(await page.inputValue('#slider')).toBe('13')
  })

  it('draws live charts from the stream while traffic flows', async () => {
    load = startPacedLoad(app.proxyUrl, 80, 30_000)
    const value = (chart: string, series: string) => `#${chart} .legend[data-series=${series}] .value`
    // Requests per second of both colours, as text and as a line.
    await page.waitForFunction(
      ([b, g]) => {
        const { document } = globalThis as unknown as InPage
        return Number(document.querySelector(b!)?.textContent) > 0 && Number(document.querySelector(g!)?.textContent) > 0
      },
      [value('chart-rps', 'blue'), value('chart-rps', 'green')],
      WAIT,
    )
    const line = await page.getAttribute('#chart-rps path[data-series=blue]', 'd')
    expect(line).toMatch(/^M[\d.]+ [\d.]+/)
    // The next second's frame moves the line.
    const moved = (before: string | null) => (globalThis as unknown as InPage).document.querySelector('#chart-rps path[data-series=blue]')?.getAttribute('d') !== before
    await page.waitForFunction(moved, line, WAIT)
    expect(await page.textContent(value('chart-latency', 'blueP50'))).toMatch(/ms$/)
    expect(await page.textContent(value('chart-errors', 'green'))).toBe('0 %')
  })

  it('starts a rollout from the page, shows its step advance with the verdict, and aborts it once confirmed', async () => {
    await page.fill('#rollout-steps', '25,50,100')
    await page.fill('#rollout-hold', '1s')
    await page.click('#rollout-start button[type=submit]')
    await page.locator('#confirm-text', { hasText: 'Start a rollout' }).waitFor(WAIT)
    await page.click('#confirm-yes')
    await page.locator('#rollout-step[data-step="2"]').waitFor(WAIT)
    // No more traffic: step 2 cannot gather the 40 green requests it needs, so it stays.
    await load!.stop()
    load = undefined
    expect(await page.getAttribute('.step[data-step="1"]', 'data-state')).toBe('done')
    expect(await page.getAttribute('.step[data-step="2"]', 'data-state')).toBe('current')
    await page.locator('#verdict').waitFor(WAIT)
    expect(await page.textContent('#timeline')).toContain('step 2 of 3')

    await page.click('#abort')
    await page.locator('#confirm-text', { hasText: 'Abort the rollout' }).waitFor(WAIT)
    await page.click('#confirm-yes')
    await page.locator('.rollout-head .badge[data-kind=bad]', { hasText: 'aborted' }).waitFor(WAIT)
    await page.locator('#split-green', { hasText: /^0 %$/ }).waitFor(WAIT)
    expect((await split()).green).toBe(0)
  })

  it('shows an auto-revert in the timeline within a second of it happening', async () => {
    const set = await admin(app, 'PUT', '/v1/split', { green: 50 }, AUTH)
    expect(set.status, JSON.stringify(set.body)).toBe(200)
    load = startPacedLoad(app.proxyUrl, 80, 30_000)
    await page.locator('#split-green', { hasText: '50 %' }).waitFor(WAIT)
    green.failEvery = 1
    const row = page.locator('#timeline li[data-type=revert]')
    await row.waitFor(WAIT)
    const at = Date.parse((await row.getAttribute('data-at'))!)
    const shownAt = Number(await row.getAttribute('data-shown-at'))
    expect(shownAt - at).toBeLessThan(1000)
    await page.locator('#reverted', { hasText: 'auto-reverted' }).waitFor(WAIT)
    expect(await page.textContent('#split-green')).toBe('0 %')
  })

  it('made every request to its own origin, and logs out', async () => {
    expect(requested.length).toBeGreaterThan(5)
    expect(requested.filter((url) => !url.startsWith(`${app.adminUrl}/`))).toEqual([])
    await page.click('#logout')
    await page.locator('#login').waitFor({ state: 'visible', ...WAIT })
    expect(await storedToken()).toBeNull()
  })
})
