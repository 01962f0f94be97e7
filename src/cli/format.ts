import type { SplitView } from './api-types.js'
import type { Style } from './style.js'

/** `25 %`, `12.5 %`: a share as the API gives it (0.01 resolution). */
export function pct(value: number): string {
  return `${Number(value.toFixed(2))} %`
}

/** `blue 75 % · green 25 % (generation 8)`, with a revert's note when green was sent back by itself. */
export function splitLine(split: SplitView, style: Style): string {
  const line = `${style.blue(`blue ${pct(split.blue)}`)} · ${style.green(`green ${pct(split.green)}`)} (generation ${split.generation})`
  return split.reverted === null ? line : `${line} ${style.red('reverted')}`
}

/** `200ms`, `45s`, `2m`, `1m04s`, `1h02m`, `2d3h`: short, and exact to the second under an hour. */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`
  const s = Math.round(ms / 1000)
  if (s < 60) return `${s}s`
  const m = Math.floor(s / 60)
  if (m < 60) return s % 60 === 0 ? `${m}m` : `${m}m${String(s % 60).padStart(2, '0')}s`
  const h = Math.floor(m / 60)
  if (h < 24) return m % 60 === 0 ? `${h}h` : `${h}h${String(m % 60).padStart(2, '0')}m`
  const d = Math.floor(h / 24)
  return h % 24 === 0 ? `${d}d` : `${d}d${h % 24}h`
}

const two = (n: number) => String(n).padStart(2, '0')

/** An ISO time in local time: `2025-06-01 10:02:00`. */
export function localTime(iso: string): string {
  const d = new Date(iso)
  if (Number.isNaN(d.getTime())) return iso
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`
}

/** `10:02:00`, local. */
export function clock(at: number): string {
  const d = new Date(at)
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`
}

const isSplit = (v: unknown): v is { blue?: number; green: number } => typeof v === 'object' && v !== null && typeof (v as { green?: unknown }).green === 'number'

function describe(value: unknown): string {
  if (value === null || value === undefined) return ''
  if (isSplit(value)) return `green ${pct(value.green)}`
  if (Array.isArray(value)) return value.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join(',')
  if (typeof value === 'object') return JSON.stringify(value)
  return typeof value === 'string' ? value : JSON.stringify(value)
}

/** A mirror share: `{percent}` in a mirror event, `mirror` beside the split in a rollout's mirror step; undefined when none. */
function mirrorOf(v: unknown): number | undefined {
  if (typeof v !== 'object' || v === null) return undefined
  const { mirror, percent } = v as { mirror?: unknown; percent?: unknown }
  return typeof mirror === 'number' ? mirror : typeof percent === 'number' ? percent : undefined
}

const isTargets = (v: unknown): v is { color?: string; targets: unknown[] } => typeof v === 'object' && v !== null && Array.isArray((v as { targets?: unknown }).targets)

/** What an event changed, in a few words: `green 10 % → 25 %`, `green http://a → http://b`, `progressing → paused`. */
export function changeOf(from: unknown, to: unknown): string {
  if (isSplit(from) && isSplit(to)) {
    const green = from.green === to.green ? `green ${pct(to.green)}` : `green ${pct(from.green)} → ${pct(to.green)}`
    const [a, b] = [mirrorOf(from), mirrorOf(to)]
    return a !== undefined && b !== undefined && a !== b ? `${green}, mirror ${pct(a)} → ${pct(b)}` : green
  }
  const [a, b] = [mirrorOf(from), mirrorOf(to)]
  if (a !== undefined && b !== undefined) return `mirror ${pct(a)} → ${pct(b)}`
  if (isTargets(to)) {
    const list = (v: { targets: unknown[] }) => v.targets.map((t) => describe(t)).join(',')
    const color = to.color === undefined ? '' : `${to.color} `
    return isTargets(from) && list(from) !== list(to) ? `${color}${list(from)} → ${list(to)}` : `${color}${list(to)}`
  }
  const before = describe(from)
  const after = describe(to)
  if (before === '') return after
  if (after === '') return before
  return `${before} → ${after}`
}

/** `text` cut to `width` characters with an ellipsis; uncut when `width` is undefined. */
export function cut(text: string, width: number | undefined): string {
  if (width === undefined || text.length <= width) return text
  return width <= 1 ? text.slice(0, width) : `${text.slice(0, width - 1)}…`
}

/** Rows as aligned columns (the last column is not padded); plain text, no colours. */
export function table(header: readonly string[], rows: readonly (readonly string[])[], width?: number): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: readonly string[]) =>
    cut(
      cells
        .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd(),
      width,
    )
  return [line(header), ...rows.map(line)]
}
