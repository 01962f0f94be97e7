/**
 * Makes docs/dashboard.png: a real switchyard on its built-in demo upstreams (blue with a
 * second target that goes down halfway, so a health change shows), steady traffic, a rollout
 * walking its steps, a tenth of blue's requests mirrored to green, and headless Chromium at 1280x800 looking at the admin port's dashboard.
 *
 *   npx tsx scripts/dashboard-screenshot.ts [--seconds 75] [--out docs/dashboard.png]
 *
 * Chromium comes from CHROMIUM_PATH or /usr/bin/chromium.
 */
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { Agent, request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { pino } from 'pino'
import { chromium } from 'playwright-core'
import { startApp } from '../src/app.js'
import { resolveConfig } from '../src/config/load.js'
import { startDemoUpstreams } from '../src/demo/demo-upstreams.js'

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '75' }, out: { type: 'string', default: 'docs/dashboard.png' } } })
const SECONDS = Number(values.seconds)
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const TOKEN = 'dashboard-screenshot'
const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }

/** About `perSecond` requests a second, a few slow ones and a rare shared 500 among them, until stopped. */
function traffic(url: string, perSecond: () => number): () => void {
  const agent = new Agent({ keepAlive: true, maxSockets: 64 })
  let n = 0
  let due = 0
  let last = Date.now()
  const timer = setInterval(() => {
    const now = Date.now()
    due += ((now - last) / 1000) * perSecond()
    last = now
    for (; n < due; ) {
      const i = n++
      const path = i % 400 === 7 ? '/status/500' : i % 5 === 0 ? `/delay/${10 + (i % 7) * 6}` : i % 3 === 0 ? '/delay/3' : '/'
      const req = request(new URL(path, url), { agent, headers: { 'x-user-id': `user-${i % 5000}` } }, (res) => res.resume())
      req.on('error', () => undefined)
      req.end()
    }
  }, 20)
  return () => {
    clearInterval(timer)
    agent.destroy()
  }
}

async function main(): Promise<void> {
  if (!existsSync(CHROMIUM)) throw new Error(`no browser at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH)`)
  const dir = await mkdtemp(join(tmpdir(), 'sy-shot-'))
  const demo = await startDemoUpstreams({ blue: 0, green: 0 })
  // A second blue target that goes away during the run.
  const spare = await startDemoUpstreams({ blue: 0, green: 0 })
  const config = resolveConfig({
    proxy: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0, token: TOKEN },
    upstreams: { blue: { targets: [demo.urls.blue, spare.urls.blue] }, green: { targets: [demo.urls.green] } },
    split: { green: 0 },
    outlierDetection: { consecutiveErrors: 3, ejectionTime: '20s' },
    state: { file: join(dir, 'state.json') },
    healthCheck: { path: '/healthz', interval: '1s', timeout: '500ms' },
    rollout: { analysis: { interval: '1s', minRequests: 50, maxP99: '500ms' } },
    // A tenth of blue's requests also go to green as shadows, so the Mirror panel has a report.
    mirror: { percent: 10 },
  })
  const app = await startApp(config, { logger: pino({ level: 'warn' }) })
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] })
  let stop = () => undefined as void
  try {
    let rate = 60
    stop = traffic(app.proxyUrl, () => rate)
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 })
    await page.goto(`${app.adminUrl}/`)
    await page.fill('#token', TOKEN)
    await page.click('#login-form button[type=submit]')
    await page.waitForSelector('#conn[data-state=live]')

    const api = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(app.adminUrl + path, { method, headers: auth, ...(body === undefined ? {} : { body: JSON.stringify(body) }) })
      if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`)
    }
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
    const third = (SECONDS * 1000) / 3
    await sleep(third / 2)
    await api('PUT', '/v1/split', { green: 5, reason: 'canary for release 1.8.0' })
    await sleep(third / 2)
    await api('POST', '/v1/rollout', {
      steps: [{ green: 10, hold: `${Math.round(third / 1000)}s` }, { green: 30, hold: '10m' }, { green: 60, hold: '10m' }, { green: 100, hold: 0 }],
      reason: 'release 1.8.0',
    })
    rate = 90
    await sleep(third / 2)
    await spare.close()
    await sleep(third / 2)
    rate = 120
    await sleep(third)
    await page.waitForSelector('#verdict')
    await page.screenshot({ path: values.out })
    console.log(`wrote ${values.out}`)
  } finally {
    stop()
    await browser.close()
    await app.close()
    await demo.close()
    await spare.close()
    await rm(dir, { recursive: true, force: true })
  }
}

await main()
