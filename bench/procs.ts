/** Processes the bench starts: spawned in their own group, tracked by PID, always ended by PID. */
import { spawn, type ChildProcess } from 'node:child_process'
import { accessSync, constants, closeSync, openSync, readFileSync, readdirSync } from 'node:fs'
import { createServer } from 'node:net'
import { delimiter, join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

export interface Exit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

/** A process this bench started. Its PID is also its process group id. */
export interface Tracked {
  readonly name: string
  readonly pid: number
  readonly logFile: string | undefined
  readonly exited: Promise<Exit>
  hasExited(): boolean
  /** stdout and stderr so far, when spawned with `capture`. */
  output(): { stdout: string; stderr: string }
}

export interface SpawnOptions {
  readonly cwd?: string
  readonly env?: NodeJS.ProcessEnv
  /** Send stdout+stderr to this file (servers). */
  readonly logFile?: string
  /** Keep stdout/stderr in memory (load generators, short commands). */
  readonly capture?: boolean
}

/** Waits for `p` at most `ms`; the timer is cleared either way so it never holds the process open. */
export async function within<T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> {
  const ac = new AbortController()
  try {
    return await Promise.race([p, sleep(ms, 'timeout' as const, { signal: ac.signal })])
  } finally {
    ac.abort()
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal)
  } catch {
    // ESRCH: the group is gone already.
  }
}

/** Every process the bench started, so that it can end them all, also on Ctrl-C. */
export class ProcessRegistry {
  readonly #live = new Map<number, { tracked: Tracked; child: ChildProcess }>()
  /** Every process group this bench ever created (each spawned PID leads one). */
  readonly #groups = new Set<number>([process.pid])

  /** Starts `cmd` detached in a new process group that holds only it and its own children. */
  spawn(name: string, cmd: string, args: readonly string[], options: SpawnOptions = {}): Tracked {
    const fd = options.logFile === undefined ? undefined : openSync(options.logFile, 'a')
    const child = spawn(cmd, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      detached: true,
      stdio: ['ignore', fd ?? (options.capture ? 'pipe' : 'ignore'), fd ?? (options.capture ? 'pipe' : 'ignore')],
    })
    if (fd !== undefined) closeSync(fd)
    let stdout = ''
    let stderr = ''
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d))
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    let done = false
    const exited = new Promise<Exit>((resolve) => {
      child.once('error', (err) => {
        done = true
        stderr += `\n${err.message}`
        resolve({ code: 127, signal: null })
      })
      child.once('exit', (code, signal) => {
        done = true
        resolve({ code, signal })
      })
    })
    const pid = child.pid
    if (pid === undefined) {
      // spawn failed (ENOENT...): the 'error' event carries the reason.
      return { name, pid: -1, logFile: options.logFile, exited, hasExited: () => true, output: () => ({ stdout, stderr }) }
    }
    const tracked: Tracked = {
      name,
      pid,
      logFile: options.logFile,
      exited,
      hasExited: () => done,
      output: () => ({ stdout, stderr }),
    }
    this.#live.set(pid, { tracked, child })
    this.#groups.add(pid)
    void exited.then(() => {
      // Leftover children of an exited leader (nginx workers) are still in its group.
      signalGroup(pid, 'SIGKILL')
      this.#live.delete(pid)
    })
    return tracked
  }

  /** SIGTERM to the process group, SIGKILL after `graceMs`. */
  async stop(tracked: Tracked, graceMs = 5000): Promise<void> {
    if (tracked.pid <= 0 || !this.#live.has(tracked.pid)) return
    signalGroup(tracked.pid, 'SIGTERM')
    if ((await within(tracked.exited, graceMs)) === 'timeout') {
      signalGroup(tracked.pid, 'SIGKILL')
      await tracked.exited
    }
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.#live.values()].map(({ tracked }) => this.stop(tracked, 3000)))
  }

  /** Whether a process group is the bench's own (or the bench itself). */
  ownsGroup(pgid: number): boolean {
    return this.#groups.has(pgid)
  }

  /** Last resort from a synchronous `exit` handler. */
  killAllSync(): void {
    for (const pid of this.#live.keys()) signalGroup(pid, 'SIGKILL')
    this.#live.clear()
  }
}

/** Runs a short command and returns its output (for version strings). */
export async function runQuiet(registry: ProcessRegistry, cmd: string, args: readonly string[]): Promise<string> {
  const t = registry.spawn(cmd, cmd, args, { capture: true })
  if ((await within(t.exited, 10_000)) === 'timeout') await registry.stop(t)
  const { stdout, stderr } = t.output()
  return `${stdout}${stderr}`.trim()
}

/** Absolute path of an executable in PATH (plus the sbin folders, where nginx and haproxy live). */
export function findExecutable(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/local/sbin', '/usr/sbin', '/sbin']
  for (const dir of dirs) {
    if (dir === '') continue
    const candidate = join(dir, name)
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {
      // not here
    }
  }
  return undefined
}

/** Distinct free TCP ports on 127.0.0.1, each found by binding port 0. */
export async function freePorts(count: number): Promise<number[]> {
  const ports = new Set<number>()
  while (ports.size < count) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer()
      server.once('error', reject)
      server.listen(0, '127.0.0.1', () => {
        const address = server.address()
        const p = typeof address === 'object' && address !== null ? address.port : 0
        server.close(() => resolve(p))
      })
    })
    ports.add(port)
  }
  return [...ports]
}

/** PIDs of `root` and all its descendants, from /proc/PID/task/TID/children. */
export function processTree(root: number): number[] {
  const seen: number[] = []
  const queue = [root]
  while (queue.length > 0) {
    const pid = queue.shift()!
    if (seen.includes(pid)) continue
    seen.push(pid)
    let tasks: string[]
    try {
      tasks = readdirSync(`/proc/${pid}/task`)
    } catch {
      continue
    }
    for (const tid of tasks) {
      try {
        for (const c of readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(' ')) {
          if (c.trim() !== '') queue.push(Number(c))
        }
      } catch {
        // the task ended meanwhile
      }
    }
  }
  return seen
}

/** Resident memory of one process in bytes (VmRSS), 0 when it is gone. */
export function rssBytes(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m?.[1] === undefined ? 0 : Number(m[1]) * 1024
  } catch {
    return 0
  }
}

/** Samples the summed RSS of a process tree (master + workers) and keeps the maximum. */
export class RssSampler {
  readonly #root: number
  #max = 0
  #timer: NodeJS.Timeout | undefined

  constructor(root: number) {
    this.#root = root
  }

  sample(): number {
    const total = processTree(this.#root).reduce((sum, pid) => sum + rssBytes(pid), 0)
    if (total > this.#max) this.#max = total
    return total
  }

  start(everyMs = 250): this {
    this.sample()
    this.#timer = setInterval(() => this.sample(), everyMs)
    return this
  }

  /** Stops sampling; returns the maximum seen, in bytes. */
  stop(): number {
    if (this.#timer !== undefined) clearInterval(this.#timer)
    this.sample()
    return this.#max
  }
}

/** Clock ticks per second of /proc/stat and /proc/PID/stat times (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100

/** CPU time in clock ticks (USER_HZ). */
export interface CpuTicks {
  readonly user: number
  readonly system: number
}

/** The fields of /proc/PID/stat after the ")" closing the command name (state is [0], utime [11]); undefined when gone. */
function statFields(pid: number | string): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  } catch {
    return undefined
  }
}

/** User and kernel CPU time spent so far by the live processes of a tree (master + workers). */
export function treeCpuTicks(root: number): CpuTicks {
  let user = 0
  let system = 0
  for (const pid of processTree(root)) {
    const f = statFields(pid)
    if (f === undefined) continue
    user += Number(f[11])
    system += Number(f[12])
  }
  return { user, system }
}

/** CPU microseconds a request, user and kernel, from the ticks a run took and the requests it served. */
export function cpuMicrosPerRequest(before: CpuTicks, after: CpuTicks, requests: number): CpuTicks | null {
  if (requests <= 0) return null
  const perTick = 1e6 / TICKS_PER_SECOND
  return { user: ((after.user - before.user) * perTick) / requests, system: ((after.system - before.system) * perTick) / requests }
}

/** Machine-wide CPU ticks in user and system mode, and the part of them spent by the bench's own processes. */
export interface CpuSnapshot {
  readonly total: number
  readonly ours: number
}

/**
 * Takes a CPU snapshot. "ours" counts user + system time of every process in a group the bench
 * created, plus their reaped children (cutime/cstime: wrk ends up there), so that
 * total - ours between two snapshots is what other processes took.
 */
export function cpuSnapshot(registry: ProcessRegistry): CpuSnapshot {
  // cpu  user nice system idle iowait irq softirq ...: softirq (loopback traffic) is left out on both sides.
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/)
  const total = Number(cpu[1]) + Number(cpu[2]) + Number(cpu[3])
  let ours = 0
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    // state ppid pgrp ... utime stime cutime cstime.
    const f = statFields(entry)
    if (f === undefined) continue
    if (!registry.ownsGroup(Number(f[2])) && Number(entry) !== process.pid) continue
    ours += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])
  }
  return { total, ours }
}

/** CPU used by others between two snapshots, in percent of one CPU (200 = both CPUs of a 2-CPU box). */
export function foreignCpuPercent(before: CpuSnapshot, after: CpuSnapshot, seconds: number): number {
  if (seconds <= 0) return 0
  const foreign = after.total - before.total - (after.ours - before.ours)
  return Math.max(0, (100 * foreign) / TICKS_PER_SECOND / seconds)
}
