/**
 * The last step of `npm run build`: after tsc has written its module tree to dist/, bundles the
 * server into one file, dist/cli.js (the package's binary, in place of tsc's entry module), and
 * the proxy workers' entry into dist/worker.js.
 *
 *   npx tsx scripts/bundle.ts        (npm run build runs tsc first, then this)
 *
 * Why: every ES module a process loads stays in its V8 heap for good: its source text, its
 * module record and namespace, the code compiled from it. tsc's tree and the packages it
 * imports are ~900 modules (typebox alone ~700), and a proxy held 20.8 MB of live heap at
 * idle. One bundle, its blanks and comments dropped, holds 14.9 MB: ~11 MB less resident
 * memory at c50 and at 1,000 connections, at the same req/s (README → Performance; a comment
 * with a non-Latin-1 character would make V8 keep the whole text two bytes a character, so
 * comments go). Names stay as written, so stack traces name the functions; each bundle has
 * a source map (`node --enable-source-maps` reads it).
 *
 * The packages loaded on demand (src/lazy.ts: undici, ioredis, pino-pretty) stay outside and
 * are required from node_modules when a feature first needs them. The rest of tsc's tree
 * stays in dist/ as it is (dist/demo/serve.js runs the demo upstreams on their own).
 */
import { build, type BuildOptions } from 'esbuild'
import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

/** A bundle's first line after its #!: how this script knows dist/cli.js is no longer tsc's. */
export const BUNDLE_MARK = '// switchyard bundle (scripts/bundle.ts)'

/** Packages required on first use (src/lazy.ts), never bundled. */
const ON_DEMAND = ['undici', 'ioredis', 'pino-pretty']

/** Bundles dist/ under `root`, which tsc has just written. */
export async function bundle(root: string): Promise<void> {
  const cli = join(root, 'dist/cli.js')
  if (readFileSync(cli, 'utf8').slice(0, 200).includes(BUNDLE_MARK)) {
    throw new Error(`${cli} is already a bundle: run \`npm run build\` (tsc, then this script)`)
  }
  const options: BuildOptions = {
    absWorkingDir: root,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: ON_DEMAND,
    // The CommonJS packages inside call require(); an ES module has none of its own.
    banner: { js: `${BUNDLE_MARK}\nimport { createRequire as __bundleRequire } from 'node:module'; const require = __bundleRequire(import.meta.url);` },
    minifyWhitespace: true,
    minifySyntax: true,
    // The licence texts of the packages inside go beside it (cli.js.LEGAL.txt), not into its text.
    legalComments: 'external',
    sourcemap: true,
    logLevel: 'warning',
  }
  await build({ ...options, entryPoints: [cli], outfile: cli, allowOverwrite: true })
  await build({ ...options, entryPoints: [join(root, 'dist/dataplane/cluster/worker-main.js')], outfile: join(root, 'dist/worker.js') })
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await bundle(resolve(import.meta.dirname, '..'))
}
