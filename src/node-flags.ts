/**
 * The V8 flags switchyard runs with, wherever it is started: `npm start`, the Docker image,
 * the proxy workers (added to their execArgv), and the benchmark.
 *
 * `--max-semi-space-size=8`: V8 lets the young generation grow to 2 × 16 MB, and startup alone
 * (loading the admin API, schemas, metrics) grows it there; it is never given back. Capped at
 * 2 × 8 MB, a proxy holds ~15 MB less at any load (c50: 113 MB against 126 MB; 10,000 idle
 * connections: 132 MB against 143–148 MB) with the same throughput (c50 41.7k–44.0k req/s
 * against 40.0k, bench/results). Its garbage is short-lived requests, which fit either way.
 */
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=8']

/**
 * The V8 flags for a child process (a proxy worker): NODE_FLAGS, or the value the operator gave
 * this process (`execArgv`) for a flag of the same name.
 */
export function nodeFlagsFor(execArgv: readonly string[]): string[] {
  return NODE_FLAGS.map((flag) => {
    const name = flag.split('=')[0]!
    return execArgv.find((arg) => arg.startsWith(`${name}=`)) ?? flag
  })
}
