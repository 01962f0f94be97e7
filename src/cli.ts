#!/usr/bin/env node
// The switchyard binary. `switchyard [--config FILE] [--check] [--pid-file PATH]` starts the
// proxy (serve.ts, as ever); `switchyard COMMAND ...` drives a running one through its admin
// API (cli/). Each side is loaded only when used, so a client command does not pay for
// loading the proxy.
import { isCommand } from './cli/summary.js'
import { raiseHeapThresholds } from './heap-thresholds.js'

const args = process.argv.slice(2)
if (isCommand(args[0])) {
  const { runCommand } = await import('./cli/program.js')
  process.exitCode = await runCommand(args)
} else {
  raiseHeapThresholds()
  const { serve } = await import('./serve.js')
  await serve(args)
}
