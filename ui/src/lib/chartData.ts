/** Chart data for runs: metric records appended into columns as they arrive (each poll
 * parses only the new records), and a min/max-per-bucket downsampling that keeps every
 * spike visible while giving the chart at most four points per pixel column. Downsampling
 * happens here in the browser: the API serves every logged step. */
import type { MetricRecord } from '../api/types'

/** A growable column of numbers (NaN = no value). */
export class Column {
  private buf: Float64Array
  length = 0

  constructor(capacity = 1024) {
    this.buf = new Float64Array(capacity)
  }

  push(value: number): void {
    if (this.length === this.buf.length) {
      const next = new Float64Array(this.buf.length * 2)
      next.set(this.buf)
      this.buf = next
    }
    this.buf[this.length] = value
    this.length += 1
  }

  /** The last value, or NaN when empty. */
  last(): number {
    return this.length > 0 ? (this.buf[this.length - 1] as number) : Number.NaN
  }

  /** Keep only the first `length` values. */
  truncate(length: number): void {
    this.length = Math.max(0, Math.min(this.length, length))
  }

  /** The filled part (a view, not a copy). */
  values(): Float64Array {
    return this.buf.subarray(0, this.length)
  }

  clear(): void {
    this.length = 0
  }
}

function n(value: number | null | undefined): number {
  return value === null || value === undefined || !Number.isFinite(value) ? Number.NaN : value
}

/** When a record was written, in Unix seconds; NaN for records older than the API's
 * `time` field. */
export function recordTime(record: MetricRecord): number {
  return n(record.time)
}

/** A run's metrics as columns: logged training steps and evaluations. */
export class RunSeries {
  /** Records read so far: the `after` that asks the API for newer ones only. */
  consumed = 0
  private lastStep = Number.NaN
  readonly step = new Column()
  readonly loss = new Column()
  readonly lr = new Column()
  readonly tokensPerS = new Column()
  readonly time = new Column()
  readonly tokens = new Column()
  readonly evalStep = new Column()
  readonly valLoss = new Column()
  readonly evalTime = new Column()
  readonly evalTokens = new Column()
  /** Bumped on every change, so views can tell when to rebuild. */
  version = 0

  /** Take in the full list of records; only those past `consumed` are read. If the list
   * no longer starts with what was read (the file was rewritten), start over. Returns the
   * number of records added. */
  sync(records: readonly MetricRecord[]): number {
    const seen = records[this.consumed - 1]
    if (records.length < this.consumed || (this.consumed > 0 && seen?.step !== this.lastStep)) {
      this.reset()
    }
    const before = this.consumed
    for (let i = this.consumed; i < records.length; i += 1) {
      const r = records[i]
      if (r !== undefined) this.take(r)
    }
    this.consumed = records.length
    if (this.consumed !== before) this.version += 1
    return this.consumed - before
  }

  /** Take in an incremental answer (`GET /runs/{id}/metrics?after=`): the records past
   * the first `after`, of `nextAfter` the API holds in all. False (and nothing read) when
   * it does not continue what was read — the API holds fewer records than that, as after
   * a resumed run dropped some: read everything again from 0. */
  append(records: readonly MetricRecord[], after: number, nextAfter: number): boolean {
    if (after !== this.consumed || nextAfter < after) {
      this.reset()
      return false
    }
    for (const r of records) this.take(r)
    this.consumed = nextAfter
    if (records.length > 0) this.version += 1
    return true
  }

  private take(r: MetricRecord): void {
    if (r.kind === 'eval') {
      this.rewind(this.evalStep, [this.valLoss, this.evalTime, this.evalTokens], r.step)
      this.evalStep.push(r.step)
      this.valLoss.push(n(r.val_loss))
      this.evalTime.push(recordTime(r))
      this.evalTokens.push(n(r.tokens_seen))
    } else {
      this.rewind(this.step, [this.loss, this.lr, this.tokensPerS, this.time, this.tokens], r.step)
      this.step.push(r.step)
      this.loss.push(n(r.loss))
      this.lr.push(n(r.lr))
      this.tokensPerS.push(n(r.tokens_per_s))
      this.time.push(recordTime(r))
      this.tokens.push(n(r.tokens_seen))
    }
    this.lastStep = r.step
  }

  /** A run resumed from a checkpoint logs again the steps after it (metrics.jsonl is
   * appended to): drop the earlier attempt's points from `step` on, so x stays ascending
   * and the chart shows the attempt that counts. */
  private rewind(steps: Column, values: Column[], step: number): void {
    if (!(steps.last() >= step)) return
    let keep = steps.length
    const xs = steps.values()
    while (keep > 0 && (xs[keep - 1] as number) >= step) keep -= 1
    steps.truncate(keep)
    for (const c of values) c.truncate(keep)
  }

  reset(): void {
    const columns = [this.step, this.loss, this.lr, this.tokensPerS, this.time, this.tokens]
    for (const c of [...columns, this.evalStep, this.valLoss, this.evalTime, this.evalTokens]) {
      c.clear()
    }
    this.consumed = 0
    this.lastStep = Number.NaN
    this.version += 1
  }
}

export interface Downsampled {
  x: number[]
  y: (number | null)[]
}

/** At most four points per bucket of equal x width — each bucket's first, last, lowest and
 * highest — in x order. `x` must be ascending. Series shorter than `4 * buckets` come back
 * whole. Gaps (NaN) become null. */
export function downsampleMinMax(
  x: ArrayLike<number>,
  y: ArrayLike<number>,
  buckets: number,
): Downsampled {
  const len = Math.min(x.length, y.length)
  const toY = (v: number): number | null => (Number.isNaN(v) ? null : v)
  if (len <= 4 * buckets || buckets < 1 || len < 2) {
    const outX = new Array<number>(len)
    const outY = new Array<number | null>(len)
    for (let i = 0; i < len; i += 1) {
      outX[i] = x[i] as number
      outY[i] = toY(y[i] as number)
    }
    return { x: outX, y: outY }
  }
  const x0 = x[0] as number
  const span = (x[len - 1] as number) - x0
  const scale = span > 0 ? buckets / span : 0
  const outX: number[] = []
  const outY: (number | null)[] = []
  let bucket = -1
  let first = 0
  let last = 0
  let lo = -1
  let hi = -1
  const flush = (): void => {
    // the bucket's points in index order, each once
    const picks = [first, lo, hi, last].filter((i) => i >= 0).sort((a, b) => a - b)
    let prev = -1
    for (const i of picks) {
      if (i === prev) continue
      prev = i
      outX.push(x[i] as number)
      outY.push(toY(y[i] as number))
    }
  }
  for (let i = 0; i < len; i += 1) {
    const b = Math.min(buckets - 1, Math.floor(((x[i] as number) - x0) * scale))
    if (b !== bucket) {
      if (bucket >= 0) flush()
      bucket = b
      first = i
      lo = -1
      hi = -1
    }
    last = i
    const v = y[i] as number
    if (!Number.isNaN(v)) {
      if (lo < 0 || v < (y[lo] as number)) lo = i
      if (hi < 0 || v > (y[hi] as number)) hi = i
    }
  }
  flush()
  return { x: outX, y: outY }
}

/** Two series on their own x values, merged onto one ascending x (uPlot's aligned data):
 * where one series has no point the other has, it gets null. */
export function mergeAligned(a: Downsampled, b: Downsampled): [number[], (number | null)[], (number | null)[]] {
  const x: number[] = []
  const ya: (number | null)[] = []
  const yb: (number | null)[] = []
  let i = 0
  let j = 0
  while (i < a.x.length || j < b.x.length) {
    const xa = i < a.x.length ? (a.x[i] as number) : Number.POSITIVE_INFINITY
    const xb = j < b.x.length ? (b.x[j] as number) : Number.POSITIVE_INFINITY
    if (xa === xb) {
      x.push(xa)
      ya.push(a.y[i] ?? null)
      yb.push(b.y[j] ?? null)
      i += 1
      j += 1
    } else if (xa < xb) {
      x.push(xa)
      ya.push(a.y[i] ?? null)
      yb.push(null)
      i += 1
    } else {
      x.push(xb)
      ya.push(null)
      yb.push(b.y[j] ?? null)
      j += 1
    }
  }
  return [x, ya, yb]
}

export type XAxis = 'step' | 'time' | 'tokens'

export const X_LABELS: Record<XAxis, string> = {
  step: 'step',
  time: 'minutes since start',
  tokens: 'tokens seen',
}

/** How a chart is drawn: the weight of the exponential moving average (0 = raw; the raw
 * line is then drawn faint behind the smoothed one), log scale for loss, and the x axis. */
export interface ChartSettings {
  smoothing: number
  logScale: boolean
  x: XAxis
}

export const DEFAULT_CHART_SETTINGS: ChartSettings = { smoothing: 0, logScale: false, x: 'step' }
const SETTINGS_KEY = 'model-trainer.charts'

/** The chart settings last chosen in this browser (defaults for anything missing or odd). */
export function loadChartSettings(storage: Pick<Storage, 'getItem'> | undefined = globalThis.localStorage): ChartSettings {
  let saved: unknown
  try {
    saved = JSON.parse(storage?.getItem(SETTINGS_KEY) ?? 'null')
  } catch {
    saved = null
  }
  if (typeof saved !== 'object' || saved === null) return { ...DEFAULT_CHART_SETTINGS }
  const v = saved as Record<string, unknown>
  const smoothing = typeof v['smoothing'] === 'number' ? Math.min(0.99, Math.max(0, v['smoothing'])) : 0
  const x = v['x'] === 'time' || v['x'] === 'tokens' ? v['x'] : 'step'
  return { smoothing, logScale: v['logScale'] === true, x }
}

export function saveChartSettings(settings: ChartSettings, storage: Pick<Storage, 'setItem'> | undefined = globalThis.localStorage): void {
  try {
    storage?.setItem(SETTINGS_KEY, JSON.stringify(settings))
  } catch {
    // storage full or refused (private mode): the choice lasts for this page only
  }
}

/** TensorBoard's smoothing: an exponential moving average with weight `w` (0..0.99),
 * debiased so the first points are not pulled towards 0; gaps (NaN) stay gaps and do not
 * reset the average. */
export function smoothEma(values: ArrayLike<number>, w: number): Float64Array {
  const out = new Float64Array(values.length)
  let last = 0
  let seen = 0
  for (let i = 0; i < values.length; i += 1) {
    const v = values[i] as number
    if (!Number.isFinite(v)) {
      out[i] = Number.NaN
      continue
    }
    last = last * w + (1 - w) * v
    seen += 1
    const debias = w > 0 ? 1 - w ** seen : 1
    out[i] = last / debias
  }
  return out
}

/** The first time a run recorded anything (Unix s), NaN when none. */
export function startTime(s: RunSeries): number {
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

/** Tokens seen at each evaluation: from the record, else from the training records'
 * tokens per step (evaluation records of older APIs carry none). */
function evalTokens(s: RunSeries): Float64Array {
  const own = s.evalTokens.values()
  const steps = s.evalStep.values()
  let perStep = Number.NaN
  const trainSteps = s.step.values()
  const trainTokens = s.tokens.values()
  for (let i = trainTokens.length - 1; i >= 0; i -= 1) {
    const t = trainTokens[i] as number
    const st = trainSteps[i] as number
    if (Number.isFinite(t) && st > 0) {
      perStep = t / st
      break
    }
  }
  return Float64Array.from(steps, (st, i) => {
    const t = own[i] as number
    return Number.isFinite(t) ? t : st * perStep
  })
}

/** The x of every training (or evaluation) record of a run on the chosen axis; NaN where
 * the record cannot say (no time, no token count). */
export function xValues(s: RunSeries, kind: 'train' | 'eval', axis: XAxis): Float64Array {
  if (axis === 'step') return kind === 'train' ? s.step.values() : s.evalStep.values()
  if (axis === 'tokens') return kind === 'train' ? s.tokens.values() : evalTokens(s)
  const t0 = startTime(s)
  const times = kind === 'train' ? s.time.values() : s.evalTime.values()
  return Float64Array.from(times, (t) => (t - t0) / 60)
}

/** Whether the axis can be drawn: some record has a value for it. */
export function axisAvailable(runs: readonly RunSeries[], axis: XAxis): boolean {
  if (axis === 'step') return true
  return runs.some((s) => xValues(s, 'train', axis).some(Number.isFinite) || xValues(s, 'eval', axis).some(Number.isFinite))
}

/** y against x for the points whose x is known, downsampled for `buckets` pixels. */
export function plotted(xs: ArrayLike<number>, ys: ArrayLike<number>, buckets: number): Downsampled {
  const len = Math.min(xs.length, ys.length)
  let all = true
  for (let i = 0; i < len && all; i += 1) all = Number.isFinite(xs[i] as number)
  if (all) return downsampleMinMax(xs, ys, buckets)
  const outX: number[] = []
  const outY: number[] = []
  for (let i = 0; i < len; i += 1) {
    if (Number.isFinite(xs[i] as number)) {
      outX.push(xs[i] as number)
      outY.push(ys[i] as number)
    }
  }
  return downsampleMinMax(outX, outY, buckets)
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

/** uPlot's aligned data: x, then one column per series. */
export type Aligned = [number[], ...(number | null)[][]]

export interface DrawOptions {
  x?: XAxis
  /** EMA weight; above 0 the smoothed line is added after the raw one. */
  smoothing?: number
}

/** Train loss (raw, then smoothed when smoothing is on) and validation loss, for a chart
 * `buckets` pixels wide. */
export function lossData(series: RunSeries, buckets: number, opts: DrawOptions = {}): Aligned {
  const axis = opts.x ?? 'step'
  const w = opts.smoothing ?? 0
  const tx = xValues(series, 'train', axis)
  const train = plotted(tx, series.loss.values(), buckets)
  const val = plotted(xValues(series, 'eval', axis), series.valLoss.values(), buckets)
  if (w <= 0) {
    if (axis === 'step') return mergeAligned(train, val)
    return mergeMany([train, val])
  }
  return mergeMany([train, plotted(tx, smoothEma(series.loss.values(), w), buckets), val])
}

/** Learning rate and tokens/s (raw, then smoothed when smoothing is on). */
export function rateData(series: RunSeries, buckets: number, opts: DrawOptions = {}): Aligned {
  const axis = opts.x ?? 'step'
  const w = opts.smoothing ?? 0
  const tx = xValues(series, 'train', axis)
  const lr = plotted(tx, series.lr.values(), buckets)
  const tps = plotted(tx, series.tokensPerS.values(), buckets)
  if (w <= 0) return axis === 'step' ? mergeAligned(lr, tps) : mergeMany([lr, tps])
  return mergeMany([lr, tps, plotted(tx, smoothEma(series.tokensPerS.values(), w), buckets)])
}

/** The lowest val loss among the evaluations read so far, and its step. */
export function bestEval(series: RunSeries): { loss: number; step: number } | null {
  const losses = series.valLoss.values()
  const steps = series.evalStep.values()
  let best: { loss: number; step: number } | null = null
  for (let i = 0; i < losses.length; i += 1) {
    const v = losses[i] as number
    if (Number.isFinite(v) && (best === null || v < best.loss)) best = { loss: v, step: steps[i] as number }
  }
  return best
}

/** A run's best val loss and its step: the API's (`metrics.best_val_loss`, `best_step`,
 * kept during training) when it has one, else the lowest the chart has read. The two come
 * from the same place, never one from each. */
export function bestValLoss(
  metrics: { best_val_loss?: number | null; best_step?: number | null },
  fromChart: { loss: number; step: number } | null,
): { loss: number; step: number | null } | null {
  if (typeof metrics.best_val_loss === 'number') return { loss: metrics.best_val_loss, step: metrics.best_step ?? null }
  return fromChart
}

/** Aligned chart data as CSV: a header of the x label and series labels, then one row per
 * x (empty cells where a series has no point). */
export function toCsv(labels: readonly string[], data: readonly (ArrayLike<number | null | undefined> | undefined)[]): string {
  const quote = (s: string): string => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s)
  const rows = [labels.map(quote).join(',')]
  const len = data[0]?.length ?? 0
  for (let i = 0; i < len; i += 1) {
    rows.push(data.map((col) => {
      const v = col?.[i]
      return v === null || v === undefined || Number.isNaN(v) ? '' : String(v)
    }).join(','))
  }
  return `${rows.join('\n')}\n`
}

/** How often to fetch a run's metrics: each poll asks only for the records past those
 * read (`?after=`), so its answer is small; the API still reads the run's metrics file to
 * find them, so a very long run is polled less often (2 s up to 50,000 records, 5 s
 * beyond), and an ended one not at all. */
export function metricsInterval(records: number, ended: boolean): number | undefined {
  if (ended) return undefined
  return records <= 50_000 ? 2_000 : 5_000
}
