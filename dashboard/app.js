// The switchyard dashboard: reads the admin API once, then follows the event stream
// (GET /v1/events/stream?stats=1) and re-reads a resource only when a frame says it changed.
// With several services it shows one at a time (services.js), and starts over on a switch.

import { wireActions } from './actions.js'
import { call, coalesced, follow, onUnauthorized, setToken, token } from './api.js'
import { LineChart } from './chart.js'
import { byId, millis } from './dom.js'
import { mirrorPanel } from './mirror.js'
import { listServices, servicePicker } from './services.js'
import { renderConnections, renderFleet, renderRollout, renderSplit, renderUpstreams, timelineRow } from './views.js'

/** Seconds of traffic the charts show. */
const SPAN = 300
/** Timeline rows kept on the page. */
const MAX_EVENTS = 200
/** Event types that move the split, and those that change the rollout. */
const SPLIT_EVENTS = new Set(['split', 'promote', 'rollback', 'revert', 'step', 'abort'])
const ROLLOUT_EVENTS = new Set(['step', 'pause', 'resume', 'abort', 'succeeded', 'skip-analysis', 'promote', 'revert', 'degradation'])

const state = {
  split: null,
  rollout: null,
  /** The last verdict seen at each step of the rollout shown: step number -> verdict. */
  verdicts: new Map(),
  rolloutDigest: '',
  upstreams: null,
  stats: [],
  /** Ids of the audit events on the timeline. */
  shown: new Set(),
  stopStream: null,
  /** The action waiting for its confirmation. */
  pending: null,
  /** The slider was moved: it keeps its place until the change is confirmed or cancelled. */
  editing: false,
}

const number = (v) => (v >= 10 ? String(Math.round(v)) : String(Number(v.toFixed(1))))
const charts = {
  rps: new LineChart(byId('chart-rps'), {
    title: 'Requests per second',
    series: [{ key: 'blue', label: 'blue', className: 'blue' }, { key: 'green', label: 'green', className: 'green' }],
    format: number,
  }),
  errors: new LineChart(byId('chart-errors'), {
    title: 'Error rate (5xx and failures)',
    series: [{ key: 'blue', label: 'blue', className: 'blue' }, { key: 'green', label: 'green', className: 'green' }],
    format: (v) => `${number(v)} %`,
  }),
  latency: new LineChart(byId('chart-latency'), {
    title: 'Latency',
    series: [
      { key: 'blueP50', label: 'blue p50', className: 'blue' },
      { key: 'blueP99', label: 'p99', className: 'blue-p99' },
      { key: 'greenP50', label: 'green p50', className: 'green' },
      { key: 'greenP99', label: 'p99', className: 'green-p99' },
    ],
    format: millis,
  }),
}
const mirror = mirrorPanel(byId('fleet'))

const loadSplit = coalesced(async () => showSplit(await call('GET', '/v1/split')))
const loadRollout = coalesced(async () => {
  try {
    showRollout(await call('GET', '/v1/rollout'))
  } catch (err) {
    if (err.status !== 404) throw err
    showRollout(null)
  }
})
const loadUpstreams = coalesced(async () => {
  state.upstreams = await call('GET', '/v1/upstreams')
  renderUpstreams(state.upstreams)
  const last = state.stats.at(-1)
  if (last) renderConnections(last.connections, last.draining)
})
/** Everything at once, from GET /v1/status: at the start and after the stream was away. */
const loadStatus = coalesced(async () => {
  const status = await call('GET', '/v1/status')
  showSplit(status.split)
  showRollout(status.rollout)
  state.upstreams = { blue: { targets: status.upstreams.blue }, green: { targets: status.upstreams.green } }
  renderUpstreams(state.upstreams)
  renderConnections(status.connections, null)
  const s = status.state
  renderFleet(s.store === 'redis' ? { replica: s.replica, leader: s.leader, members: s.members } : null)
})

function showSplit(split) {
  state.split = split
  renderSplit(split)
  const slider = byId('slider')
  if (!state.editing) {
    slider.value = String(Math.round(split.green))
    byId('slider-value').value = String(split.green)
    byId('apply-split').disabled = true
  }
}

function showRollout(rollout) {
  if (rollout !== null) {
    if (state.rollout?.id !== rollout.id) state.verdicts = new Map()
    rollout.readAt = Date.now()
    if (rollout.analysis.last) state.verdicts.set(rollout.step, rollout.analysis.last)
  }
  state.rollout = rollout
  const active = rollout !== null && (rollout.phase === 'progressing' || rollout.phase === 'paused')
  byId('abort').disabled = !active
  byId('rollout-controls').hidden = !active
  byId('rollout-pause').hidden = rollout?.phase !== 'progressing'
  byId('rollout-resume').hidden = rollout?.phase !== 'paused'
  renderRollout(rollout, state.verdicts)
}

function showEvent(e, { newest }) {
  if (e.id !== undefined) {
    if (state.shown.has(e.id)) return
    state.shown.add(e.id)
  }
  const list = byId('timeline')
  const row = timelineRow(e)
  if (newest) list.prepend(row)
  else list.append(row)
  while (list.childElementCount > MAX_EVENTS) list.lastElementChild.remove()
}

function onStats(frame) {
  const points = state.stats
  if (points.at(-1)?.t === frame.second) points.pop()
  points.push({
    t: frame.second,
    connections: frame.connections,
    draining: frame.draining,
    rps: { blue: frame.blue.requests / frame.seconds, green: frame.green.requests / frame.seconds },
    errors: { blue: frame.blue.requests > 0 ? frame.blue.errorRate * 100 : null, green: frame.green.requests > 0 ? frame.green.errorRate * 100 : null },
    latency: { blueP50: frame.blue.p50Ms, blueP99: frame.blue.p99Ms, greenP50: frame.green.p50Ms, greenP99: frame.green.p99Ms },
  })
  while (points.length > 0 && points[0].t <= frame.second - SPAN) points.shift()
  for (const key of ['rps', 'errors', 'latency']) charts[key].update(points.map((p) => ({ t: p.t, v: p[key] })))
  renderConnections(frame.connections, frame.draining)
  renderFleet(frame.fleet)
  // A new verdict or step shows in the digest: re-read the rollout then, not every second.
  const digest = JSON.stringify(frame.rollout)
  if (digest !== state.rolloutDigest) {
    state.rolloutDigest = digest
    void loadRollout()
  } else if (state.rollout?.phase === 'progressing') renderRollout(state.rollout, state.verdicts)
}

function onFrame(frame) {
  const data = JSON.parse(frame.data)
  if (frame.event === 'stats') return onStats(data)
  showEvent(data, { newest: true })
  mirror.onEvent(frame.event)
  if (frame.event === 'health' || frame.event === 'targets') return void loadUpstreams()
  if (SPLIT_EVENTS.has(frame.event) || !ROLLOUT_EVENTS.has(frame.event)) void loadSplit()
  if (ROLLOUT_EVENTS.has(frame.event)) void loadRollout()
}

function setConnection(kind) {
  const badge = byId('conn')
  badge.dataset.state = kind
  const text = { live: '✓ live', reconnecting: '! reconnecting', stopped: '✗ offline' }[kind] ?? kind
  badge.className = `badge ${kind === 'live' ? 'ok' : kind === 'reconnecting' ? 'warn' : 'bad'}`
  badge.textContent = text
}

function connect() {
  let opened = 0
  state.stopStream = follow('/v1/events/stream?stats=1', {
    onFrame,
    onState: setConnection,
    // The first time, read everything; after a gap, the missed audit events are replayed, but
    // health frames and the stats are not: read the state again.
    onOpen: () => {
      if (opened++ === 0) void loadEvents()
      void loadStatus()
    },
  })
}

const loadEvents = coalesced(async () => {
  const events = await call('GET', '/v1/events?limit=100')
  for (const e of events) showEvent(e, { newest: false })
})

/** Another service was chosen: forget what the page showed of the last one, then read and follow the new one. */
function switchService() {
  if (byId('main').hidden) return // logged out: the next login reads the service chosen
  state.stopStream?.()
  Object.assign(state, { split: null, rollout: null, verdicts: new Map(), rolloutDigest: '', upstreams: null, stats: [], shown: new Set(), pending: null, editing: false })
  byId('confirm').hidden = true
  byId('message').textContent = ''
  byId('timeline').replaceChildren()
  for (const chart of Object.values(charts)) chart.update([])
  connect()
  mirror.stop()
  mirror.start()
}
const picker = servicePicker({ onChange: switchService })

// Logging in and out.

function showLogin(error) {
  state.stopStream?.()
  state.stopStream = null
  mirror.stop()
  byId('main').hidden = true
  byId('logout').hidden = true
  byId('login').hidden = false
  byId('login-error').textContent = error
  byId('token').focus()
}

async function enter() {
  let services
  try {
    // The list of services checks the token too; a switchyard from before services has none.
    services = await listServices({ quiet401: true })
    if (services === null) await call('GET', '/v1/split', undefined, { quiet401: true })
  } catch (err) {
    if (err.status === 401) {
      const refused = token() !== null
      setToken(null)
      return showLogin(refused ? 'That token was refused.' : '')
    }
    return showLogin(err.status === 429 ? `Too many failed attempts from this address: ${err.message}` : `The admin API did not answer: ${err.message}`)
  }
  byId('login').hidden = true
  byId('main').hidden = false
  byId('logout').hidden = token() === null
  picker.show(services)
  connect()
  mirror.start()
}

onUnauthorized(() => {
  setToken(null)
  showLogin('The admin API refused the token; log in again.')
})

byId('login-form').addEventListener('submit', (event) => {
  event.preventDefault()
  const input = byId('token')
  setToken(input.value.trim())
  input.value = ''
  void enter()
})
byId('logout').addEventListener('click', () => {
  setToken(null)
  showLogin('')
})

wireActions({ state, showSplit, loadSplit, loadRollout })
void enter()
