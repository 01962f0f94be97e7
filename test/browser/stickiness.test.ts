/**
 * Stickiness as real browsers meet it: headless Chromium (Debian's /usr/bin/chromium, driven by
 * playwright-core) through a real switchyard in front of a small app that sets and rotates its
 * own session cookie, an identity provider on another site that form-posts back, cookie expiry
 * under activity, a split raised while browsing, a new release, and preview links.
 */
import { existsSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { admin, startTestApp, testConfig } from '../helpers/app.js'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const LONG = 120_000

let browser: Browser
beforeAll(async () => {
  // Loud, never a silent skip: .ci/run installs chromium when it is missing.
  if (!existsSync(CHROMIUM)) throw new Error(`no browser at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH); .ci/run installs it`)
  // Two sites on loopback: the app at app.test, the identity provider at idp.test.
  // Without site isolation: each cross-site step of the login (to idp.test and back) would start
  // a renderer process, ~1 s each on two busy cores (14 users: 17 s against 9 s, measured). Cookies
  // (SameSite above all) are the network stack's, the same in either process model.
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--host-resolver-rules=MAP *.test 127.0.0.1', '--disable-site-isolation-trials', '--disable-features=IsolateOrigins,site-per-process'],
  })
}, LONG)
afterAll(async () => {
  await browser?.close()
})

const opened: { close(): Promise<void> }[] = []
afterEach(async () => {
  for (const thing of opened.splice(0).reverse()) await thing.close()
  // A pooled page may still be on its way somewhere (a test that failed mid-navigation): settle
  // it on a blank page, or drop its context, so that the next test starts from a quiet browser.
  for (const context of [...pool]) {
    try {
      await pageOf(context).goto('about:blank')
    } catch {
      pool.splice(pool.indexOf(context), 1)
      await context.close().catch(() => undefined)
    }
  }
})

/**
 * Browser contexts kept for the whole file, each with its one page. A new context's first page
 * costs a renderer process (a third of a second, seconds on a busy machine); a context whose
 * cookies are cleared is, to switchyard and the app, a new visitor: they see nothing else of it
 * (no "ip" key, and no answer here is cacheable). With the renderers already up, the users of a
 * test browse all at once: on two cores that beat five at a time (measured).
 */
const pool: BrowserContext[] = []

/**
 * The app each colour runs: `/login` sets a `session` cookie, `/callback` (GET or POST)
 * rotates it, `/stream` is an SSE stream naming the colour, everything else a page.
 */
async function startAppUpstream(color: string): Promise<{ url: string; hits: number; close(): Promise<void> }> {
  const state = { hits: 0 }
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    state.hits++
    req.resume()
    const path = req.url ?? '/'
    if (path.startsWith('/tokens')) {
      // An AI-style token stream: 25 events, 100 ms apart (`?every=` ms).
      const every = Number(new URL(path, 'http://app').searchParams.get('every') ?? 100)
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
      let n = 0
      const timer = setInterval(() => {
        res.write(`data: token ${++n}\n\n`)
        if (n === 25) {
          clearInterval(timer)
          res.end()
        }
      }, every)
      res.on('close', () => clearInterval(timer))
      return
    }
    if (path.startsWith('/stream')) {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
      res.end(`data: ${color}\n\n`)
      return
    }
    const cookies: string[] = []
    if (path.startsWith('/login') || path.startsWith('/callback')) cookies.push(`session=${color}-${Math.random().toString(36).slice(2)}; Path=/; HttpOnly`)
    res.writeHead(200, { 'content-type': 'text/html', ...(cookies.length > 0 ? { 'set-cookie': cookies } : {}) })
    res.end(`<html><body><h1 id="color">${color}</h1><p>${path}</p></body></html>`)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    url,
    get hits() {
      return state.hits
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

/** An identity provider on another site (idp.test, the app is app.test): form-posts back, as OIDC form_post does. */
async function startIdp(): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const target = new URL(req.url ?? '/', 'http://idp').searchParams.get('redirect') ?? '/'
    res.writeHead(200, { 'content-type': 'text/html' })
    res.end(
      `<html><body><form id="f" method="POST" action="${target}"><input name="code" value="abc"></form>` +
        `<script>document.getElementById('f').submit()</script></body></html>`,
    )
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://idp.test:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

async function setup(patch: { sticky?: object; [key: string]: unknown } = {}) {
  const [blue, green] = await Promise.all([startAppUpstream('blue'), startAppUpstream('green')])
  opened.push(blue, green)
  const config = await testConfig([blue.url], [green.url], {
    sticky: { keys: ['cookie:session', 'header:x-user-id'], cookie: 'sy_sid', ...(patch.sticky ?? {}) },
    autoRevert: { enabled: false },
    ...Object.fromEntries(Object.entries(patch).filter(([k]) => k !== 'sticky')),
  })
  const app = await startTestApp(config)
  opened.push(app)
  const site = app.proxyUrl.replace('127.0.0.1', 'app.test')
  return { app, blue, green, site }
}

/** `n` new visitors: contexts from the pool (made as needed) with no cookies, each on its one page. */
async function users(n: number): Promise<BrowserContext[]> {
  const made = await Promise.all(
    Array.from({ length: Math.max(0, n - pool.length) }, async () => {
      const context = await browser.newContext()
      // A cross-site navigation starts a renderer of its own: seconds on a loaded machine, not playwright's 30.
      context.setDefaultTimeout(60_000)
      await context.newPage()
      return context
    }),
  )
  pool.push(...made)
  const contexts = pool.slice(0, n)
  await Promise.all(contexts.map((context) => context.clearCookies()))
  return contexts
}

/** The one page of a pooled context. */
function pageOf(context: BrowserContext): Page {
  const page = context.pages()[0]
  if (page === undefined) throw new Error('a pooled context lost its page')
  return page
}

/** Navigates and returns the colour that answered. */
async function visit(context: BrowserContext, url: string): Promise<string> {
  const page = pageOf(context)
  // The response head is what routing decided; cookies are stored from it.
  const response = await page.goto(url, { waitUntil: 'commit' })
  const color = response?.headers()['x-switchyard-color']
  if (color === undefined) throw new Error(`no colour header from ${url}`)
  return color
}

async function sid(context: BrowserContext): Promise<string | undefined> {
  return (await context.cookies()).find((c) => c.name === 'sy_sid')?.value.split('.')[0]
}

describe('in a real browser', () => {
  it('a login that rotates the app session, through a cross-site form_post, moves no user; users spread over both colours', { timeout: LONG }, async () => {
    const { app, site } = await setup()
    await admin(app, 'PUT', '/v1/split', { green: 50 })
    const idp = await startIdp()
    opened.push(idp)
    // 14 users at 50 %: all on one colour by chance is 1 in 8192.
    const contexts = await users(14)
    const first = await Promise.all(
      contexts.map(async (context) => {
        const color = await visit(context, `${site}/`)
        const id = await sid(context)
        expect(id).toBeDefined()
        expect(await visit(context, `${site}/login`)).toBe(color)
        // The identity provider posts back cross-site: the browser withholds the SameSite=Lax cookie.
        const page = pageOf(context)
        const landed = page.waitForURL(`${site}/callback`, { waitUntil: 'commit' })
        await page.goto(`${idp.url}/authorize?redirect=${encodeURIComponent(`${site}/callback`)}`, { waitUntil: 'commit' })
        await landed
        expect(await sid(context)).toBe(id)
        expect(await visit(context, `${site}/home`)).toBe(color)
        return color
      }),
    )
    // No "ip" key by default: browsers from one address do not all land on one colour.
    expect(new Set(first).size).toBe(2)
  })

  it('an active user keeps their cookie and colour past its Max-Age (it slides)', { timeout: LONG }, async () => {
    // The cookie is re-issued once half its Max-Age has passed in whole seconds: at 2 s that is
    // after 1 s, at 3 s after 2 s, so a visit must come within 1 to 2 s either way. 2.5 Max-Ages of
    // browsing outlive a cookie that did not slide more than twice over.
    const maxAge = 2
    const { app, site } = await setup({ sticky: { cookieMaxAge: `${maxAge}s` } })
    await admin(app, 'PUT', '/v1/split', { green: 50 })
    const [context] = await users(1)
    const color = await visit(context!, `${site}/`)
    const first = (await context!.cookies()).find((c) => c.name === 'sy_sid')!
    const id = await sid(context!)
    expect(id).toBeDefined()
    const until = Date.now() + 2.5 * maxAge * 1000
    while (Date.now() < until) {
      expect(await visit(context!, `${site}/page`)).toBe(color)
      expect(await sid(context!)).toBe(id)
      // A user's pace, not a wait for anything: well inside the second a re-issue has.
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
    expect(await sid(context!)).toBe(id)
    // Re-issued, not merely kept: the cookie now runs out later than the first one by more than a Max-Age.
    const last = (await context!.cookies()).find((c) => c.name === 'sy_sid')!
    expect(last.expires).toBeGreaterThan(first.expires + maxAge)
  })

  it('raising the split while users browse moves users only blue -> green', { timeout: LONG }, async () => {
    const { app, site } = await setup()
    await admin(app, 'PUT', '/v1/split', { green: 20 })
    const contexts = await users(8)
    const before = await Promise.all(contexts.map((c) => visit(c, `${site}/`)))
    await admin(app, 'PUT', '/v1/split', { green: 60 })
    const after = await Promise.all(contexts.map((c) => visit(c, `${site}/next`)))
    before.forEach((color, i) => {
      if (color === 'green') expect(after[i]).toBe('green')
    })
    expect(after.filter((c) => c === 'green').length).toBeGreaterThanOrEqual(before.filter((c) => c === 'green').length)
  })

  it('a new release (new green targets) draws a new group of users; within it nobody moves', { timeout: LONG }, async () => {
    const { app, site } = await setup()
    const next = await startAppUpstream('green')
    opened.push(next)
    await admin(app, 'PUT', '/v1/split', { green: 50 })
    // 12 users at 50 %: the chance a new draw puts every one on the same colour again is 1 in 4096.
    const contexts = await users(12)
    const all = (path: string) => Promise.all(contexts.map((c) => visit(c, `${site}${path}`)))
    const release1 = await all('/')
    expect((await admin(app, 'PUT', '/v1/upstreams/green', { targets: [next.url] })).status).toBe(200)
    const release2 = await all('/again')
    expect(release2).not.toEqual(release1)
  })

  it('a preview link shows green in any browser (pages, fetch, EventSource) until it expires; a forged one sets nothing', { timeout: LONG }, async () => {
    const { app, site, green } = await setup({ split: { green: 0 } })
    const link = (await admin(app, 'POST', '/v1/preview', { color: 'green', ttl: '1h' })).body as { url: string; path: string; expiresAt: string }
    expect(link.url.startsWith(app.proxyUrl)).toBe(true)
    const [tester, other] = await users(2)
    const page = pageOf(tester!)
    const landing = await page.goto(`${site}${link.path}`)
    expect(landing?.headers()['x-switchyard-color']).toBe('green')
    expect(await page.textContent('#color')).toBe('green')
    expect(await visit(tester!, `${site}/deep/page`)).toBe('green')
    const seen = await page.evaluate(async () => {
      const fetched = (await fetch('/api')).headers.get('x-switchyard-color')
      const streamed = await new Promise<string>((resolve, reject) => {
        const source = new EventSource('/stream')
        source.onmessage = (e) => {
          source.close()
          resolve(String(e.data))
        }
        source.onerror = () => reject(new Error('EventSource failed'))
      })
      return { fetched, streamed }
    })
    expect(seen).toEqual({ fetched: 'green', streamed: 'green' })
    // Everyone else still gets blue.
    expect(await visit(other!, `${site}/`)).toBe('blue')
    // A forged link: 403 and no cookie.
    const forged = link.path.replace(/token=[^&]+/, (t) => t.slice(0, -3) + 'AAA')
    const otherPage = pageOf(other!)
    const refused = await otherPage.goto(`${site}${forged}`)
    expect(refused?.status()).toBe(403)
    expect((await other!.cookies()).some((c) => c.name === 'sy_preview')).toBe(false)
    expect(await visit(other!, `${site}/`)).toBe('blue')
    expect(green.hits).toBeGreaterThanOrEqual(4)
  })

  it('an expired preview link changes nothing', { timeout: LONG }, async () => {
    const { app, site } = await setup({ split: { green: 0 } })
    const link = (await admin(app, 'POST', '/v1/preview', { color: 'green', ttl: '1s' })).body as { path: string; expiresAt: string }
    while (Date.now() <= Date.parse(link.expiresAt) + 50) await new Promise((resolve) => setTimeout(resolve, 100))
    const [tester] = await users(1)
    const page = pageOf(tester!)
    expect((await page.goto(`${site}${link.path}`))?.status()).toBe(403)
    expect(await visit(tester!, `${site}/`)).toBe('blue')
  })

  it('a token stream cut by a drain fails the fetch() reader; one the upstream finishes ends cleanly', { timeout: LONG }, async () => {
    const { app, site } = await setup({ split: { green: 100 }, drain: { deadline: '300ms' } })
    const [user] = await users(1)
    const page = pageOf(user!)
    await page.goto(`${site}/`)
    // `every`: ms between tokens. The finished stream needs no pace; the cut one must still be
    // flowing (2.5 s in all) when the drain's 300 ms deadline cuts it.
    const read = (every: number) =>
      page.evaluate(async (every) => {
        const response = await fetch(`/tokens?every=${every}`)
        const reader: ReadableStreamDefaultReader<Uint8Array> = response.body!.getReader()
        const decoder = new TextDecoder()
        let text = ''
        try {
          for (;;) {
            const { done, value } = await reader.read()
            if (done) return { events: text.split('\n\n').length - 1, error: null }
            text += decoder.decode(value)
            // Tell the test the stream is flowing.
            ;(globalThis as unknown as { flowing?: boolean }).flowing = true
          }
        } catch (err) {
          return { events: text.split('\n\n').length - 1, error: String(err) }
        }
      }, every)
    expect(await read(10)).toEqual({ events: 25, error: null })
    await page.evaluate(() => void ((globalThis as unknown as { flowing?: boolean }).flowing = false))
    const cut = read(100)
    await page.waitForFunction(() => (globalThis as unknown as { flowing?: boolean }).flowing === true)
    await admin(app, 'PUT', '/v1/split', { green: 0 })
    const result = await cut
    expect(result.events).toBeLessThan(25)
    expect(result.error).not.toBeNull()
  })
})
