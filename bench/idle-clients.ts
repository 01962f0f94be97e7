/**
 * Child process of bench/idle.ts (run pinned to CPU 1): opens CONNECTIONS keep-alive connections to
 * a proxy, CONCURRENCY at a time; each sends one `GET /` (its own x-user-id) and reads the whole
 * answer, then stays open without traffic. After HOLD_SECONDS it reads the summed VmRSS of the
 * proxy's process tree (PROXY_PID), prints one "BENCH_JSON {...}" line and closes them all.
 * usage: idle-clients.ts URL CONNECTIONS CONCURRENCY HOLD_SECONDS ANSWER_TIMEOUT_SECONDS OPEN_DEADLINE_SECONDS PROXY_PID [HOST]
 */
import { connect, type Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { processTree, rssBytes } from './procs.js'

const [url, connections, concurrency, hold, answerTimeout, openDeadline, proxyPid, host] = process.argv.slice(2)
if (url === undefined || connections === undefined || concurrency === undefined || hold === undefined) throw new Error('usage: see the file header')
if (answerTimeout === undefined || openDeadline === undefined || proxyPid === undefined) throw new Error('usage: see the file header')
const target = new URL(url)
if (target.hostname !== '127.0.0.1') throw new Error(`refusing to load ${url}: the bench only targets 127.0.0.1`)

const total = Number(connections)
const answerTimeoutMs = Number(answerTimeout) * 1000
const HEAD_END = Buffer.from('\r\n\r\n')
const LAST_CHUNK = Buffer.from('0\r\n\r\n')

/** Whether `buf` holds one whole answer; throws on a status other than 200 or a close-delimited body. */
function complete(buf: Buffer): boolean {
  const end = buf.indexOf(HEAD_END)
  if (end < 0) return false
  const head = buf.subarray(0, end).toString('latin1')
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1]
  if (status !== '200') throw new Error(`status ${status ?? head.split('\r\n')[0] ?? '?'}`)
  const length = /\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1]
  if (length !== undefined) return buf.length >= end + 4 + Number(length)
  if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) return buf.subarray(buf.length - LAST_CHUNK.length).equals(LAST_CHUNK)
  throw new Error('answer without Content-Length or chunked framing (not keep-alive)')
}

/** Opens connection `i`, sends its GET and resolves once the whole answer is read; the socket stays open. */
function openOne(i: number, closed: Set<Socket>): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: target.hostname, port: Number(target.port), noDelay: true })
    let buf = Buffer.alloc(0)
    let done = false
    const fail = (err: Error): void => {
      if (done) return
      done = true
      socket.destroy()
      reject(err)
    }
    socket.setTimeout(answerTimeoutMs, () => fail(new Error('timeout')))
    socket.on('error', (err: NodeJS.ErrnoException) => fail(new Error(err.code ?? err.message)))
    socket.on('close', () => {
      closed.add(socket)
      fail(new Error('closed before the answer'))
    })
    socket.on('data', (chunk: Buffer) => {
      if (done) return
      buf = Buffer.concat([buf, chunk])
      try {
        if (!complete(buf)) return
      } catch (err) {
        fail(err as Error)
        return
      }
      done = true
      buf = Buffer.alloc(0)
      socket.setTimeout(0)
      resolve(socket)
    })
    socket.write(`GET ${target.pathname} HTTP/1.1\r\nHost: ${host ?? target.host}\r\nx-user-id: idle-${i}\r\n\r\n`)
  })
}

const sockets: Socket[] = []
const closed = new Set<Socket>()
const failures: Record<string, number> = {}
let next = 0
const started = performance.now()
const until = Date.now() + Number(openDeadline) * 1000

async function opener(): Promise<void> {
  while (next < total && Date.now() < until) {
    const i = next++
    try {
      sockets.push(await openOne(i, closed))
    } catch (err) {
      const reason = (err as Error).message
      failures[reason] = (failures[reason] ?? 0) + 1
    }
  }
}

await Promise.all(Array.from({ length: Math.min(total, Number(concurrency)) }, opener))
const openSeconds = (performance.now() - started) / 1000
await sleep(Number(hold) * 1000)
const openAtReading = sockets.filter((s) => !closed.has(s)).length
const heldRssBytes = processTree(Number(proxyPid)).reduce((sum, pid) => sum + rssBytes(pid), 0)

process.stdout.write(
  `BENCH_JSON ${JSON.stringify({
    connections: total,
    tried: next,
    answered: sockets.length,
    failed: next - sockets.length,
    failureDetail: failures,
    openAtReading,
    closedByProxy: sockets.length - openAtReading,
    openSeconds,
    holdSeconds: Number(hold),
    heldRssBytes,
  })}\n`,
)
for (const s of sockets) s.destroy()
process.exit(0)
