// A small live line chart drawn as SVG through the DOM (no inline markup, so the page's
// Content-Security-Policy needs no exception): one line per series over the last few minutes,
// a legend with each series' latest value, the scale's top as text.

const NS = 'http://www.w3.org/2000/svg'
const WIDTH = 600
const HEIGHT = 120

function svg(tag, attrs = {}) {
  const node = document.createElementNS(NS, tag)
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v))
  return node
}

function html(tag, className, text) {
  const node = document.createElement(tag)
  if (className) node.className = className
  if (text !== undefined) node.textContent = text
  return node
}

/** The smallest 1, 2, 2.5 or 5 times a power of ten at or above `x`. */
export function niceCeil(x) {
  if (!(x > 0)) return 0
  const power = 10 ** Math.floor(Math.log10(x))
  for (const step of [1, 2, 2.5, 5, 10]) if (step * power >= x - 1e-12) return step * power
  return 10 * power
}

export class LineChart {
  /**
   * `series`: [{key, label, className}] (className picks the colour and dash in app.css);
   * `format(value)` writes a value; `floor` is the lowest top of the scale; `span` in seconds.
   */
  constructor(host, { title, series, format, floor = 1, span = 300 }) {
    this.series = series
    this.format = format
    this.floor = floor
    this.span = span
    host.replaceChildren()
    const head = html('div', 'chart-head')
    head.append(html('h3', '', title))
    this.values = new Map()
    for (const s of series) {
      const item = html('span', `legend ${s.className}`)
      item.dataset.series = s.key
      const value = html('b', 'value', '–')
      item.append(html('i', 'swatch'), html('span', '', s.label), value)
      this.values.set(s.key, value)
      head.append(item)
    }
    const frame = html('div', 'chart-frame')
    this.top = html('span', 'axis axis-top', '')
    this.svg = svg('svg', { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, preserveAspectRatio: 'none', role: 'img', 'aria-label': title })
    for (const f of [0.25, 0.5, 0.75]) this.svg.append(svg('line', { x1: 0, x2: WIDTH, y1: HEIGHT * f, y2: HEIGHT * f, class: 'grid' }))
    this.paths = new Map()
    for (const s of series) {
      const path = svg('path', { class: `line ${s.className}`, d: '' })
      path.dataset.series = s.key
      this.paths.set(s.key, path)
      this.svg.append(path)
    }
    this.empty = html('span', 'chart-empty', 'waiting for traffic numbers…')
    frame.append(this.svg, this.top, this.empty)
    const foot = html('div', 'chart-foot')
    foot.append(html('span', '', `−${Math.round(span / 60)} min`), html('span', '', 'now'))
    host.append(head, frame, foot)
  }

  /** Redraws from `points`: [{t (epoch seconds), v: {key: number | null}}], oldest first. */
  update(points) {
    const latest = points.at(-1)
    this.empty.hidden = points.length > 0
    if (latest === undefined) return
    const from = latest.t - this.span
    let max = 0
    for (const p of points) for (const s of this.series) if (p.t > from && typeof p.v[s.key] === 'number') max = Math.max(max, p.v[s.key])
    const top = Math.max(this.floor, niceCeil(max * 1.1))
    this.top.textContent = this.format(top)
    for (const s of this.series) {
      let d = ''
      let previous = null
      for (const p of points) {
        const value = p.v[s.key]
        if (p.t <= from || typeof value !== 'number') {
          previous = null
          continue
        }
        const x = (((p.t - from) / this.span) * WIDTH).toFixed(1)
        const y = (HEIGHT - (value / top) * (HEIGHT - 4)).toFixed(1)
        // A missing second (the stream was away) breaks the line instead of bridging it.
        d += `${previous === null || p.t - previous > 2 ? 'M' : 'L'}${x} ${y} `
        previous = p.t
      }
      this.paths.get(s.key).setAttribute('d', d.trim())
      const value = latest.v[s.key]
      this.values.get(s.key).textContent = typeof value === 'number' ? this.format(value) : '–'
    }
  }
}
