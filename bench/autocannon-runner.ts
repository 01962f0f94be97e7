/**
 * Child process of bench/autocannon.ts (run pinned to CPU 1): one autocannon run with a
 * counter-based x-user-id per request; prints one "BENCH_JSON {...}" line.
 * usage: autocannon-runner.ts URL CONNECTIONS DURATION_SECONDS [HOST]
 */
import autocannon from 'autocannon'

const [url, connections, duration, host] = process.argv.slice(2)
if (url === undefined || connections === undefined || duration === undefined) {
  throw new Error('usage: autocannon-runner.ts URL CONNECTIONS DURATION_SECONDS [HOST]')
}
if (new URL(url).hostname !== '127.0.0.1') throw new Error(`refusing to load ${url}: the bench only targets 127.0.0.1`)

let next = 0
const result = await autocannon({
  url,
  connections: Number(connections),
  duration: Number(duration),
  timeout: 2,
  ...(host === undefined ? {} : { headers: { host } }),
  requests: [
    {
      method: 'GET',
      setupRequest: (request) => ({ ...request, headers: { ...request.headers, 'x-user-id': `user-${next++ % 10000}` } }),
    },
  ],
})

process.stdout.write(
  `BENCH_JSON ${JSON.stringify({
    requests: result.requests.total,
    durationSeconds: result.duration,
    rpsAverage: result.requests.average,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    maxMs: result.latency.max,
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    bytes: result.throughput.total,
  })}\n`,
)
