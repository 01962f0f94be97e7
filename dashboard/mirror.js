// The Mirror panel: the share of blue's requests copied to green (green's answers are compared
// with blue's and dropped), set from here with PUT /v1/mirror, and what differed so far
// (GET /v1/mirror/report), read again every few seconds and when an event moves the mirror.

import { call, coalesced } from './api.js'
import { badge, duration, el, percent, time } from './dom.js'

/** How often the report is read again while the page is open. */
const REFRESH_MS = 4000
/** Routes, and field paths per route, the panel lists. */
const ROUTES = 4
const PATHS = 3
/** Events after which the mirror may have moved: its own, and a rollout entering or leaving a mirror step. */
const MIRROR_EVENTS = new Set(['mirror', 'step', 'abort', 'succeeded', 'promote', 'rollback', 'revert'])

const reason = 'from the dashboard'
const share = (value) => percent(value * 100)
const routeName = (route) => (route === '' ? 'all routes' : route)

/** The typed share as a number, or null when it is none; range and decimals are the server's to refuse (400, shown). */
function parsePercent(text) {
  const trimmed = text.trim()
  const value = Number(trimmed)
  return trimmed === '' || !Number.isFinite(value) ? null : value
}

function panel() {
  return el(
    'section',
    { class: 'card mirror', id: 'mirror', 'aria-labelledby': 'mirror-title' },
    el('h2', { id: 'mirror-title' }, 'Mirror ', el('span', { id: 'mirror-generation', class: 'muted' })),
    el(
      'p',
      { class: 'mirror-now' },
      el('b', { id: 'mirror-percent' }, '–'),
      el('span', { id: 'mirror-what' }, " of blue's requests copied to green"),
    ),
    el('p', { id: 'mirror-settings', class: 'muted mirror-settings' }),
    el(
      'form',
      { id: 'mirror-form', class: 'mirror-form', novalidate: '' },
      el('label', { for: 'mirror-input' }, 'mirror'),
      el('input', { id: 'mirror-input', name: 'percent', inputmode: 'decimal', autocomplete: 'off', size: '6', 'aria-describedby': 'mirror-message' }),
      el('span', {}, '%'),
      el('button', { id: 'mirror-apply', type: 'submit' }, 'Apply'),
    ),
    el('p', { id: 'mirror-message', class: 'message', role: 'status' }),
    el('div', { id: 'mirror-report' }, el('p', { class: 'muted' }, 'Loading…')),
  )
}

function pathItem(p) {
  const noisy = p.noisy ? badge('info', 'noisy') : null
  if (noisy !== null) noisy.title = `differs between two of blue's own answers too: not held against green${p.noise > 0 ? ` (${p.noise} pairs ignored)` : ''}`
  return el(
    'li',
    { class: `mirror-path${p.noisy ? ' noisy' : ''}`, data: { path: p.path, noisy: p.noisy } },
    el('code', {}, p.path),
    ' ',
    el('span', { class: 'muted' }, p.count > 0 ? `${p.count} · ${share(p.share)}` : '–'),
    noisy === null ? '' : ' ',
    noisy,
  )
}

function routeItem(r) {
  const more = r.paths.length - Math.min(r.paths.length, PATHS) + r.otherPaths
  return el(
    'li',
    { class: 'mirror-route', data: { route: r.route } },
    el('div', {}, el('b', {}, routeName(r.route)), ' ', el('span', {}, `${r.differing} of ${r.pairs} differ (${share(r.share)})`)),
    r.paths.length === 0 ? '' : el('ul', { class: 'mirror-paths' }, r.paths.slice(0, PATHS).map(pathItem)),
    more > 0 ? el('p', { class: 'muted mirror-more' }, `${more} more field path${more === 1 ? '' : 's'}`) : '',
  )
}

function renderReport(report) {
  const body = document.getElementById('mirror-report')
  if (report === null) {
    body.replaceChildren(el('p', { class: 'muted' }, 'This switchyard has no mirror report.'))
    return
  }
  const head = el(
    'p',
    { id: 'mirror-summary', data: { pairs: report.pairs, differing: report.differing } },
    report.pairs === 0
      ? el('span', { class: 'muted' }, `No pairs compared since ${time(report.since)}.`)
      : [
          badge(report.differing === 0 ? 'ok' : 'warn', `${share(report.share)} differ`),
          ` ${report.differing} of ${report.pairs} pairs since ${time(report.since)}`,
          report.kinds.length === 0 ? '' : el('span', { class: 'muted' }, ` · ${report.kinds.map((k) => `${k.kind} ${k.count}`).join(' · ')}`),
        ],
  )
  const routes = report.routes.slice(0, ROUTES)
  const rest = report.routes.length - routes.length
  body.replaceChildren(
    head,
    routes.length === 0 ? '' : el('ul', { class: 'mirror-routes' }, routes.map(routeItem)),
    rest > 0 ? el('p', { class: 'muted' }, `${rest} more route${rest === 1 ? '' : 's'}: switchyard mirror report --limit ${report.routes.length}`) : '',
  )
}

/**
 * Adds the panel before `before` and returns its controls: `start` (read now, then every few
 * seconds), `stop`, and `onEvent(type)` for the event stream's audit events.
 */
export function mirrorPanel(before) {
  // Its own stylesheet, so the page's CSS and HTML stay as they are (the CSP allows 'self').
  if (document.getElementById('mirror-css') === null) {
    document.head.append(el('link', { id: 'mirror-css', rel: 'stylesheet', href: '/ui/mirror.css' }))
  }
  const section = panel()
  before.before(section)
  const input = section.querySelector('#mirror-input')
  const message = section.querySelector('#mirror-message')
  /** The polling loop's round; 0 while stopped. */
  let polling = 0
  let rounds = 0
  let editing = false
  let missing = false

  const say = (text, kind) => {
    message.textContent = text
    message.dataset.kind = kind
  }

  const showMirror = (view) => {
    const p = section.querySelector('#mirror-percent')
    p.textContent = percent(view.percent)
    p.dataset.percent = String(view.percent)
    section.dataset.on = String(view.percent > 0)
    section.querySelector('#mirror-what').textContent = view.percent > 0 ? " of blue's requests copied to green" : ': off, green gets no copies'
    section.querySelector('#mirror-generation').textContent = `generation ${view.generation}`
    const s = view.settings
    section.querySelector('#mirror-settings').textContent = `${s.methods.join(', ')} · compare ${s.mode} · ${s.concurrency} at a time · timeout ${duration(s.timeout)}`
    if (!editing) input.value = String(view.percent)
  }

  const load = async () => {
    if (missing) return
    try {
      const [view, report] = await Promise.all([call('GET', '/v1/mirror'), call('GET', '/v1/mirror/report')])
      showMirror(view)
      renderReport(report)
    } catch (err) {
      if (err.status === 404 && !err.code) {
        // A switchyard from before mirroring: say so once, and stop asking.
        missing = true
        section.querySelector('#mirror-apply').disabled = true
        renderReport(null)
        return
      }
      if (err.status !== 401) console.warn('the mirror could not be read', err)
    }
  }
  // Never two reads at once: a read asked for meanwhile runs once after the one in progress.
  const refresh = coalesced(load)

  input.addEventListener('input', () => {
    editing = true
  })
  // As with the split's slider: whatever the answer, an attempt ends the editing, and the
  // input shows the share in force again (the message keeps what was typed and why it failed).
  section.querySelector('#mirror-form').addEventListener('submit', async (event) => {
    event.preventDefault()
    const typed = input.value
    const value = parsePercent(typed)
    editing = false
    try {
      if (value === null) return say(`"${typed.trim()}" is not a number: give the share of blue's requests to mirror, 0 to 100.`, 'bad')
      const view = await call('PUT', '/v1/mirror', { percent: value, reason })
      showMirror(view)
      say(view.percent > 0 ? `Mirroring ${percent(view.percent)} of blue's requests to green.` : 'Mirroring stopped.', 'ok')
    } catch (err) {
      say(`Refused (${err.status}${err.code ? ` ${err.code}` : ''}): ${err.message}`, 'bad')
    } finally {
      void refresh()
    }
  })

  // Read again REFRESH_MS after each read ends (a slow answer never piles reads up), until
  // stopped; a stop and a start in between end the old loop, as its round is gone.
  const tick = async (round) => {
    if (round !== polling) return
    await refresh()
    setTimeout(() => void tick(round), REFRESH_MS)
  }

  return {
    start() {
      if (polling !== 0) return
      polling = ++rounds
      void tick(polling)
    },
    stop() {
      polling = 0
    },
    onEvent(type) {
      if (MIRROR_EVENTS.has(type)) void refresh()
    },
  }
}
