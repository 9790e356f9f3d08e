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
  readonly evalStep = new Column()
  readonly valLoss = new Column()
  readonly evalTime = new Column()
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
      this.rewind(this.evalStep, [this.valLoss, this.evalTime], r.step)
      this.evalStep.push(r.step)
      this.valLoss.push(n(r.val_loss))
      this.evalTime.push(recordTime(r))
    } else {
      this.rewind(this.step, [this.loss, this.lr, this.tokensPerS, this.time], r.step)
      this.step.push(r.step)
      this.loss.push(n(r.loss))
      this.lr.push(n(r.lr))
      this.tokensPerS.push(n(r.tokens_per_s))
      this.time.push(recordTime(r))
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
    for (const c of [this.step, this.loss, this.lr, this.tokensPerS, this.time, this.evalStep, this.valLoss, this.evalTime]) {
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

/** Train and validation loss against step, for a chart `buckets` pixels wide. */
export function lossData(series: RunSeries, buckets: number): [number[], (number | null)[], (number | null)[]] {
  const train = downsampleMinMax(series.step.values(), series.loss.values(), buckets)
  const val = downsampleMinMax(series.evalStep.values(), series.valLoss.values(), buckets)
  return mergeAligned(train, val)
}

/** Learning rate and tokens/s against step. */
export function rateData(series: RunSeries, buckets: number): [number[], (number | null)[], (number | null)[]] {
  const lr = downsampleMinMax(series.step.values(), series.lr.values(), buckets)
  const tps = downsampleMinMax(series.step.values(), series.tokensPerS.values(), buckets)
  return mergeAligned(lr, tps)
}

/** How often to fetch a run's metrics: each poll asks only for the records past those
 * read (`?after=`), so its answer is small; the API still reads the run's metrics file to
 * find them, so a very long run is polled less often (2 s up to 50,000 records, 5 s
 * beyond), and an ended one not at all. */
export function metricsInterval(records: number, ended: boolean): number | undefined {
  if (ended) return undefined
  return records <= 50_000 ? 2_000 : 5_000
}
