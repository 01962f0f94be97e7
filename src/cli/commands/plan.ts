import type { Command } from 'commander'
import { UsageError } from '../errors.js'
import { decimal, durationMs, durationText, percent, stepList, wholeNumber, type StepArg } from '../options.js'

/** The plan flags of `rollout start` and `release`: everything POST /v1/rollout takes. */
export interface PlanOptions {
  readonly steps?: StepArg[]
  readonly hold?: string
  readonly stepWeight?: number
  readonly maxWeight?: number
  readonly interval?: string
  readonly progressDeadline?: string
  readonly analysisInterval?: string
  readonly minRequests?: number
  readonly confidence?: number
  readonly maxErrorRate?: number
  readonly maxP99?: string
  readonly latencyQuantile?: number
  readonly maxLatencyPercent?: number
  readonly maxLatencyMs?: string
  readonly reason?: string
  readonly force?: boolean
}

/** How `--wait` and `--watch` follow the rollout. */
export interface WaitOptions {
  readonly wait?: boolean
  readonly watch?: boolean
  readonly timeout?: number
  readonly abortOnTimeout?: boolean
}

export function planOptions(command: Command): Command {
  return command
    .option(
      '--steps <greens>',
      "green's share at each step, rising: 5,25,50,100 (or 5:2m,25:5m,100 with a hold each); mirror:100:5m first mirrors that share of blue's requests to green before any user gets it",
      stepList,
    )
    .option('--hold <duration>', 'with --steps: how long each step holds (one without its own hold)', durationText)
    .option('--step-weight <percent>', 'instead of --steps: raise green by this much every --interval', percent)
    .option('--max-weight <percent>', '... up to this share, then promote', percent)
    .option('--interval <duration>', "... holding each step this long (default: the config's rollout.interval)", durationText)
    .option('--progress-deadline <duration>', 'a step still undecided this long after its hold pauses the rollout (0 = never)', durationText)
    .option('--analysis-interval <duration>', 'how often the analysis looks at the evidence', durationText)
    .option('--min-requests <n>', 'green requests a step must serve before it can pass', wholeNumber)
    .option('--confidence <x>', '1 - the chance that a healthy green is ever failed (0.5 to 0.9999)', decimal)
    .option('--max-error-rate <x>', "ceiling on green's failure rate (0 to 1)", decimal)
    .option('--max-p99 <duration>', 'latencies under this never count as slow (0 = no cap)', durationText)
    .option('--latency-quantile <x>', "blue's quantile that draws the slow line (0.5 to 0.999)", decimal)
    .option('--max-latency-percent <n>', 'green counts as slower only by more than this percent ...', decimal)
    .option('--max-latency-ms <duration>', '... and more than this', durationText)
    .option('--reason <text>', 'why, for the audit log')
    .option('--force', 'start even when green has no healthy target (skips the health gate)')
}

export function waitOptions(command: Command): Command {
  return command
    .option('--wait', 'block until the rollout succeeds (exit 0) or is aborted or reverted (exit 1, the verdict printed)')
    .option('--watch', 'the same, with the live view of `rollout get --watch`')
    .option('--timeout <duration>', 'with --wait/--watch: give up after this long (exit 1; the rollout goes on)', durationMs)
    .option('--abort-on-timeout', 'with --timeout: abort the rollout when it is reached')
}

/** POST /v1/rollout's body from the flags; an empty plan starts the configured default plan. */
export function planBody(o: PlanOptions): Record<string, unknown> {
  const weightPlan = o.stepWeight !== undefined || o.maxWeight !== undefined || o.interval !== undefined
  if (o.steps !== undefined && weightPlan) throw new UsageError('give either --steps (with --hold) or --step-weight/--max-weight/--interval, not both')
  if (o.hold !== undefined && o.steps === undefined) throw new UsageError('--hold goes with --steps (a --step-weight plan holds each step for --interval)')
  const body: Record<string, unknown> = {}
  if (o.steps !== undefined) {
    body.steps = o.steps.map((step) => {
      const hold = step.hold ?? o.hold
      const written = 'mirror' in step ? `mirror:${step.mirror}` : String(step.green)
      if (hold === undefined) throw new UsageError(`step ${written} has no hold: give --hold (for every step) or write it as ${written}:2m`)
      return 'mirror' in step ? { mirror: step.mirror, hold } : { green: step.green, hold }
    })
  }
  if (o.stepWeight !== undefined) body.stepWeight = o.stepWeight
  if (o.maxWeight !== undefined) body.maxWeight = o.maxWeight
  if (o.interval !== undefined) body.interval = o.interval
  if (o.progressDeadline !== undefined) body.progressDeadline = o.progressDeadline
  const analysis: Record<string, unknown> = {}
  if (o.analysisInterval !== undefined) analysis.interval = o.analysisInterval
  if (o.minRequests !== undefined) analysis.minRequests = o.minRequests
  if (o.confidence !== undefined) analysis.confidence = o.confidence
  if (o.maxErrorRate !== undefined) analysis.maxErrorRate = o.maxErrorRate
  if (o.maxP99 !== undefined) analysis.maxP99 = o.maxP99
  if (o.latencyQuantile !== undefined) analysis.latencyQuantile = o.latencyQuantile
  if (o.maxLatencyPercent !== undefined || o.maxLatencyMs !== undefined) {
    analysis.maxLatencyIncrease = {
      ...(o.maxLatencyPercent === undefined ? {} : { percent: o.maxLatencyPercent }),
      ...(o.maxLatencyMs === undefined ? {} : { ms: o.maxLatencyMs }),
    }
  }
  if (Object.keys(analysis).length > 0) body.analysis = analysis
  if (o.reason !== undefined) body.reason = o.reason
  if (o.force === true) body.force = true
  return body
}

/** Checks the wait flags together: --timeout and --abort-on-timeout only mean something while waiting. */
export function checkWait(o: WaitOptions): void {
  if (o.wait !== true && o.watch !== true && (o.timeout !== undefined || o.abortOnTimeout === true)) {
    throw new UsageError('--timeout and --abort-on-timeout go with --wait or --watch')
  }
  if (o.abortOnTimeout === true && o.timeout === undefined) throw new UsageError('--abort-on-timeout needs --timeout')
}
