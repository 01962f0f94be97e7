import { describe, expect, it } from 'vitest'
import type { RolloutView } from '../../src/cli/api-types.js'
import { makeStyle } from '../../src/cli/style.js'
import { holdLeft, outcomeLines, renderRollout, rolloutSummary, splitBar, summaryKey } from '../../src/cli/watch.js'

// The rollout view as a pure function of one GET /v1/rollout answer and the clock.

const plain = makeStyle(false)
const t0 = Date.parse('2025-06-01T10:02:00.000Z')

/** A rollout at step 2 of 4 (green 25 %), 64 s left in a 2 m hold, with a passing verdict. */
function rollout(patch: Partial<RolloutView> = {}): RolloutView {
  return {
    id: '7d9cd647-08cf-4890-90cb-f017a314e724',
    phase: 'progressing',
    step: 2,
    steps: [5, 25, 50, 100].map((green) => ({ green, holdMs: 120_000 })),
    green: 25,
    holdLeftMs: 64_000,
    startedAt: '2025-06-01T10:00:00.000Z',
    stepStartedAt: '2025-06-01T10:01:00.000Z',
    endedAt: null,
    reason: 'release 1.8.0',
    skipAnalysis: false,
    analysis: {
      checks: 56,
      failedChecks: 0,
      greenThisStep: 123,
      settings: { minRequests: 50 },
      last: {
        at: '2025-06-01T10:01:59.000Z',
        result: 'pass',
        action: 'hold',
        reasons: ['no test finds green worse than blue: errors: green 0 of 123 (0.00%), blue 2 of 1107 (0.18%)'],
        greenThisStep: 123,
        minRequests: 50,
        tests: [
          { test: 'errors', state: 'ok', evidence: 0.42, threshold: 250 },
          { test: 'latency', state: 'leaning', evidence: 17.3, threshold: 500 },
          { test: 'route', state: 'ok', evidence: 1, threshold: 5500, route: '/v1/chat' },
        ],
      },
    },
    ...patch,
  }
}

describe('the rollout view', () => {
  it('draws step i/n, the split bar, the steps, the hold left and the verdict with its numbers', () => {
    expect(renderRollout(rollout(), { now: t0 + 4_000, readAt: t0, style: plain, unicode: false, barWidth: 20 })).toEqual([
      'rollout 7d9cd647 · progressing · step 2/4 · green 25 %',
      '[#####---------------] blue 75 % · green 25 %',
      'steps: 5 %+ > [25 %] > 50 % > 100 %',
      'hold: 1m left of 2m',
      'analysis: pass → hold · 56 checks, 0 failed · green served 123 requests this step (needs 50)',
      '  no test finds green worse than blue: errors: green 0 of 123 (0.00%), blue 2 of 1107 (0.18%)',
      '  tests: errors ok 0.42/250 · latency leaning 17.3/500 · route /v1/chat ok 1/5500',
      'reason: release 1.8.0',
    ])
  })

  it('counts the hold down from when the rollout was read, and freezes it while paused', () => {
    expect(holdLeft(rollout(), t0 + 10_000, t0)).toBe(54_000)
    expect(holdLeft(rollout(), t0 + 100_000, t0)).toBe(0)
    expect(holdLeft(rollout({ phase: 'paused' }), t0 + 100_000, t0)).toBe(64_000)
    const lines = renderRollout(rollout({ phase: 'paused' }), { now: t0 + 100_000, readAt: t0, style: plain, unicode: false })
    expect(lines[3]).toBe('hold: paused with 1m04s of 2m left')
    expect(renderRollout(rollout(), { now: t0 + 70_000, readAt: t0, style: plain, unicode: false })[3]).toBe('hold: over of 2m; the step moves on once the analysis passes')
  })

  it('shows no verdict for a step whose first look is still to come (the last one was about the step before)', () => {
    const view = rollout({ stepStartedAt: '2025-06-01T10:02:00.000Z' })
    const lines = renderRollout(view, { now: t0, readAt: t0, style: plain, unicode: false })
    expect(lines[4]).toBe('analysis: no verdict yet · 56 checks, 0 failed · green served 123 requests this step (needs 50)')
    expect(lines.some((l) => l.includes('no test finds'))).toBe(false)
  })

  it('draws with box characters and colours on a terminal, and cuts lines to its width', () => {
    const lines = renderRollout(rollout(), { now: t0, readAt: t0, style: makeStyle(true), unicode: true, barWidth: 4, width: 40 })
    expect(lines[1]).toBe('[\x1b[32m█\x1b[39m\x1b[34m░░░\x1b[39m] \x1b[34mblue 75 %\x1b[39m · \x1b[32mgreen 25 %\x1b[39m')
    expect(lines[2]).toContain('25 %')
    // eslint-disable-next-line no-control-regex
    for (const line of lines) expect(line.replace(/\x1b\[[0-9;]*m/g, '').length).toBeLessThanOrEqual(40)
    expect(lines[5]).toBe('  no test finds green worse than blue: …')
  })

  it('an ended rollout: how long it took, its reason and the verdict that ended it', () => {
    const aborted = rollout({
      phase: 'aborted',
      green: 0,
      holdLeftMs: null,
      endedAt: '2025-06-01T10:02:05.000Z',
      reason: 'auto-revert: green is worse than blue',
      analysis: { checks: 3, failedChecks: 1, last: { at: '2025-06-01T10:02:05.000Z', result: 'fail', action: 'fail', reasons: ['errors: green 7 of 7 (100.00%), blue 0 of 10 (0.00%)'] } },
    })
    const lines = renderRollout(aborted, { now: t0 + 60_000, readAt: t0, style: plain, unicode: false, barWidth: 10 })
    expect(lines[0]).toBe('rollout 7d9cd647 · aborted · step 2/4 · green 0 %')
    expect(lines[1]).toBe('[----------] blue 100 % · green 0 %')
    expect(lines[3]).toMatch(/^ended: 2025-06-0[12] \d\d:\d2:05 after 2m05s$/)
    expect(lines.slice(4)).toEqual(['analysis: fail → fail · 3 checks, 1 failed', '  errors: green 7 of 7 (100.00%), blue 0 of 10 (0.00%)', 'reason: auto-revert: green is worse than blue'])
    expect(outcomeLines(aborted, plain)).toEqual([
      'rollout aborted at step 2/4 after 2m05s: auto-revert: green is worse than blue',
      'verdict: fail → fail',
      '  errors: green 7 of 7 (100.00%), blue 0 of 10 (0.00%)',
    ])
    expect(outcomeLines(rollout({ phase: 'succeeded', green: 100, endedAt: '2025-06-01T10:08:12.000Z' }), plain)).toEqual(['rollout succeeded: green 100 % after 8m12s'])
    expect(renderRollout(rollout({ phase: 'succeeded', step: 4, green: 100 }), { now: t0, readAt: t0, style: plain, unicode: true })[2]).toBe('steps: 5 %✓ → 25 %✓ → 50 %✓ → 100 %✓')
  })

  it('one summary line per change for pipes: the countdown alone is no change', () => {
    expect(rolloutSummary(rollout(), t0, t0, plain)).toBe('step 2/4 · green 25 % · progressing · hold 1m04s left · analysis pass → hold')
    expect(summaryKey(rollout({ holdLeftMs: 10 }))).toBe(summaryKey(rollout()))
    expect(summaryKey(rollout({ step: 3, green: 50 }))).not.toBe(summaryKey(rollout()))
    expect(splitBar(50, 10, plain, false)).toBe('[#####-----]')
  })
})
