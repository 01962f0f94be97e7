import { execFileSync } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { bundle } from '../../scripts/bundle.js'

const root = resolve(import.meta.dirname, '../..')

/** The newest modification time of any file under `dir`. */
function newest(dir: string): number {
  let latest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    latest = Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs)
  }
  return latest
}

/**
 * vitest globalSetup: the CLI tests run the built binary (`node dist/cli.js`, the bundle), so
 * build it as `npm run build` does (tsc, then scripts/bundle.ts) when it is missing or older
 * than any file under src/ or the bundle script (`npm ci && npm test` on a fresh clone). A
 * cheap mtime check when it is up to date.
 */
export default async function buildOnce(): Promise<void> {
  const built = statSync(join(root, 'dist/cli.js'), { throwIfNoEntry: false })?.mtimeMs
  if (built !== undefined && built >= Math.max(newest(join(root, 'src')), statSync(join(root, 'scripts/bundle.ts')).mtimeMs)) return
  try {
    execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'pipe' })
  } catch (err) {
    // tsc still writes dist/ when it finds type errors; the tests then say what is wrong.
    const { stdout } = err as { stdout?: Buffer }
    const output = stdout === undefined ? String(err) : stdout.toString()
    process.stderr.write(`build-once: tsc -p tsconfig.build.json failed:\n${output}\n`)
    if (statSync(join(root, 'dist/cli.js'), { throwIfNoEntry: false }) === undefined) throw err
  }
  await bundle(root)
}
