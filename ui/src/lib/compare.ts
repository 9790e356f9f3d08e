/** Comparing runs: which runs the URL names, configs flattened to dotted keys and lined up
 * with their differences marked, and loss curves of several runs on one chart. */
import type { Json } from '../api/types'
import { axisAvailable, mergeMany, plotted, smoothEma, xValues, type Downsampled, type RunSeries, type XAxis } from './chartData'

/** At most this many runs on one page (a guard against a URL naming hundreds; colours
 * repeat no earlier than this). */
export const MAX_COMPARED = 20

/** `runs=a,b,c` -> ['a', 'b', 'c'] (trimmed, each once, at most MAX_COMPARED). */
export function parseRunIds(value: string | null): string[] {
  const ids = (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
  return [...new Set(ids)].slice(0, MAX_COMPARED)
}

/** `{model: {family: 'gpt2', options: {}}}` -> `{'model.family': 'gpt2', 'model.options': {}}`:
 * objects open up into dotted keys; arrays and empty objects stay whole values. */
export function flatten(value: Json, prefix = ''): Record<string, Json> {
  const out: Record<string, Json> = {}
  const isObject = typeof value === 'object' && value !== null && !Array.isArray(value)
  if (!isObject || Object.keys(value).length === 0) {
    out[prefix] = value
    return out
  }
  for (const [key, child] of Object.entries(value)) {
    Object.assign(out, flatten(child, prefix ? `${prefix}.${key}` : key))
  }
  return out
}

export interface DiffRow {
  key: string
  /** One value per compared object; undefined where it has no such key. */
  values: (Json | undefined)[]
  /** The values are not all the same. */
  differs: boolean
}

/** One row per dotted key of any of `objects` (in first-seen order), marking where the
 * values differ. */
export function diffRows(objects: readonly Json[]): DiffRow[] {
  const flat = objects.map((o) => flatten(o))
  const keys: string[] = []
  const seen = new Set<string>()
  for (const f of flat) {
    for (const key of Object.keys(f)) {
      if (!seen.has(key)) {
        seen.add(key)
        keys.push(key)
      }
    }
  }
  return keys.map((key) => {
    const values = flat.map((f) => (key in f ? f[key] : undefined))
    const texts = new Set(values.map((v) => (v === undefined ? '\u0000missing' : JSON.stringify(v))))
    return { key, values, differs: texts.size > 1 }
  })
}

/** A value as a table cell shows it. */
export function showValue(value: Json | undefined): string {
  if (value === undefined) return '—'
  if (typeof value === 'string') return value
  return JSON.stringify(value)
}

export { mergeMany }

export type Metric = 'train' | 'val'
export type { XAxis }

/** Whether any record of any run says when it was written (then wall time can be shown). */
export function hasTimes(runs: readonly RunSeries[]): boolean {
  return axisAvailable(runs, 'time')
}

/** One run's curve: loss against step, minutes since its first record, or tokens seen;
 * smoothed (EMA weight `smoothing`) when asked. */
export function curve(s: RunSeries, metric: Metric, x: XAxis, buckets: number, smoothing = 0): Downsampled {
  const raw = metric === 'train' ? s.loss.values() : s.valLoss.values()
  const ys = smoothing > 0 ? smoothEma(raw, smoothing) : raw
  return plotted(xValues(s, metric === 'train' ? 'train' : 'eval', x), ys, buckets)
}

/** Several runs' loss curves for one chart `buckets` pixels wide. */
export function overlay(runs: readonly RunSeries[], metric: Metric, x: XAxis, buckets: number, smoothing = 0) {
  return mergeMany(runs.map((s) => curve(s, metric, x, buckets, smoothing)))
}

/** Distinct, colour-blind-friendlier line colours (Tableau 10), one per compared run. */
export const RUN_COLOURS = [
  '#4e79a7',
  '#e15759',
  '#59a14f',
  '#f28e2b',
  '#b07aa1',
  '#76b7b2',
  '#edc948',
  '#9c755f',
  '#ff9da7',
  '#bab0ac',
] as const

/** The colour of the `index`-th compared run: Tableau 10 first, then hues spread by the
 * golden angle, so any number of runs get colours apart from each other. */
export function runColour(index: number): string {
  const fixed = RUN_COLOURS[index]
  if (fixed !== undefined) return fixed
  const hue = Math.round((index * 137.508) % 360)
  return `hsl(${hue} 65% ${index % 2 === 0 ? 38 : 50}%)`
}
