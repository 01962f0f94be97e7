import type { App } from '../../src/app.js'
import { admin } from '../helpers/app.js'
import { eventually } from '../helpers/wait.js'

export const SHADOW = 'x-switchyard-shadow'

export interface ReportView {
  percent: number
  pairs: number
  differing: number
  share: number
  kinds: { kind: string; count: number }[]
  routes: { route: string; pairs: number; differing: number; latencyRatio: { p50: number; p90: number } | null; paths: { path: string; count: number; noise: number; noisy: boolean }[] }[]
  examples: { route: string; method: string; path: string; kinds: string[]; paths: { path: string }[] }[]
  noise: { routes: { route: string; paths: { path: string; diffs: number; noisy: boolean }[] }[] }
}

export async function report(app: App): Promise<ReportView> {
  return (await admin(app, 'GET', '/v1/mirror/report')).body as ReportView
}

/** Waits until the report holds at least `pairs` compared pairs (they arrive a turn of the event loop after the answers). */
export async function pairsAtLeast(app: App, pairs: number, timeoutMs = 10_000): Promise<ReportView> {
  await eventually(async () => (await report(app)).pairs >= pairs, timeoutMs)
  return report(app)
}

/** One counter's value from /metrics, 0 when absent. */
export async function metric(app: App, name: string, labels: string): Promise<number> {
  const text = (await admin(app, 'GET', '/metrics')).body as string
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`))
  return line === undefined ? 0 : Number(line.split(' ').at(-1))
}

/** A GET through the proxy as user `user`; resolves with its status, body and time in ms. */
export async function get(app: App, path: string, user: string, init: RequestInit = {}): Promise<{ status: number; body: string; ms: number }> {
  const started = performance.now()
  const res = await fetch(app.proxyUrl + path, { ...init, headers: { 'x-user-id': user, ...(init.headers as Record<string, string> | undefined) } })
  const body = await res.text()
  return { status: res.status, body, ms: performance.now() - started }
}
