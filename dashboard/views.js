// Renders each part of the page from the admin API's answers and the stream's frames.

import { badge, byId, duration, el, millis, percent, time } from './dom.js'

export function renderSplit(split) {
  byId('split-blue').textContent = percent(split.blue)
  byId('split-green').textContent = percent(split.green)
  byId('split-generation').textContent = `generation ${split.generation}`
  // The CSSOM (not a style attribute) sets the widths, which the CSP allows.
  byId('bar-blue').style.width = `${split.blue}%`
  byId('bar-green').style.width = `${split.green}%`
  byId('split-bar').setAttribute('aria-label', `blue ${split.blue} %, green ${split.green} %`)
  const reverted = byId('reverted')
  reverted.hidden = split.reverted === null
  if (split.reverted !== null) {
    const r = split.reverted
    reverted.replaceChildren(
      badge('bad', 'auto-reverted'),
      ` at ${time(r.at)}: ${r.reason} (error rate ${percent((r.errorRate ?? 0) * 100)}, ${r.requests} requests). Green stays at 0 % until a split is set.`,
    )
  }
}

const PHASES = { progressing: 'info', paused: 'warn', succeeded: 'ok', aborted: 'bad' }
const RESULTS = { pass: 'ok', fail: 'bad', inconclusive: 'warn' }

/** `verdicts`: the last verdict seen at each step of this rollout (step number -> verdict). */
export function renderRollout(rollout, verdicts, now = Date.now()) {
  const body = byId('rollout-body')
  byId('rollout-start').hidden = rollout !== null && (rollout.phase === 'progressing' || rollout.phase === 'paused')
  if (rollout === null) {
    body.replaceChildren(el('p', { class: 'muted' }, 'No rollout has been started.'))
    return
  }
  const active = rollout.phase === 'progressing' || rollout.phase === 'paused'
  const head = el(
    'p',
    { class: 'rollout-head' },
    badge(PHASES[rollout.phase] ?? 'info', rollout.phase),
    el('span', { id: 'rollout-step', data: { step: rollout.step } }, ` step ${rollout.step} of ${rollout.steps.length}`),
    ` · green ${percent(rollout.green)}`,
    active ? ` · hold ${duration(rollout.phase === 'progressing' ? Math.max(0, rollout.holdLeftMs - (now - rollout.readAt)) : rollout.holdLeftMs)} left` : '',
    rollout.reason ? el('span', { class: 'muted' }, ` · ${rollout.reason}`) : '',
  )
  const steps = el(
    'ol',
    { class: 'steps' },
    rollout.steps.map((step, i) => {
      const n = i + 1
      const state = n < rollout.step || rollout.phase === 'succeeded' ? 'done' : n === rollout.step ? (rollout.phase === 'aborted' ? 'failed' : 'current') : 'pending'
      const label = { done: '✓ passed', current: '▶ now', failed: '✗ stopped', pending: '· next' }[state]
      // A passed step keeps the last verdict seen during it only if it said pass: an earlier
      // "inconclusive" beside "passed" would only confuse.
      const seen = verdicts.get(n)
      const verdict = seen && (state !== 'done' || seen.result === 'pass') ? seen : undefined
      return el(
        'li',
        { class: `step ${state}`, data: { step: n, state } },
        el('span', { class: 'step-share' }, typeof step.mirror === 'number' ? `${n}. mirror ${percent(step.mirror)}` : `${n}. ${percent(step.green)}`),
        el('span', { class: 'step-hold' }, step.holdMs > 0 ? `hold ${duration(step.holdMs)}` : 'no hold'),
        el('span', { class: 'step-state' }, label),
        verdict
          ? el('span', { class: `step-verdict ${verdict.result}`, title: verdict.reasons.join('\n') }, `${verdict.result} · ${verdict.greenThisStep ?? '?'} req`)
          : '',
      )
    }),
  )
  const a = rollout.analysis
  const last = a.last
  const numbers = el(
    'dl',
    { class: 'numbers' },
    el('dt', {}, 'checks'),
    el('dd', {}, `${a.checks} (${a.failedChecks} failed, ${a.consecutiveFailures} of ${a.failureThreshold} in a row)`),
    el('dt', {}, 'green this step'),
    el('dd', {}, `${a.greenThisStep} requests (needs ${a.settings?.minRequests ?? '?'})`),
    el('dt', {}, 'evidence'),
    el('dd', {}, `blue ${a.evidence.blue.errors}/${a.evidence.blue.requests} errors · green ${a.evidence.green.errors}/${a.evidence.green.requests} errors`),
  )
  const verdict =
    last === null
      ? el('p', { class: 'muted' }, 'No verdict yet: the first look comes one analysis interval after the step starts.')
      : el(
          'div',
          { class: 'verdict', id: 'verdict', data: { result: last.result } },
          el('p', {}, badge(RESULTS[last.result] ?? 'info', `${last.result}`), ` → ${last.action} `, el('span', { class: 'muted' }, `at ${time(last.at)}`)),
          el('ul', { class: 'reasons' }, last.reasons.map((r) => el('li', {}, r))),
          Array.isArray(last.tests) && last.tests.length > 0 ? testsTable(last.tests) : '',
        )
  body.replaceChildren(head, steps, numbers, verdict)
}

function testsTable(tests) {
  const rate = (side) => (side ? el('span', { title: percent(side.rate * 100) }, `${side.events}/${side.requests}`) : '–')
  return el(
    'table',
    { class: 'tests' },
    el('thead', {}, el('tr', {}, ['test', 'state', 'green bad/all', 'blue bad/all', 'evidence'].map((h) => el('th', {}, h)))),
    el(
      'tbody',
      {},
      tests.map((t) =>
        el(
          'tr',
          {},
          el('td', {}, t.route ? `${t.test} ${t.route}` : t.test),
          el('td', {}, badge(t.state === 'ok' ? 'ok' : t.state === 'fail' || t.state === 'worse' ? 'bad' : 'warn', t.state)),
          el('td', {}, rate(t.green)),
          el('td', {}, rate(t.blue)),
          el('td', { title: `green is judged worse when the evidence reaches ${t.threshold}` }, `${t.evidence < 0.01 ? '<0.01' : Number(Number(t.evidence).toPrecision(2))} / ${t.threshold}`),
        ),
      ),
    ),
  )
}

function targetBadge(t) {
  if (t.ejectedUntil !== null) return badge('bad', `ejected until ${time(t.ejectedUntil)}`)
  if (t.active === 'unhealthy') return badge('bad', 'fails health checks')
  if (t.active === 'unknown') return badge('warn', 'not checked yet')
  return badge('ok', t.active === 'healthy' ? 'healthy (checked)' : 'healthy')
}

/** Targets per colour with their health; each colour gets a line for its connections (renderConnections). */
export function renderUpstreams(upstreams) {
  const body = byId('upstreams-body')
  body.replaceChildren(
    ...['blue', 'green'].map((color) =>
      el(
        'div',
        { class: `colour ${color}`, data: { color } },
        el('h3', {}, el('i', { class: `swatch ${color}` }), color),
        el(
          'ul',
          { class: 'targets' },
          (upstreams?.[color]?.targets ?? []).map((t) =>
            el(
              'li',
              { data: { url: t.url, healthy: t.healthy } },
              el('span', { class: 'url' }, t.url),
              targetBadge(t),
              el('span', { class: 'muted' }, ` ${t.inFlight} in flight${t.lastError ? ` · last error ${t.lastError}` : ''}`),
            ),
          ),
        ),
        el('p', { class: 'connections', id: `connections-${color}` }, 'connections: –'),
      ),
    ),
  )
}

/** This replica's open connections per colour, and those draining from a colour at 0 %. */
export function renderConnections(connections, draining) {
  for (const color of ['blue', 'green']) {
    const line = document.getElementById(`connections-${color}`)
    const c = connections?.[color]
    if (line === null || c === undefined) continue
    const open = `${c.requests} requests · ${c.streams} streams · ${c.websockets} WebSockets open`
    line.replaceChildren(open, draining?.[color] > 0 ? ' ' : '', draining?.[color] > 0 ? badge('warn', `draining ${draining[color]}`) : '')
  }
}

function share(v) {
  return v && typeof v === 'object' && 'green' in v ? `green ${percent(v.green)}` : ''
}

/** What an event changed, in a few words. */
export function summary(e) {
  if (e.type === 'health') return `${e.color} ${e.target.replace(/^https?:\/\//, '')} ${e.healthy ? 'back in rotation' : 'out of rotation'}`
  if (e.type === 'targets') return `${Array.isArray(e.from) ? e.from.join(', ') : ''} → ${Array.isArray(e.to) ? e.to.join(', ') : ''}`
  if (e.type === 'mirror' && e.from && e.to) return `mirror ${percent(e.from.percent)} → ${percent(e.to.percent)}`
  if (e.from && e.to && typeof e.from === 'object' && 'green' in e.from) {
    const mirror = typeof e.from.mirror === 'number' && typeof e.to.mirror === 'number' ? `, mirror ${percent(e.from.mirror)} → ${percent(e.to.mirror)}` : ''
    return `${share(e.from)} → ${share(e.to)}${mirror}`
  }
  if (typeof e.from === 'string' || typeof e.to === 'string') return `${e.from ?? ''} → ${e.to ?? ''}`
  return share(e.to)
}

const ALARMS = { revert: 'bad', abort: 'bad', rollback: 'warn', degradation: 'warn', pause: 'warn', succeeded: 'ok', promote: 'ok' }

/** One timeline row; `data-shown-at` says when the page showed it (the test compares it with `at`). */
export function timelineRow(e) {
  const kind = e.type === 'health' ? (e.healthy ? 'ok' : 'bad') : (ALARMS[e.type] ?? 'info')
  return el(
    'li',
    { class: `event ${e.type}`, data: { type: e.type, at: e.at, shownAt: Date.now(), ...(e.id === undefined ? {} : { id: e.id }) } },
    el('time', { datetime: e.at }, time(e.at)),
    badge(kind, e.type),
    el('span', { class: 'what' }, summary(e)),
    el('span', { class: 'who muted' }, e.type === 'health' ? `${e.why} · seen by ${e.replica ?? 'this switchyard'}` : `${e.source}${e.reason ? ` · ${e.reason}` : ''}`),
  )
}

export function renderFleet(fleet) {
  const card = byId('fleet')
  card.hidden = fleet === null
  byId('replica').textContent = fleet === null ? '' : `replica ${fleet.replica}${fleet.leader ? ' (leads)' : ''}`
  if (fleet === null) return
  byId('fleet-body').replaceChildren(
    el(
      'ul',
      { class: 'members' },
      fleet.members.map((m) =>
        el(
          'li',
          {},
          el('span', { class: 'url' }, m.replica),
          m.replica === fleet.replica ? el('span', { class: 'muted' }, ' (this one)') : '',
          ' ',
          badge(m.lastSeenMsAgo < 2500 ? 'ok' : 'warn', `seen ${millis(m.lastSeenMsAgo)} ago`),
        ),
      ),
    ),
  )
}
