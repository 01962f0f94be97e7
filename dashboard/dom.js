// Small DOM helpers and formats shared by the views.

/** An element: `props` may hold class, text, title, hidden and data (dataset entries). */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag)
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue
    if (key === 'class') node.className = value
    else if (key === 'text') node.textContent = String(value)
    else if (key === 'data') for (const [k, v] of Object.entries(value)) node.dataset[k] = String(v)
    else if (key === 'hidden') node.hidden = Boolean(value)
    else node.setAttribute(key, String(value))
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue
    node.append(child instanceof Node ? child : document.createTextNode(String(child)))
  }
  return node
}

export function byId(id) {
  const node = document.getElementById(id)
  if (node === null) throw new Error(`#${id} is missing from index.html`)
  return node
}

/**
 * A status as text and colour together (never colour alone): `kind` is ok, bad, warn or info,
 * and the text says the same in words, with a symbol for a quick look.
 */
export function badge(kind, text) {
  const mark = { ok: '✓', bad: '✗', warn: '!', info: '•' }[kind] ?? '•'
  return el('span', { class: `badge ${kind}`, data: { kind } }, `${mark} ${text}`)
}

export function percent(value, digits = 2) {
  if (typeof value !== 'number') return '–'
  return `${Number(value.toFixed(digits))} %`
}

export function time(iso) {
  const date = new Date(iso)
  return Number.isNaN(date.getTime()) ? '' : date.toLocaleTimeString([], { hour12: false })
}

export function duration(ms) {
  if (typeof ms !== 'number' || ms < 0) return '–'
  if (ms < 1000) return `${Math.round(ms)} ms`
  const s = Math.round(ms / 1000)
  if (s < 60) return `${s} s`
  const m = Math.floor(s / 60)
  return s % 60 === 0 ? `${m} min` : `${m} min ${s % 60} s`
}

export function millis(value) {
  if (typeof value !== 'number') return '–'
  return value >= 10 ? `${Math.round(value)} ms` : `${Number(value.toFixed(1))} ms`
}
