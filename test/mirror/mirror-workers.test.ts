import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { startCli, writeConfig, type CliProcess } from '../helpers/cli.js'
import { startUpstream, type Upstream } from '../helpers/upstream-server.js'
import { eventually } from '../helpers/wait.js'
import { SHADOW, type ReportView } from './helpers.js'

const running: CliProcess[] = []
const upstreams: Upstream[] = []
afterAll(async () => {
  for (const proc of running) {
    proc.kill('SIGTERM')
    await proc.exit()
  }
  await Promise.all(upstreams.map((u) => u.close()))
})

const json = (value: unknown) => (_req: unknown, res: import('node:http').ServerResponse) => {
  const body = JSON.stringify(value)
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body)
}

describe('mirroring with proxy workers', { timeout: 60_000 }, () => {
  it('every worker sends shadows, and their pairs reach one report and one set of counters', async () => {
    const blue = await startUpstream('blue', json({ plan: 'basic', price: 10 }))
    const green = await startUpstream('green', json({ plan: 'basic', price: 12 }))
    upstreams.push(blue, green)
    const dir = await mkdtemp(join(tmpdir(), 'sy-mirror-workers-'))
    const proc = await startCli(
      await writeConfig(
        {
          proxy: { host: '127.0.0.1', port: 0 },
          admin: { host: '127.0.0.1', port: 0 },
          upstreams: { blue: { targets: [blue.url] }, green: { targets: [green.url] } },
          state: { file: join(dir, 'state.json') },
          sticky: { keys: ['header:x-user-id'], cookie: '' },
          mirror: { percent: 100 },
          workers: 2,
        },
        dir,
      ),
    )
    running.push(proc)
    // New connections each time, so both workers take requests.
    for (let i = 0; i < 40; i++) {
      const res = await fetch(`${proc.proxyUrl}/plans/${i}`, { headers: { 'x-user-id': `u${i}`, connection: 'close' } })
      expect(await res.json()).toEqual({ plan: 'basic', price: 10 })
    }
    let report: ReportView | undefined
    await eventually(async () => {
      report = (await (await fetch(`${proc.adminUrl}/v1/mirror/report`)).json()) as ReportView
      return report.pairs === 40
    }, 10_000)
    expect(report).toMatchObject({ pairs: 40, differing: 40 })
    expect(report!.routes[0]!.paths.map((p) => p.path)).toEqual(['$.price'])
    expect(green.requests.filter((r) => r.headers[SHADOW] === '1')).toHaveLength(40)
    const metrics = await (await fetch(`${proc.adminUrl}/metrics`)).text()
    expect(metrics).toMatch(/^switchyard_mirror_requests_total\{result="compared"\} 40$/m)
    const status = (await (await fetch(`${proc.adminUrl}/v1/status`)).json()) as { workers: { requests: number }[] }
    expect(status.workers.filter((w) => w.requests > 0).length).toBe(2)
  })
})
