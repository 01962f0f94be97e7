import type { Evidence } from './evidence.js'
import { describe } from './judge.js'
import type { Release } from '../release/release.js'

/**
 * Keeps the release's evidence in step with the split, here or on another replica (every
 * replica keeps the same evidence): it starts over when green's exposure starts over (green
 * rises from 0, a new rollout, a revert; new targets restart it where they are applied), a
 * batch never mixes two splits, and a rollout step counts green's requests from its start.
 */
export function followRelease(release: Release, evidence: Evidence): void {
  let green = release.state().greenBuckets
  let rollout = release.rollout()?.id ?? null
  release.onChange((state, event) => {
    const now = state.greenBuckets
    const id = release.rollout()?.id ?? null
    const newRollout = event.type === 'step' && id !== null && id !== rollout
    if (event.type === 'revert' || newRollout || (green === 0 && now > 0)) evidence.restart()
    else if (now !== green) evidence.splitChanged()
    if (now !== green) evidence.mark()
    green = now
    rollout = id
  })
}

/** The evidence as /v1/status shows it: since when, per-colour totals, each test with its words. */
export function evidenceView(evidence: Evidence): Record<string, unknown> {
  return {
    since: new Date(evidence.startedAt).toISOString(),
    ...evidence.totals(),
    tests: evidence.readings().map((r) => ({ ...r, explain: describe(r) })),
  }
}
