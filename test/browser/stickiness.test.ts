/**
 * Stickiness as real browsers meet it: headless Chromium (Debian's /usr/bin/chromium, driven by
 * playwright-core) through a real switchyard in front of a small app that sets and rotates its
 * own session cookie, an identity provider on another site that form-posts back, cookie expiry
 * under activity, a split raised while browsing, a new release, and preview links.
 */
import { existsSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { chromium, type Browser, type BrowserContext } from 'playwright-core'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { admin, startTestApp, testConfig } from '../helpers/app.js'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const LONG = 120_000

let browser: Browser
beforeAll(async () => {
  // Loud, never a silent skip: .ci/run installs chromium when it is missing.
  if (!existsSync(CHROMIUM)) throw new Error(`no browser at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH); .ci/run installs it`)
  // Two sites on loopback: the app at app.test, the identity provider at idp.test.
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--host-resolver-rules=MAP *.test 127.0.0.1'] })
}, LONG)
afterAll(async () => {
  await browser?.close()
})

const opened: { close(): Promise<void> }[] = []
afterEach(async () => {
  for (const thing of opened.splice(0).reverse()) await thing.close()
})

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
      // An AI-style token stream: 25 events, 100 ms apart.
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
      let n = 0
      const timer = setInterval(() => {
        res.write(`data: token ${++n}\n\n`)
        if (n === 25) {
          clearInterval(timer)
          res.end()
        }
      }, 100)
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
  const blue = await startAppUpstream('blue')
  const green = await startAppUpstream('green')
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

async function users(n: number): Promise<BrowserContext[]> {
  const contexts: BrowserContext[] = []
  for (let i = 0; i < n; i++) contexts.push(await browser.newContext())
  opened.push({ close: async () => void (await Promise.all(contexts.map((c) => c.close()))) })
  return contexts
}

/** Navigates and returns the colour that answered. */
async function visit(context: BrowserContext, url: string): Promise<string> {
  const page = context.pages()[0] ?? (await context.newPage())
  // The response head is what routing decided; cookies are stored from it.
  const response = await page.goto(url, { waitUntil: 'commit' })
  const color = response?.headers()['x-switchyard-color']
  if (color === undefined) throw new Error(`no colour header from ${url}`)
  return color
}

/** Runs browser sessions a few at a time: 20 renderers at once swamp a 2-core machine. */
async function inBatches<T>(tasks: (() => Promise<T>)[], size = 5): Promise<T[]> {
  const results: T[] = []
  for (let i = 0; i < tasks.length; i += size) results.push(...(await Promise.all(tasks.slice(i, i + size).map((task) => task()))))
  return results
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
    const first = await inBatches(
      contexts.map((context) => async () => {
        const color = await visit(context, `${site}/`)
        const id = await sid(context)
        expect(id).toBeDefined()
        expect(await visit(context, `${site}/login`)).toBe(color)
        // The identity provider posts back cross-site: the browser withholds the SameSite=Lax cookie.
        const page = context.pages()[0]!
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
    const { app, site } = await setup({ sticky: { cookieMaxAge: '3s' } })
    await admin(app, 'PUT', '/v1/split', { green: 50 })
    const [context] = await users(1)
    const color = await visit(context!, `${site}/`)
    const id = await sid(context!)
    const until = Date.now() + 7000
    while (Date.now() < until) {
      expect(await visit(context!, `${site}/page`)).toBe(color)
      await new Promise((resolve) => setTimeout(resolve, 500))
    }
    expect(await sid(context!)).toBe(id)
  })

  it('raising the split while users browse moves users only blue -> green', { timeout: LONG }, async () => {
    const { app, site } = await setup()
    await admin(app, 'PUT', '/v1/split', { green: 20 })
    const contexts = await users(8)
    const before = await inBatches(contexts.map((c) => () => visit(c, `${site}/`)))
    await admin(app, 'PUT', '/v1/split', { green: 60 })
    const after = await inBatches(contexts.map((c) => () => visit(c, `${site}/next`)))
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
    const all = (path: string) => inBatches(contexts.map((c) => () => visit(c, `${site}${path}`)))
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
    const page = await tester!.newPage()
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
    const otherPage = other!.pages()[0]!
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
    const page = await tester!.newPage()
    expect((await page.goto(`${site}${link.path}`))?.status()).toBe(403)
    expect(await visit(tester!, `${site}/`)).toBe('blue')
  })

  it('a token stream cut by a drain fails the fetch() reader; one the upstream finishes ends cleanly', { timeout: LONG }, async () => {
    const { app, site } = await setup({ split: { green: 100 }, drain: { deadline: '300ms' } })
    const [user] = await users(1)
    const page = await user!.newPage()
    await page.goto(`${site}/`)
    const read = () =>
      page.evaluate(async () => {
        const response = await fetch('/tokens')
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
      })
    expect(await read()).toEqual({ events: 25, error: null })
    await page.evaluate(() => void ((globalThis as unknown as { flowing?: boolean }).flowing = false))
    const cut = read()
    await page.waitForFunction(() => (globalThis as unknown as { flowing?: boolean }).flowing === true)
    await admin(app, 'PUT', '/v1/split', { green: 0 })
    const result = await cut
    expect(result.events).toBeLessThan(25)
    expect(result.error).not.toBeNull()
  })
})
