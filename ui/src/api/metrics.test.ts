import { afterEach, describe, expect, it, vi } from 'vitest'
import type { MetricRecord } from './types'
import { RunSeries } from '../lib/chartData'
import { apiFetch, jsonResponse } from '../test/fakes'
import { syncMetrics } from './metrics'

const rec = (step: number): MetricRecord => ({ kind: 'train', step, loss: 10 - step / 10, time: 1000 + step })

afterEach(() => {
  vi.unstubAllGlobals()
})

describe('syncMetrics', () => {
  it('asks only for records past those read, and reads all again after a resume dropped some', async () => {
    let file = [rec(10), rec(20), rec(30)]
    const { fetchImpl, requests } = apiFetch({
      'GET /runs/run-1/metrics': (req) => {
        const after = Number(new URL(req.url).searchParams.get('after') ?? 0)
        return jsonResponse(200, { run_id: 'run-1', data: file.slice(after), count: file.length - after, after, next_after: file.length })
      },
    })
    vi.stubGlobal('fetch', fetchImpl)
    const s = new RunSeries()
    const signal = new AbortController().signal
    await syncMetrics(s, 'run-1', signal)
    file = [...file, rec(40)]
    await syncMetrics(s, 'run-1', signal)
    expect(requests.map((r) => new URL(r.url).searchParams.get('after'))).toEqual(['0', '3'])
    expect(Array.from(s.step.values())).toEqual([10, 20, 30, 40])
    expect(Array.from(s.time.values())).toEqual([1010, 1020, 1030, 1040])

    file = [rec(10), rec(20)] // resumed from step 20
    await syncMetrics(s, 'run-1', signal)
    expect(requests.slice(2).map((r) => new URL(r.url).searchParams.get('after'))).toEqual(['4', '0'])
    expect(Array.from(s.step.values())).toEqual([10, 20])
    expect(s.consumed).toBe(2)
  })

  it('reads a whole list from an API without ?after=', async () => {
    const { fetchImpl } = apiFetch({
      'GET /runs/run-1/metrics': () => jsonResponse(200, { run_id: 'run-1', data: [rec(10), rec(20)], count: 2 }),
    })
    vi.stubGlobal('fetch', fetchImpl)
    const s = new RunSeries()
    await syncMetrics(s, 'run-1', new AbortController().signal)
    await syncMetrics(s, 'run-1', new AbortController().signal)
    expect(Array.from(s.step.values())).toEqual([10, 20])
  })
})
