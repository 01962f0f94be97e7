import { describe, expect, it } from 'vitest'
import { memoryLogger } from '../helpers/logs.js'
import { admin, startTestApp, testConfig } from '../helpers/app.js'
import { startColorUpstream } from '../helpers/color-upstream.js'

describe('logs', () => {
  it('redacts authorization, cookies and tokens wherever they appear', () => {
    const { logger, text } = memoryLogger()
    logger.info(
      {
        authorization: 'Bearer top-secret-1',
        headers: { authorization: 'Bearer top-secret-2', cookie: 'session=top-secret-3', 'set-cookie': 'sy_sid=top-secret-4' },
        req: { headers: { authorization: 'Bearer top-secret-5', cookie: 'a=top-secret-6' } },
        token: 'top-secret-7',
      },
      'request',
    )
    expect(text()).not.toMatch(/top-secret/)
    expect(text()).toContain('[redacted]')
  })

  it('writes one access line per request only when log.access is on', async () => {
    const upstream = await startColorUpstream('blue')
    const quiet = await startTestApp(await testConfig([upstream.url], [upstream.url]))
    const loud = await startTestApp(await testConfig([upstream.url], [upstream.url], { log: { level: 'info', access: true } }))
    try {
      for (const app of [quiet, loud]) {
        for (let i = 0; i < 3; i++) await (await fetch(`${app.proxyUrl}/path-${i}`, { headers: { authorization: 'Bearer secret-x', cookie: 'session=secret-y' } })).text()
      }
      const access = (app: typeof quiet) => app.logs.lines().filter((l) => l.msg === 'request')
      expect(access(quiet)).toHaveLength(0)
      expect(access(loud)).toHaveLength(3)
      expect(access(loud)[0]).toMatchObject({ method: 'GET', url: '/path-0', status: 200, color: 'blue' })
      expect(loud.logs.text()).not.toMatch(/secret-x|secret-y/)
    } finally {
      await Promise.all([quiet.close(), loud.close()])
      await upstream.close()
    }
  })

  it('writes one info line per split change', async () => {
    const upstream = await startColorUpstream('blue')
    const app = await startTestApp(await testConfig([upstream.url], [upstream.url]))
    try {
      await admin(app, 'PUT', '/v1/split', { green: 10 })
      await admin(app, 'POST', '/v1/promote')
      const changes = app.logs.lines().filter((l) => l.event === 'split' || l.event === 'promote')
      expect(changes).toHaveLength(2)
      expect(changes.every((l) => l.level === 30)).toBe(true)
    } finally {
      await app.close()
      await upstream.close()
    }
  })
})
