/** Comparing runs: which runs the URL names, configs flattened to dotted keys and lined up
 * with their differences marked, and loss curves of several runs on one chart. */
import type { Json } from '../api/types'
import { downsampleMinMax, type Downsampled, type RunSeries } from './chartData'

/** At most this many runs on one page (beyond it the charts stop being readable). */
export const MAX_COMPARED = 8

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

/** Several series on their own x values merged onto one ascending x (uPlot's aligned
 * data); a series with no point at some x gets null there. */
export function mergeMany(list: readonly Downsampled[]): [number[], ...(number | null)[][]] {
  const xs = [...new Set(list.flatMap((s) => s.x))].sort((a, b) => a - b)
  const columns = list.map((s) => {
    const column = new Array<number | null>(xs.length).fill(null)
    let j = 0
    for (let i = 0; i < s.x.length; i += 1) {
      const x = s.x[i] as number
      while (j < xs.length && (xs[j] as number) < x) j += 1
      if (j < xs.length) column[j] = s.y[i] ?? null
    }
    return column
  })
  return [xs, ...columns]
}

export type Metric = 'train' | 'val'
export type XAxis = 'step' | 'time'

/** Whether any record of any run says when it was written (then wall time can be shown). */
export function hasTimes(runs: readonly RunSeries[]): boolean {
  return runs.some((s) => s.time.values().some(Number.isFinite) || s.evalTime.values().some(Number.isFinite))
}

/** The first time a run recorded anything (Unix s), NaN when none. */
function startTime(s: RunSeries): number {
  let t0 = Number.NaN
  for (const column of [s.time.values(), s.evalTime.values()]) {
    for (const t of column) {
      if (Number.isFinite(t)) {
        if (!(t >= t0)) t0 = t
        break // ascending: the first finite value is the column's earliest
      }
    }
  }
  return t0
}

/** One run's curve: loss against step, or against minutes since its first record. */
export function curve(s: RunSeries, metric: Metric, x: XAxis, buckets: number): Downsampled {
  const steps = metric === 'train' ? s.step.values() : s.evalStep.values()
  const ys = metric === 'train' ? s.loss.values() : s.valLoss.values()
  if (x === 'step') return downsampleMinMax(steps, ys, buckets)
  const times = metric === 'train' ? s.time.values() : s.evalTime.values()
  const t0 = startTime(s)
  const outX: number[] = []
  const outY: number[] = []
  for (let i = 0; i < times.length; i += 1) {
    const t = times[i] as number
    if (Number.isFinite(t)) {
      outX.push((t - t0) / 60)
      outY.push(ys[i] as number)
    }
  }
  return downsampleMinMax(outX, outY, buckets)
}

/** Several runs' loss curves for one chart `buckets` pixels wide. */
export function overlay(runs: readonly RunSeries[], metric: Metric, x: XAxis, buckets: number) {
  return mergeMany(runs.map((s) => curve(s, metric, x, buckets)))
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
] as const

export function runColour(index: number): string {
  return RUN_COLOURS[index % RUN_COLOURS.length] ?? '#4e79a7'
}
