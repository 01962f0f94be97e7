import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { stringify } from 'yaml'

/** The built binary, as `npm i -g` installs it (test/helpers/build-once.ts builds it). */
export const BIN = resolve(import.meta.dirname, '../../dist/cli.js')

/** The environment of a CLI run: nothing of the caller's switchyard settings leaks in. */
function cleanEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const base = { ...process.env }
  delete base.SWITCHYARD_ADMIN_URL
  delete base.SWITCHYARD_ADMIN_TOKEN
  delete base.NO_COLOR
  return { ...base, ...env }
}

/** A run of the binary that may still be going: its output so far, and its end. */
export interface BinProcess {
  readonly child: ChildProcess
  readonly pid: number
  stdout(): string
  stderr(): string
  /** Resolves once `test` holds for the output so far. */
  waitFor(test: (stdout: string, stderr: string) => boolean, ms?: number): Promise<void>
  exit(): Promise<number | null>
  kill(signal?: NodeJS.Signals): void
}

export function spawnBin(args: string[], options: { env?: Record<string, string>; cwd?: string } = {}): BinProcess {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: cleanEnv(options.env ?? {}),
    cwd: options.cwd ?? process.cwd(),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  const changed = new Set<() => void>()
  const notify = () => changed.forEach((f) => f())
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => ((out += chunk), notify()))
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => ((err += chunk), notify()))
  const exited = once(child, 'close').then(() => child.exitCode)
  return {
    child,
    pid: child.pid!,
    stdout: () => out,
    stderr: () => err,
    exit: () => exited,
    kill: (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
    },
    waitFor(test, ms = 15_000) {
      return new Promise<void>((resolvePromise, reject) => {
        const check = () => {
          if (test(out, err)) done(undefined)
        }
        const timer = setTimeout(() => done(new Error(`not seen within ${ms} ms; stdout: ${out}\nstderr: ${err}`)), ms)
        const ended = () => setImmediate(() => (test(out, err) ? done(undefined) : done(new Error(`exited ${child.exitCode}; stdout: ${out}\nstderr: ${err}`))))
        const done = (error: Error | undefined) => {
          clearTimeout(timer)
          changed.delete(check)
          child.off('close', ended)
          if (error === undefined) resolvePromise()
          else reject(error)
        }
        changed.add(check)
        child.once('close', ended)
        check()
      })
    },
  }
}

/** One finished run of the binary. */
export interface BinRun {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs `switchyard ...args` to its end. */
export async function runBin(args: string[], options: { env?: Record<string, string>; cwd?: string } = {}): Promise<BinRun> {
  const proc = spawnBin(args, options)
  const code = await proc.exit()
  return { code, stdout: proc.stdout(), stderr: proc.stderr() }
}

/** A switchyard server started from the built binary. */
export interface BinServer extends BinProcess {
  readonly adminUrl: string
  readonly proxyUrl: string
  readonly configFile: string
  /** Stops it with SIGTERM (drain) and waits for its exit. */
  stop(): Promise<void>
}

/** Writes `config` as YAML into `dir` (a fresh temp dir when absent) and starts `switchyard --config` on it. */
export async function startBinServer(config: Record<string, unknown>, dir?: string): Promise<BinServer> {
  const folder = dir ?? (await mkdtemp(join(tmpdir(), 'sy-client-')))
  const configFile = join(folder, 'switchyard.yaml')
  await writeFile(configFile, stringify(config))
  const proc = spawnBin(['--config', configFile])
  let ready: Record<string, unknown> | undefined
  try {
    await proc.waitFor((out) => {
      ready = out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .find((l) => l.msg === 'switchyard ready')
      return ready !== undefined
    }, 40_000)
  } catch (err) {
    proc.kill('SIGKILL')
    throw err
  }
  return Object.assign(proc, {
    adminUrl: String(ready!.admin),
    proxyUrl: String(ready!.proxy),
    configFile,
    stop: async () => {
      proc.kill('SIGTERM')
      await proc.exit()
    },
  })
}
