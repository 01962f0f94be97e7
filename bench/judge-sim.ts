/**
 * `npm run judge:sim`: the release judgement's figures from a seeded simulation of the real
 * decision code (bench/judge/simulate.ts), written to bench/results/judge-sim.md. Deterministic:
 * the same seeds give the same table. JUDGE_RUNS sets the runs per row (default 200).
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { DEFAULT_STEPS, fraction, median, runMany, type Outcome, type Scenario } from './judge/simulate.js'

const RUNS = Number(process.env.JUDGE_RUNS ?? 200)
const SEED = 20261201
const PLAN = { steps: DEFAULT_STEPS, horizonMs: 60 * 60_000 } as const

const lines: string[] = []
const say = (line: string) => {
  lines.push(line)
  console.log(line)
}
const pct = (x: number) => `${(x * 100).toFixed(1)} %`
const seconds = (o: readonly Outcome[]) => (median(o.map((x) => x.atMs)) / 1000).toFixed(1)

const started = Date.now()
say(`# Release judgement, simulated (${RUNS} runs a row, seed ${SEED})`)
say('')
say('Real decision code (Evidence, decideRevert, decideStep) at virtual time, 200 ms ticks; lognormal')
say('latency (median 20 ms); 2,000 users of unequal activity, so green\'s share of traffic is not exactly')
say('the split; the default plan (10 % steps, 1 min holds, minRequests 50, confidence 0.99).')
say('')
say('## Healthy releases (green = blue): falsely failed')
say('')
say('| errors (both) | req/s | promoted | falsely reverted or aborted | paused (no decision) | median time to promote |')
say('| ---: | ---: | ---: | ---: | ---: | ---: |')
let falseTotal = 0
let healthyTotal = 0
for (const base of [0.001, 0.01, 0.02]) {
  for (const rate of [5, 20, 200, 1000]) {
    const o = runMany({ rate, blueErrors: base, greenErrors: base, ...PLAN }, RUNS, SEED)
    const bad = fraction(o, 'failed', 'reverted')
    falseTotal += bad * o.length
    healthyTotal += o.length
    const promoted = o.filter((x) => x.end === 'promoted')
    say(`| ${pct(base)} | ${rate} | ${pct(fraction(o, 'promoted'))} | **${pct(bad)}** | ${pct(fraction(o, 'paused', 'running'))} | ${seconds(promoted)} s |`)
  }
}
say(`| all | | | **${pct(falseTotal / healthyTotal)}** (${falseTotal} of ${healthyTotal}) | | |`)
say('')

say('## Green fails everything (split 10 %, blue 1 %): time to revert')
say('')
say('| req/s | reverted | within 1 s | median time | 95th percentile | max time | median green requests exposed | max |')
say('| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |')
for (const rate of [5, 50, 200, 1000]) {
  const o = runMany({ rate, blueErrors: 0.01, greenErrors: 1, fixedGreen: 10, horizonMs: 120_000 }, RUNS, SEED)
  const done = o.filter((x) => x.end === 'reverted')
  const max = (v: number[]) => Math.max(...v)
  const times = done.map((x) => x.atMs).sort((a, b) => a - b)
  const p95 = times[Math.floor(times.length * 0.95)] ?? NaN
  say(
    `| ${rate} | ${pct(done.length / o.length)} | ${pct(times.filter((t) => t <= 1000).length / o.length)} | ${seconds(done)} s | ` +
      `${(p95 / 1000).toFixed(1)} s | ${(max(times) / 1000).toFixed(1)} s | ` +
      `${median(done.map((x) => x.greenRequests))} | ${max(done.map((x) => x.greenRequests))} |`,
  )
}
say('')

say('## Green worse than blue (blue 1 %, 200 req/s, default plan): caught before promotion')
say('')
say('| green errors | caught (reverted or aborted) | promoted | median green requests exposed before the decision | median time |')
say('| ---: | ---: | ---: | ---: | ---: |')
for (const green of [0.0125, 0.015, 0.02, 0.03, 0.05]) {
  const o = runMany({ rate: 200, blueErrors: 0.01, greenErrors: green, ...PLAN }, RUNS, SEED)
  const caught = o.filter((x) => x.end === 'failed' || x.end === 'reverted')
  say(`| ${(green * 100).toString()} % | **${pct(caught.length / o.length)}** | ${pct(fraction(o, 'promoted'))} | ${median(caught.map((x) => x.greenRequests))} | ${seconds(caught)} s |`)
}
say('')

say('## Shared degradation and a broken route')
say('')
say('| scenario | outcome |')
say('| --- | --- |')
const rows: [string, Scenario, (o: Outcome[]) => string][] = [
  [
    'both colours 10 % errors, split 10 %, 200 req/s (auto-revert)',
    { rate: 200, blueErrors: 0.1, greenErrors: 0.1, fixedGreen: 10, horizonMs: 120_000 },
    (o) => `green blamed **${pct(fraction(o, 'reverted'))}**; shared degradation reported ${pct(fraction(o, 'shared-degradation'))}`,
  ],
  [
    'both colours 10 % errors during the default plan, 200 req/s',
    { rate: 200, blueErrors: 0.1, greenErrors: 0.1, ...PLAN },
    (o) => `green blamed **${pct(fraction(o, 'reverted', 'failed'))}**; rollout paused as shared ${pct(fraction(o, 'shared-degradation'))}`,
  ],
  [
    'one route (2 % of traffic) fails every green request, split 10 %, 200 req/s',
    { rate: 200, blueErrors: 0.01, greenErrors: 0.01, brokenRouteShare: 0.02, fixedGreen: 10, horizonMs: 60_000 },
    (o) => {
      const caught = o.filter((x) => x.end === 'reverted')
      return `caught within 60 s **${pct(caught.length / o.length)}**, median ${seconds(caught)} s, named the route in ${pct(caught.filter((x) => x.by === '/broken').length / Math.max(1, caught.length))}`
    },
  ],
  [
    'green 1.5× slower (same errors), default plan, 200 req/s',
    { rate: 200, blueErrors: 0.01, greenErrors: 0.01, greenLatencyFactor: 1.5, ...PLAN },
    (o) => `caught **${pct(fraction(o, 'failed', 'reverted'))}**, median ${seconds(o)} s`,
  ],
  [
    'green 1.5× slower, default plan, 5 req/s',
    { rate: 5, blueErrors: 0.01, greenErrors: 0.01, greenLatencyFactor: 1.5, ...PLAN },
    (o) => `caught **${pct(fraction(o, 'failed', 'reverted'))}**, median ${seconds(o)} s`,
  ],
]
for (const [name, scenario, show] of rows) say(`| ${name} | ${show(runMany(scenario, RUNS, SEED))} |`)
say('')
say(`(${((Date.now() - started) / 1000).toFixed(0)} s on this machine)`)

mkdirSync(new URL('./results/', import.meta.url), { recursive: true })
writeFileSync(new URL('./results/judge-sim.md', import.meta.url), lines.join('\n') + '\n')
