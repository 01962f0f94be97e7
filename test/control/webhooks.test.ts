import { createHmac } from 'node:crypto'
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { WebhookEvent, WebhookSettings } from '../../src/config/schema.js'
import { WebhookNotifier, type DeliveryResult } from '../../src/control/webhooks.js'
import { memoryLogger } from '../helpers/logs.js'
import { startWebhookReceiver, type WebhookReceiver, type WebhookResponder } from '../helpers/webhook-receiver.js'

const SECRET = 'hook-secret-7f3a91'

function hook(url: string, settings: Partial<WebhookSettings> = {}): WebhookSettings {
  return { url, events: [], secret: undefined, timeout: 2_000, retries: 0, ...settings }
}

const cleanup: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step()
})

async function receiver(respond?: WebhookResponder): Promise<WebhookReceiver> {
  const r = await startWebhookReceiver(respond)
  cleanup.push(() => r.close())
  return r
}

function notifier(hooks: WebhookSettings[], extra: { maxQueue?: number } = {}) {
  const log = memoryLogger('info')
  const results: { result: DeliveryResult; event: string }[] = []
  const n = new WebhookNotifier({
    hooks,
    logger: log.logger,
    backoffMs: 20,
    onDelivery: (result, event) => results.push({ result, event }),
    ...extra,
  })
  cleanup.push(() => n.close(1_000))
  const count = (result: DeliveryResult) => results.filter((r) => r.result === result).length
  return { n, log, results, count }
}

const soon = { timeout: 3_000, interval: 5 }

describe('WebhookNotifier', () => {
  it('POSTs a matching event as JSON with a signature that verifies with the secret', async () => {
    const signed = await receiver()
    const unsigned = await receiver()
    const { n, count } = notifier([hook(`${signed.url}/hooks/sy`, { secret: SECRET }), hook(unsigned.url)])

    const before = Math.floor(Date.now() / 1000)
    n.notify('step', { from: { blue: 90, green: 10 }, to: { blue: 80, green: 20 }, source: 'rollout' })
    await vi.waitFor(() => expect(count('delivered')).toBe(2), soon)

    const [req] = signed.requests
    expect(signed.requests).toHaveLength(1)
    expect(req!.method).toBe('POST')
    expect(req!.url).toBe('/hooks/sy')
    expect(req!.headers['content-type']).toBe('application/json')
    expect(req!.headers['user-agent']).toMatch(/^switchyard(\/\d+\.\d+\.\d+.*)?$/)
    expect(req!.headers['x-switchyard-event']).toBe('step')
    expect(req!.json).toMatchObject({ event: 'step', from: { blue: 90, green: 10 }, to: { blue: 80, green: 20 }, source: 'rollout' })
    expect(Object.keys(req!.json).slice(0, 3)).toEqual(['id', 'event', 'at'])
    expect(req!.json.id).toMatch(/^[0-9a-f-]{36}$/)
    expect(req!.headers['x-switchyard-delivery']).toBe(req!.json.id)
    expect(new Date(req!.json.at as string).toISOString()).toBe(req!.json.at)

    const timestamp = req!.headers['x-switchyard-timestamp'] as string
    expect(Number(timestamp)).toBeGreaterThanOrEqual(before)
    expect(Number(timestamp)).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000))
    const expected = createHmac('sha256', SECRET).update(`${timestamp}.${req!.body}`).digest('hex')
    expect(req!.headers['x-switchyard-signature']).toBe(`sha256=${expected}`)
    const forged = createHmac('sha256', 'wrong').update(`${timestamp}.${req!.body}`).digest('hex')
    expect(req!.headers['x-switchyard-signature']).not.toBe(`sha256=${forged}`)

    const [plain] = unsigned.requests
    expect(plain!.headers['x-switchyard-signature']).toBeUndefined()
    expect(plain!.headers['x-switchyard-timestamp']).toBeUndefined()
    expect(plain!.json.id).toBe(req!.json.id)
  })

  it('keeps a payload at (an audit event time) but never lets the payload change id or event', async () => {
    const r = await receiver()
    const { n, count } = notifier([hook(r.url)])

    n.notify('split', { id: 'forged', event: 'promote', at: '2030-01-01T00:00:00.000Z', type: 'split' })
    await vi.waitFor(() => expect(count('delivered')).toBe(1), soon)
    const [req] = r.requests
    expect(req!.json).toMatchObject({ event: 'split', at: '2030-01-01T00:00:00.000Z', type: 'split' })
    expect(req!.json.id).not.toBe('forged')
    expect(req!.headers['x-switchyard-delivery']).toBe(req!.json.id)
  })

  it('sends a hook only the events it asks for; an empty list means all', async () => {
    const onlyRevert = await receiver()
    const all = await receiver()
    const { n, count } = notifier([hook(onlyRevert.url, { events: ['revert'] }), hook(all.url)])

    for (const event of ['step', 'split', 'revert', 'promote'] satisfies WebhookEvent[]) n.notify(event, {})
    await vi.waitFor(() => expect(count('delivered')).toBe(5), soon)

    expect(onlyRevert.requests.map((r) => r.json.event)).toEqual(['revert'])
    expect(all.requests.map((r) => r.json.event)).toEqual(['step', 'split', 'revert', 'promote'])
  })

  it('retries a 500 with the same delivery id until a 200', async () => {
    const flaky = await receiver((_req, i) => (i < 2 ? 500 : 200))
    const { n, results } = notifier([hook(flaky.url, { retries: 3 })])

    n.notify('abort', { reason: 'p99 too high' })
    await vi.waitFor(() => expect(results).toEqual([{ result: 'delivered', event: 'abort' }]), soon)

    expect(flaky.requests).toHaveLength(3)
    const ids = new Set(flaky.requests.map((r) => r.headers['x-switchyard-delivery']))
    expect(ids.size).toBe(1)
    expect(new Set(flaky.requests.map((r) => r.body)).size).toBe(1)
  })

  it('gives up after retries + 1 attempts, counts a failure and logs a warn without secrets', async () => {
    const broken = await receiver(() => 500)
    const url = broken.url.replace('http://', 'http://hookuser:basic-pass-x1@') + '/in?token=query-token-z9'
    const { n, log, results } = notifier([hook(url, { retries: 1, secret: SECRET })])

    n.notify('revert', { reason: 'error rate' })
    await vi.waitFor(() => expect(results).toEqual([{ result: 'failed', event: 'revert' }]), soon)

    expect(broken.requests).toHaveLength(2)
    expect(broken.requests[0]!.url).toBe('/in?token=query-token-z9')
    expect(broken.requests[0]!.headers.authorization).toBe(`Basic ${Buffer.from('hookuser:basic-pass-x1').toString('base64')}`)
    const warn = log.lines().find((line) => line.msg === 'webhook delivery failed after 2 attempts')
    expect(warn).toMatchObject({ level: 40, url: `${broken.url}/in`, event: 'revert', attempts: 2, status: 500 })
    for (const secret of [SECRET, 'basic-pass-x1', 'query-token-z9', 'hookuser']) expect(log.text()).not.toContain(secret)
  })

  it('counts a receiver that hangs past the timeout as a failed attempt', async () => {
    const slow = await receiver((_req, i) => (i === 0 ? 'hang' : 200))
    const { n, results } = notifier([hook(slow.url, { timeout: 200, retries: 1 })])

    const started = Date.now()
    n.notify('pause', {})
    await vi.waitFor(() => expect(results).toEqual([{ result: 'delivered', event: 'pause' }]), soon)

    expect(Date.now() - started).toBeGreaterThanOrEqual(190)
    expect(slow.requests).toHaveLength(2)
    await slow.requests[0]!.aborted
  })

  it('logs the timeout when every attempt hangs', async () => {
    const stuck = await receiver(() => 'hang')
    const { n, log, results } = notifier([hook(stuck.url, { timeout: 150, retries: 0 })])

    n.notify('resume', {})
    await vi.waitFor(() => expect(results).toEqual([{ result: 'failed', event: 'resume' }]), soon)
    expect(log.lines().find((line) => line.level === 40)).toMatchObject({ attempts: 1, error: 'timeout after 150ms' })
  })

  it('delivers 20 events in a row in order', async () => {
    const jittery = await receiver(async () => {
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 10))
      return 200
    })
    const { n, count } = notifier([hook(jittery.url)])

    for (let seq = 0; seq < 20; seq++) n.notify('step', { seq })
    await vi.waitFor(() => expect(count('delivered')).toBe(20), soon)
    expect(jittery.requests.map((r) => r.json.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i))
  })

  it('keeps order across a retry: a later event waits for the earlier one', async () => {
    const flaky = await receiver((_req, i) => (i === 0 ? 503 : 200))
    const { n, count } = notifier([hook(flaky.url, { retries: 2 })])

    n.notify('step', { seq: 1 })
    n.notify('step', { seq: 2 })
    await vi.waitFor(() => expect(count('delivered')).toBe(2), soon)
    expect(flaky.requests.map((r) => r.json.seq)).toEqual([1, 1, 2])
  })

  it('returns from notify() synchronously, before any delivery happens', async () => {
    const r = await receiver()
    const { n, count } = notifier([hook(r.url)])

    n.notify('promote', {})
    expect(r.requests).toHaveLength(0)
    expect(count('delivered')).toBe(0)
    await vi.waitFor(() => expect(count('delivered')).toBe(1), soon)
  })

  it('drops the oldest queued delivery when the per-hook queue is full', async () => {
    let release: () => void = () => undefined
    const gate = new Promise<void>((resolve) => (release = resolve))
    const r = await receiver(async (_req, i) => {
      if (i === 0) await gate
      return 200
    })
    const { n, log, results } = notifier([hook(r.url)], { maxQueue: 2 })

    for (let seq = 1; seq <= 5; seq++) n.notify('step', { seq })
    // seq 1 is in flight; 2 and 3 were pushed out of a queue of two by 4 and 5.
    expect(results).toEqual([
      { result: 'failed', event: 'step' },
      { result: 'failed', event: 'step' },
    ])
    expect(log.lines().filter((line) => line.msg === 'webhook queue full; oldest delivery dropped')).toHaveLength(2)
    await vi.waitFor(() => expect(r.requests).toHaveLength(1), soon)
    release()
    await vi.waitFor(() => expect(results.filter((x) => x.result === 'delivered')).toHaveLength(3), soon)
    expect(r.requests.map((x) => x.json.seq)).toEqual([1, 4, 5])
  })

  it('close() waits for a pending delivery', async () => {
    const slow = await receiver(async () => {
      await new Promise((resolve) => setTimeout(resolve, 300))
      return 200
    })
    const { n, count } = notifier([hook(slow.url)])

    n.notify('succeeded', {})
    await n.close(5_000)
    expect(count('delivered')).toBe(1)
    expect(slow.requests).toHaveLength(1)
  })

  it('close() abandons what is still pending after its timeout and counts it failed', async () => {
    const stuck = await receiver(() => 'hang')
    const { n, log, results } = notifier([hook(stuck.url, { timeout: 10_000, retries: 3 })])

    n.notify('step', { seq: 1 })
    n.notify('step', { seq: 2 })
    const started = Date.now()
    await n.close(150)
    expect(Date.now() - started).toBeLessThan(1_000)
    expect(results).toEqual([
      { result: 'failed', event: 'step' },
      { result: 'failed', event: 'step' },
    ])
    expect(stuck.requests).toHaveLength(1)
    expect(log.text()).toContain('abandoned at shutdown')

    n.notify('step', { seq: 3 })
    expect(log.lines().at(-1)).toMatchObject({ msg: 'webhook notifier is closed; event not sent' })
  })
})
