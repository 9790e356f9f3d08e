import { describe, expect, it } from 'vitest'
import type { MetricRecord } from '../api/types'
import {
  RunSeries,
  bestEval,
  bestValLoss,
  downsampleMinMax,
  loadChartSettings,
  lossData,
  mergeAligned,
  metricsInterval,
  saveChartSettings,
  smoothEma,
  toCsv,
  xValues,
} from './chartData'

function train(step: number, loss: number | null): MetricRecord {
  return { kind: 'train', step, loss, lr: 1e-3, tokens_per_s: 1000 + step, tokens_seen: step * 64 }
}

function evalAt(step: number, val: number): MetricRecord {
  return { kind: 'eval', step, train_loss: val + 0.1, val_loss: val, val_perplexity: Math.exp(val) }
}

describe('downsampleMinMax', () => {
  it('returns short series whole, gaps as null', () => {
    const out = downsampleMinMax([1, 2, 3], [3, Number.NaN, 1], 10)
    expect(out).toEqual({ x: [1, 2, 3], y: [3, null, 1] })
  })

  it('keeps the first, last, lowest and highest point of every bucket', () => {
    const n = 10_000
    const x = Array.from({ length: n }, (_, i) => i)
    const y = x.map((i) => Math.sin(i / 50))
    y[1234] = 99 // a spike
    y[8765] = -99 // a dip
    const out = downsampleMinMax(x, y, 100)
    expect(out.x.length).toBeLessThanOrEqual(400)
    expect(out.x[0]).toBe(0)
    expect(out.y[0]).toBe(y[0])
    expect(out.x[out.x.length - 1]).toBe(n - 1)
    expect(out.y[out.y.length - 1]).toBe(y[n - 1])
    expect(out.x).toContain(1234)
    expect(out.x).toContain(8765)
    expect(Math.max(...(out.y as number[]))).toBe(99)
    expect(Math.min(...(out.y as number[]))).toBe(-99)
    // ascending, no point twice
    for (let i = 1; i < out.x.length; i += 1) expect(out.x[i]).toBeGreaterThan(out.x[i - 1] as number)
    // every bucket's extremes are there
    for (let b = 0; b < 100; b += 1) {
      const ys = y.slice(b * 100, (b + 1) * 100)
      expect(out.y).toContain(Math.max(...ys))
      expect(out.y).toContain(Math.min(...ys))
    }
  })

  it('does not let a gap hide the extremes', () => {
    const x = Array.from({ length: 100 }, (_, i) => i)
    const y = x.map((i) => (i % 10 === 0 ? Number.NaN : i))
    const out = downsampleMinMax(x, y, 5)
    expect(out.y).toContain(99)
    expect(out.y).toContain(1)
  })

  it('draws 100,000 logged steps quickly (measured)', () => {
    const series = new RunSeries()
    const records: MetricRecord[] = []
    for (let i = 1; i <= 100_000; i += 1) {
      records.push(train(i, 5 * Math.exp(-i / 20_000) + 0.05 * Math.sin(i)))
      if (i % 500 === 0) records.push(evalAt(i, 5 * Math.exp(-i / 20_000)))
    }
    const t0 = performance.now()
    series.sync(records)
    const t1 = performance.now()
    const runs = 20
    let data = lossData(series, 1200)
    const t2 = performance.now()
    for (let r = 0; r < runs; r += 1) data = lossData(series, 1200)
    const t3 = performance.now()
    // appending the records of one more poll
    const more: MetricRecord[] = [...records]
    for (let i = 100_001; i <= 100_100; i += 1) more.push(train(i, 1))
    const t4 = performance.now()
    series.sync(more)
    const t5 = performance.now()
    const perView = (t3 - t2) / runs
    console.log(
      `chart data, 100,000 steps + 200 evals: first sync ${(t1 - t0).toFixed(1)} ms; ` +
        `downsample to 1200 px ${perView.toFixed(2)} ms per view (${data[0].length} points drawn, ` +
        `first view ${(t2 - t1).toFixed(1)} ms); append 100 more ${(t5 - t4).toFixed(2)} ms`,
    )
    expect(data[0].length).toBeLessThanOrEqual(4 * 1200 + 200)
    expect(perView).toBeLessThan(50)
    expect(t1 - t0).toBeLessThan(500)
  })
})

describe('mergeAligned', () => {
  it('puts two series on one ascending x, null where one has no point', () => {
    const [x, a, b] = mergeAligned({ x: [1, 2, 4], y: [10, 20, 40] }, { x: [2, 3], y: [0.2, 0.3] })
    expect(x).toEqual([1, 2, 3, 4])
    expect(a).toEqual([10, 20, null, 40])
    expect(b).toEqual([null, 0.2, 0.3, null])
  })
})

describe('RunSeries', () => {
  it('appends only the records past those it has read', () => {
    const s = new RunSeries()
    expect(s.sync([train(10, 4), train(20, 3.5), evalAt(20, 3.6)])).toBe(3)
    expect(s.step.values()).toEqual(new Float64Array([10, 20]))
    expect(s.evalStep.values()).toEqual(new Float64Array([20]))
    const v = s.version
    expect(s.sync([train(10, 4), train(20, 3.5), evalAt(20, 3.6)])).toBe(0)
    expect(s.version).toBe(v) // nothing new: no redraw
    expect(s.sync([train(10, 4), train(20, 3.5), evalAt(20, 3.6), train(30, 3)])).toBe(1)
    expect(s.step.values()).toEqual(new Float64Array([10, 20, 30]))
    expect(s.loss.values()).toEqual(new Float64Array([4, 3.5, 3]))
  })

  it('starts over when the records no longer start with what it read', () => {
    const s = new RunSeries()
    s.sync([train(10, 4), train(20, 3.5), train(30, 3)])
    s.sync([train(10, 4), train(15, 3.8)]) // shorter: rewritten after a restart
    expect(s.step.values()).toEqual(new Float64Array([10, 15]))
    s.sync([train(10, 4), train(16, 3.8), train(20, 3)]) // same length, different last step
    expect(s.step.values()).toEqual(new Float64Array([10, 16, 20]))
  })

  it('after a resume that logs steps again, keeps the later attempt and x ascending', () => {
    const s = new RunSeries()
    s.sync([train(10, 4), train(20, 3.5), evalAt(20, 3.6), train(30, 3.2)])
    // resumed from the checkpoint at step 20: steps 30.. are logged again
    s.sync([train(10, 4), train(20, 3.5), evalAt(20, 3.6), train(30, 3.2), train(30, 3.1), train(40, 3)])
    expect(s.step.values()).toEqual(new Float64Array([10, 20, 30, 40]))
    expect(s.loss.values()).toEqual(new Float64Array([4, 3.5, 3.1, 3]))
    expect(s.evalStep.values()).toEqual(new Float64Array([20]))
  })

  it('keeps a diverged (NaN or missing) loss as a gap', () => {
    const s = new RunSeries()
    s.sync([train(1, 2), train(2, null)])
    const [x, trainLoss] = lossData(s, 100)
    expect(x).toEqual([1, 2])
    expect(trainLoss).toEqual([2, null])
  })
})

describe('metricsInterval', () => {
  it('polls long runs less often and ended runs not at all', () => {
    expect(metricsInterval(100, false)).toBe(2000)
    expect(metricsInterval(20_000, false)).toBe(2000)
    expect(metricsInterval(100_000, false)).toBe(5000)
    expect(metricsInterval(100, true)).toBeUndefined()
  })
})

describe('RunSeries.append (incremental answers)', () => {
  it('appends what follows what was read, and asks to start over when the API holds less', () => {
    const s = new RunSeries()
    expect(s.append([train(10, 3), evalAt(10, 3.2)], 0, 2)).toBe(true)
    expect(s.append([train(20, 2.5)], 2, 3)).toBe(true)
    expect(Array.from(s.step.values())).toEqual([10, 20])
    expect(s.consumed).toBe(3)
    const version = s.version
    expect(s.append([], 3, 3)).toBe(true)
    expect(s.version).toBe(version) // nothing new, nothing to redraw
    // a resumed run dropped records past its checkpoint: fewer than were read
    expect(s.append([], 3, 2)).toBe(false)
    expect(s.consumed).toBe(0)
    expect(s.step.length).toBe(0)
  })
})

describe('chart settings and exports', () => {
  it('smooths like TensorBoard: debiased EMA, gaps kept', () => {
    expect(Array.from(smoothEma([4, 2, Number.NaN, 2], 0))).toEqual([4, 2, Number.NaN, 2])
    const out = Array.from(smoothEma([4, 2, Number.NaN, 2], 0.5))
    expect(out[0]).toBe(4) // debiased: the first point is itself
    expect(out[1]).toBeCloseTo((0.5 * (0.5 * 4) + 0.5 * 2) / (1 - 0.5 ** 2))
    expect(out[2]).toBeNaN()
    expect(out[3]).toBeLessThan(out[1] as number)
  })

  it('plots against tokens seen, estimating them for evaluations that carry none', () => {
    const s = new RunSeries()
    s.sync([train(10, 3), train(20, 2.5), evalAt(20, 2.7)])
    expect(Array.from(xValues(s, 'train', 'tokens'))).toEqual([640, 1280])
    expect(Array.from(xValues(s, 'eval', 'tokens'))).toEqual([1280])
    const [x, raw, smoothed, val] = lossData(s, 100, { x: 'tokens', smoothing: 0.6 })
    expect(x).toEqual([640, 1280])
    expect(raw).toEqual([3, 2.5])
    expect(smoothed?.[0]).toBeCloseTo(3)
    expect(val).toEqual([null, 2.7])
    expect(bestEval(s)).toEqual({ loss: 2.7, step: 20 })
  })

  it('writes the plotted series as CSV, empty where a series has no point', () => {
    expect(toCsv(['step', 'train loss', 'val, loss'], [[10, 20], [3, 2.5], [null, 2.7]])).toBe('step,train loss,"val, loss"\n10,3,\n20,2.5,2.7\n')
  })

  it('remembers the settings, falling back to defaults for anything odd', () => {
    const store = new Map<string, string>()
    const storage = { getItem: (k: string) => store.get(k) ?? null, setItem: (k: string, v: string) => void store.set(k, v) }
    expect(loadChartSettings(storage)).toEqual({ smoothing: 0, logScale: false, x: 'step' })
    saveChartSettings({ smoothing: 0.9, logScale: true, x: 'tokens' }, storage)
    expect(loadChartSettings(storage)).toEqual({ smoothing: 0.9, logScale: true, x: 'tokens' })
    store.set('model-trainer.charts', '{"smoothing": 5, "x": "nope"}')
    expect(loadChartSettings(storage)).toEqual({ smoothing: 0.99, logScale: false, x: 'step' })
    store.set('model-trainer.charts', 'not json')
    expect(loadChartSettings(storage)).toEqual({ smoothing: 0, logScale: false, x: 'step' })
  })
})

describe('bestValLoss', () => {
  const chart = { loss: 2.6, step: 40 }
  it("prefers the API's best val loss and its step", () => {
    expect(bestValLoss({ best_val_loss: 2.7, best_step: 50 }, chart)).toEqual({ loss: 2.7, step: 50 })
    expect(bestValLoss({ best_val_loss: 2.7, best_step: null }, chart)).toEqual({ loss: 2.7, step: null })
  })
  it("falls back to the chart's when the API has none yet", () => {
    expect(bestValLoss({ best_val_loss: null, best_step: null }, chart)).toEqual(chart)
    expect(bestValLoss({}, chart)).toEqual(chart)
    expect(bestValLoss({}, null)).toBeNull()
  })
})
