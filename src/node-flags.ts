/**
 * The V8 flags switchyard runs with, wherever it is started: `npm start`, the Docker image,
 * the proxy workers (added to their execArgv), and the benchmark. Each trades nothing a proxy
 * needs for resident memory (measured with `npm run bench`, c1000 and idle10k, one worker):
 *
 * `--max-semi-space-size=4`: V8 lets the young generation grow to 2 × 16 MB, and startup alone
 * (loading the admin API, schemas, metrics) grows it there; it is never given back. Its garbage
 * is short-lived requests, which fit in far less. 2 × 8 MB held ~15 MB less than the default
 * at any load with the same throughput; 2 × 4 MB, measured with the bundled build in alternating
 * runs, 6–8 MB less again (c50 87 → 81 MB, c1000 97–98 → 89–92 MB, 1 MiB answers 88 → 81 MB)
 * at the same CPU per request (c50 10 µs user either way, c1000 15–16, 1 MiB 125 → 133 within
 * the run-to-run spread of ±5 %). An earlier single c1000 run had lost ~10 % at 2 × 4 MB; four
 * alternating ones since did not, and the bench says which it is on any machine.
 *
 * `--v8-pool-size=1`: V8's platform threads (concurrent marking, sweeping, compiling) default
 * to four, each with a stack and a malloc arena of its own; one keeps the concurrency and
 * ~7 MB (idle 104 → 97 MB) at the same c50 CPU per request (17–19 µs of user time either way).
 *
 * `--max-old-space-size=1024`: V8 sizes how far the old generation may grow between full
 * collections by the heap's limit, up to 4× what survived the last one when the limit is
 * 2 GB or more (the default here is ~4 GB: a quarter of the machine's memory). At c1000 the
 * in-flight requests a scavenge promotes then pile up as 17 MB of dead old space. A 1 GiB
 * limit grows it ~1.6× instead: c1000 123 → 108 MB, 10,000 idle connections 144 → 120 MB,
 * with c50 CPU per request unchanged. 1 GiB is what V8 gives a 4 GB machine by default and
 * holds far more than a proxy keeps (~2.5 KB of heap per open connection); an operator who
 * needs more passes their own value (it wins, nodeFlagsFor).
 */
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4', '--v8-pool-size=1', '--max-old-space-size=1024']

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
