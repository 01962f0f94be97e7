import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/*
 * The folder that holds switchyard's package.json, config/ and dashboard/. This file sits one
 * level below it however switchyard runs: as src/package-root.ts (tsx), as dist/package-root.js
 * (tsc's module tree), and inlined into the bundle dist/cli.js (scripts/bundle.ts), where
 * import.meta.url is the bundle's. Anything that finds a file of the package starts here, not
 * from its own module's place, which the bundle changes.
 */

/** A path inside the package: packagePath('dashboard/'). */
export function packagePath(relative: string): string {
  return fileURLToPath(new URL(relative, new URL('../', import.meta.url)))
}

/** The `version` of switchyard's package.json. */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(packagePath('package.json'), 'utf8')) as { version?: unknown }
  if (typeof pkg.version !== 'string') throw new Error(`${packagePath('package.json')} has no version`)
  return pkg.version
}
