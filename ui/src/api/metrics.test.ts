import { afterEach, describe, expect, it, vi } from 'vitest'
import type { MetricRecord } from './types'
import { RunSeries } from '../lib/chartData'
import { apiFetch, jsonResponse } from '../test/fakes'
import { FIRST_LOAD_POINTS, isSampled, syncMetrics } from './metrics'

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

  it('asks for a downsampled first load, then polls for the new records only', async () => {
    const steps = Array.from({ length: 10 }, (_, i) => rec((i + 1) * 10))
    let file = steps
    const { fetchImpl, requests } = apiFetch({
      'GET /runs/run-1/metrics': (req) => {
        const query = new URL(req.url).searchParams
        const after = Number(query.get('after') ?? 0)
        const sample = query.has('points') && after === 0 ? [file[0], file[5], file[file.length - 1]] : file.slice(after)
        const data = sample.filter((r): r is MetricRecord => r !== undefined)
        const downsampled = data.length < file.length - after
        return jsonResponse(200, { run_id: 'run-1', data, count: data.length, after, next_after: file.length, total: file.length, downsampled })
      },
    })
    vi.stubGlobal('fetch', fetchImpl)
    const s = new RunSeries()
    const signal = new AbortController().signal
    await syncMetrics(s, 'run-1', signal)
    expect(Array.from(s.step.values())).toEqual([10, 60, 100])
    expect(s.consumed).toBe(10)
    expect(isSampled(s)).toBe(true)
    file = [...file, rec(110)]
    await syncMetrics(s, 'run-1', signal)
    expect(Array.from(s.step.values())).toEqual([10, 60, 100, 110])
    file = steps.slice(0, 4) // resumed from step 40: read again, downsampled
    await syncMetrics(s, 'run-1', signal)
    const asked = requests.map((r) => new URL(r.url).searchParams)
    expect(asked.map((q) => [q.get('after'), q.get('points')])).toEqual([
      ['0', String(FIRST_LOAD_POINTS)],
      ['10', null],
      ['11', null],
      ['0', String(FIRST_LOAD_POINTS)],
    ])
    expect(Array.from(s.step.values())).toEqual([10, 40])
    expect(s.consumed).toBe(4)
  })
})
