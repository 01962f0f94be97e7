/** switchyard's V8 flags (src/node-flags.ts) are on every way it is started that we ship. */
import { readFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { NODE_FLAGS, nodeFlagsFor } from '../../src/node-flags.js'

const ROOT = resolve(import.meta.dirname, '../..')

describe('NODE_FLAGS', () => {
  it('are on `npm start` and the Docker image', async () => {
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
    const entrypoint = (await readFile(join(ROOT, 'Dockerfile'), 'utf8')).split('\n').find((l) => l.startsWith('ENTRYPOINT'))
    for (const flag of NODE_FLAGS) {
      expect(pkg.scripts.start!.split(' ')).toContain(flag)
      expect(JSON.parse(entrypoint!.slice('ENTRYPOINT'.length)) as string[]).toContain(flag)
    }
  })

  it('go to the workers unless the operator gave the primary a value of their own', () => {
    expect(nodeFlagsFor([])).toEqual([...NODE_FLAGS])
    const own = nodeFlagsFor(['--inspect', '--max-semi-space-size=32', '--max-old-space-size=4096'])
    expect(own).toEqual(NODE_FLAGS.map((flag) => (flag.startsWith('--max-semi-space-size=') ? '--max-semi-space-size=32' : flag.startsWith('--max-old-space-size=') ? '--max-old-space-size=4096' : flag)))
    expect(own).toContain('--v8-pool-size=1')
  })
})
