// The page's actions: each asks first (an inline confirmation), then calls the admin API, then
// says what happened; a refusal shows the server's message. `page` gives the state shown and
// the loaders that re-read it.

import { call } from './api.js'
import { byId } from './dom.js'

const reason = 'from the dashboard'

export function wireActions(page) {
  const { state, showSplit, loadSplit, loadRollout } = page
  const generation = () => state.split?.generation

  const say = (text, kind = 'info') => {
    const message = byId('message')
    message.textContent = text
    message.dataset.kind = kind
  }
  const ask = (kind, text, action) => {
    state.pending = { kind, action }
    byId('confirm-text').textContent = text
    byId('confirm').hidden = false
    byId('confirm-yes').focus()
  }
  const dismiss = () => {
    state.pending = null
    state.editing = false
    byId('confirm').hidden = true
    if (state.split !== null) showSplit(state.split)
  }
  const run = async (action) => {
    try {
      say(await action(), 'ok')
    } catch (err) {
      const stale = err.status === 409 && err.code === 'SY_ERR_GENERATION_CONFLICT'
      say(`Refused (${err.status}${err.code ? ` ${err.code}` : ''}): ${err.message}${stale ? ' The split shown is now up to date; look again and retry.' : ''}`, 'bad')
    } finally {
      state.editing = false
      void loadSplit()
      void loadRollout()
    }
  }
  const confirmed = async () => {
    const pending = state.pending
    if (pending === null) return
    state.pending = null
    byId('confirm').hidden = true
    await run(pending.action)
  }

  // The slider moves in whole percents; the number beside it takes 0.01 steps, as the API does.
  const slider = byId('slider')
  const exact = byId('slider-value')
  const edited = (green) => {
    state.editing = true
    byId('apply-split').disabled = state.split === null || !Number.isFinite(green) || green < 0 || green > 100 || green === state.split.green
  }
  slider.addEventListener('input', () => {
    exact.value = slider.value
    edited(Number(slider.value))
  })
  exact.addEventListener('input', () => {
    const green = exact.valueAsNumber
    if (Number.isFinite(green)) slider.value = String(Math.round(green))
    edited(green)
  })
  byId('apply-split').addEventListener('click', () => {
    const green = Math.round(exact.valueAsNumber * 100) / 100
    const ifGeneration = generation()
    ask('split', `Set the split to blue ${100 - green} % · green ${green} % (from green ${state.split.green} %, generation ${ifGeneration})?`, async () => {
      const split = await call('PUT', '/v1/split', { green, ifGeneration, reason })
      return `Split set: green ${split.green} % (generation ${split.generation}).`
    })
  })
  byId('promote').addEventListener('click', () =>
    ask('promote', 'Promote: send every new request to green (green 100 %)?', async () => {
      await call('POST', '/v1/promote', { ifGeneration: generation(), reason })
      return 'Promoted: green takes every new request.'
    }),
  )
  byId('rollback').addEventListener('click', () =>
    ask('rollback', 'Roll back: send every new request to blue (green 0 %)?', async () => {
      await call('POST', '/v1/rollback', { ifGeneration: generation(), reason })
      return 'Rolled back: blue takes every new request.'
    }),
  )
  byId('abort').addEventListener('click', () =>
    ask('abort', 'Abort the rollout and send green back to 0 %?', async () => {
      await call('POST', '/v1/rollout/abort', { reason: `aborted ${reason}` })
      return 'Rollout aborted.'
    }),
  )
  byId('rollout-next').addEventListener('click', () =>
    ask('next', 'Skip the rest of this hold and move green to the next step now?', async () => {
      await call('POST', '/v1/rollout/promote-step', { reason })
      return 'Moved to the next step.'
    }),
  )
  for (const action of ['pause', 'resume']) {
    byId(`rollout-${action}`).addEventListener('click', () => {
      void run(async () => {
        await call('POST', `/v1/rollout/${action}`, { reason })
        return `Rollout ${action}d.`
      })
    })
  }
  byId('rollout-start').addEventListener('submit', (event) => {
    event.preventDefault()
    const shares = byId('rollout-steps').value.split(/[\s,]+/).filter(Boolean).map(Number)
    const hold = byId('rollout-hold').value.trim()
    if (shares.some((g) => !(g > 0 && g <= 100))) return say('Steps are shares of green from above 0 to 100, rising, e.g. 5,25,50,100.', 'bad')
    const steps = shares.map((green, i) => ({ green, hold: i === shares.length - 1 ? 0 : hold }))
    ask('start', `Start a rollout: green ${shares.join(' → ')} %, holding ${hold} at each step before the last, judged by the analysis?`, async () => {
      await call('POST', '/v1/rollout', { steps, reason: `started ${reason}` })
      return 'Rollout started.'
    })
  })
  byId('confirm-yes').addEventListener('click', () => void confirmed())
  byId('confirm-no').addEventListener('click', dismiss)
  byId('confirm').addEventListener('keydown', (event) => {
    if (event.key === 'Escape') dismiss()
  })
}
