import { Writable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { createLogger, resolveLogFormat, type LogSettings } from '../../src/logger.js'
import { memoryLogger } from '../helpers/logs.js'
import { admin, startTestApp, testConfig } from '../helpers/app.js'
import { startColorUpstream } from '../helpers/color-upstream.js'

/** What a logger made from `settings` writes, as text. */
function written(settings: LogSettings, write: (logger: ReturnType<typeof createLogger>) => void): string {
  const chunks: string[] = []
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString())
      done()
    },
  })
  const logger = createLogger(settings, stream)
  write(logger)
  logger.flush()
  return chunks.join('')
}

describe('logs', () => {
  it('writes JSON lines with ISO-8601 times by default, and readable lines with log.format pretty', async () => {
    const say = (logger: ReturnType<typeof createLogger>) =>
      logger.info({ action: 'split', who: 'token@127.0.0.1', why: 'canary ok', token: 'top-secret' }, 'split changed: green 10% -> 25%')
    const json = written({ level: 'info', format: 'json' }, say)
    const line = JSON.parse(json) as Record<string, unknown>
    expect(line).toMatchObject({ msg: 'split changed: green 10% -> 25%', who: 'token@127.0.0.1', token: '[redacted]' })
    expect(line.time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/)

    // Forced by the config, pretty even into a pipe: one line a person reads, no colours, secrets still redacted.
    const config = await testConfig(['http://127.0.0.1:9'], ['http://127.0.0.1:9'], { log: { level: 'info', format: 'pretty' } })
    const pretty = written(config.log, say)
    expect(() => JSON.parse(pretty) as unknown).toThrow()
    expect(pretty).toMatch(/^\[\d{4}-\d{2}-\d{2}T[\d:.]+Z\] INFO \(\d+\): split changed: green 10% -> 25% \{.*"who":"token@127.0.0.1".*\}\n$/)
    expect(pretty).not.toContain('top-secret')
    expect(pretty).not.toContain('\u001b[')

    // auto: JSON into anything but a terminal on stdout.
    expect(() => JSON.parse(written({ level: 'info', format: 'auto' }, say)) as unknown).not.toThrow()
    expect(resolveLogFormat('auto', false)).toBe('json')
    expect(resolveLogFormat('auto')).toBe(process.stdout.isTTY ? 'pretty' : 'json')
    expect(resolveLogFormat('pretty', false)).toBe('pretty')
  })

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
