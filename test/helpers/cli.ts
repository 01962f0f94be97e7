import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { BIN } from './switchyard-bin.js'

/** A switchyard started as an operator would: `switchyard --config FILE`, as its own process. */
export interface CliProcess {
  readonly child: ChildProcess
  readonly pid: number
  stdout(): string
  stderr(): string
  /** Resolves with the first log line matching `test`. */
  waitForLog(test: (line: Record<string, unknown>) => boolean, ms?: number): Promise<Record<string, unknown>>
  exit(): Promise<number | null>
  kill(signal?: NodeJS.Signals): void
}

/** Writes a YAML config into a fresh temp dir and returns its path. */
export async function writeConfig(config: Record<string, unknown>, dir?: string): Promise<string> {
  const folder = dir ?? (await mkdtemp(join(tmpdir(), 'sy-cli-')))
  const file = join(folder, 'switchyard.yaml')
  await writeFile(file, stringify(config))
  return file
}

/**
 * Spawns the built CLI (dist/cli.js, which the suite's global setup builds whenever src/ is
 * newer): the same program as through tsx, without compiling the sources at every start
 * (about 0.7 s a process here, and the same again in each of its workers).
 */
export function runCli(args: string[], env: Record<string, string> = {}): CliProcess {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk))
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk))
  const exited = once(child, 'exit').then(([code]) => code as number | null)
  const parsed = (): Record<string, unknown>[] =>
    out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
  return {
    child,
    pid: child.pid!,
    stdout: () => out,
    stderr: () => err,
    exit: () => exited,
    kill: (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
    },
    async waitForLog(test, ms = 15_000) {
      const start = Date.now()
      while (Date.now() - start < ms) {
        const hit = parsed().find(test)
        if (hit !== undefined) return hit
        if (child.exitCode !== null) throw new Error(`switchyard exited ${child.exitCode}: ${err}${out}`)
        await new Promise((r) => setTimeout(r, 25))
      }
      throw new Error(`no matching log line within ${ms} ms; stdout: ${out}\nstderr: ${err}`)
    },
  }
}

/** Starts the CLI and waits for its "ready" line; returns the proxy and admin URLs. */
export async function startCli(
  configFile: string,
  env: Record<string, string> = {},
): Promise<CliProcess & { proxyUrl: string; adminUrl: string }> {
  const proc = runCli(['--config', configFile], env)
  let ready: Record<string, unknown>
  try {
    // Generous: on a loaded 2-core machine forking workers that each compile TypeScript takes a while.
    ready = await proc.waitForLog((l) => l.msg === 'switchyard ready', 40_000)
  } catch (err) {
    // Never leave a switchyard behind when a test gives up on it.
    proc.kill('SIGKILL')
    throw err
  }
  return Object.assign(proc, { proxyUrl: String(ready.proxy), adminUrl: String(ready.admin) })
}
