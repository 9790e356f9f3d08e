import { act, cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { MetricRecord } from '../api/types'
import { finishedRun } from '../test/fixtures'
import { apiFetch, jsonResponse } from '../test/fakes'
import { ComparePage } from './compare'

// uPlot needs a canvas: a stand-in records what each chart is built with.
const plots = vi.hoisted(() => ({ made: [] as { title: string; x: string; data: unknown[]; log: boolean }[] }))
vi.mock('uplot', () => ({
  default: class {
    width = 800
    constructor(opts: { title: string; series: { label: string }[]; scales: { y?: { distr?: number } } }, data: unknown[]) {
      plots.made.push({ title: opts.title, x: opts.series[0]?.label ?? '', data, log: opts.scales.y?.distr === 3 })
    }
    setData(): void {}
    setSize(): void {}
    destroy(): void {}
  },
}))

const START = 1_700_000_000
function records(timed: boolean, scale: number): MetricRecord[] {
  const at = (s: number) => (timed ? { time: START + s * 6 } : {})
  return [
    { kind: 'eval', step: 0, val_loss: 8, ...at(0) }, // before training: the same for both
    { kind: 'train', step: 10, loss: 7 * scale, ...at(10) },
    { kind: 'train', step: 20, loss: 6 * scale, ...at(20) },
    { kind: 'eval', step: 20, val_loss: 6.5 * scale, ...at(20) },
  ] as MetricRecord[]
}

let timed = false
beforeEach(() => {
  localStorage.clear()
  plots.made = []
  timed = false
  window.location.hash = '#/compare?runs=run-1,run-2'
  vi.stubGlobal('ResizeObserver', class { observe(): void {} disconnect(): void {} })
  const { fetchImpl } = apiFetch({
    'GET /runs': () => jsonResponse(200, { data: [finishedRun('run-1'), finishedRun('run-2', { max_steps: 600, lr: 3e-4 })], count: 2 }),
    'GET /runs/run-1': () => jsonResponse(200, finishedRun('run-1')),
    'GET /runs/run-2': () => jsonResponse(200, finishedRun('run-2', { max_steps: 600, lr: 3e-4 })),
    'GET /runs/run-1/metrics': () => jsonResponse(200, { run_id: 'run-1', data: records(timed, 1), count: 4 }),
    'GET /runs/run-2/metrics': () => jsonResponse(200, { run_id: 'run-2', data: records(timed, 0.5), count: 4 }),
  })
  vi.stubGlobal('fetch', fetchImpl)
})
afterEach(() => {
  cleanup() // unmount before the stubbed ResizeObserver goes (see runs.$runId.test.tsx)
  vi.unstubAllGlobals()
})

describe('Compare runs', () => {
  it('lines the configs up side by side and marks the fields that differ', async () => {
    const user = userEvent.setup()
    render(<ComparePage />)
    const table = await screen.findByRole('region', { name: 'Configurations side by side' })
    expect(within(table).getAllByRole('columnheader').map((h) => h.textContent)).toEqual(['Field', 'run-1', 'run-2'])
    const row = (key: string): HTMLElement => within(table).getByText(key, { selector: 'code' }).closest('tr') as HTMLElement
    const keys = (): (string | null)[] => within(table).getAllByRole('row').slice(1).map((r) => r.querySelector('code')?.textContent ?? null)
    // the settings that differ first, alone until all are asked for
    expect(keys()).toEqual(['trainer.max_steps', 'trainer.learning_rate'])
    expect(screen.getByText(/^2 of \d+ fields differ\.$/)).toBeTruthy()
    await user.click(screen.getByRole('button', { name: /^Show all \d+ settings$/ }))
    expect(keys().slice(0, 2)).toEqual(['trainer.max_steps', 'trainer.learning_rate'])
    expect(keys().length).toBeGreaterThan(20)
    expect(row('trainer.max_steps').className).toBe('differs')
    expect(within(row('trainer.max_steps')).getByText('differs')).toBeTruthy()
    expect(within(row('trainer.max_steps')).getAllByRole('cell').map((c) => c.textContent)).toEqual(['300', '600'])
    expect(row('trainer.learning_rate').className).toBe('differs')
    expect(row('trainer.batch_size').className).toBe('')
    expect(row('model.options').textContent).toContain('{}') // empty objects stay one value
    expect(row('architecture.vocab_size')).toBeTruthy() // what the API resolved, too
    // each value cell names its run (the stacked layout on phones shows it)
    expect(within(row('trainer.max_steps')).getAllByRole('cell').map((c) => c.dataset['label'])).toEqual(['run-1', 'run-2'])

    await user.click(screen.getByRole('button', { name: 'Show only the 2 that differ' }))
    expect(keys()).toEqual(['trainer.max_steps', 'trainer.learning_rate'])
  })

  it('overlays the loss curves against step, and against wall time once records carry it', async () => {
    const user = userEvent.setup()
    const view = render(<ComparePage />)
    await screen.findByRole('heading', { name: 'Loss curves' })
    await waitFor(() => expect(plots.made.map((p) => p.title)).toEqual(['Train loss', 'Val loss']))
    expect(plots.made[0]?.data).toEqual([[10, 20], [7, 6], [3.5, 3]])
    expect(plots.made[1]?.data).toEqual([[0, 20], [8, 6.5], [8, 3.25]])
    expect(screen.getByRole('radio', { name: /wall time/ })).toHaveProperty('disabled', true)

    view.unmount()
    plots.made = []
    timed = true
    render(<ComparePage />)
    await user.click(await screen.findByRole('radio', { name: /wall time/ }))
    await act(async () => {})
    const train = plots.made.filter((p) => p.title === 'Train loss').at(-1)
    expect(train?.x).toBe('minutes since start')
    expect(train?.data[0]).toEqual([1, 2]) // 60 s and 120 s after the first record
  })

  it('changes the compared runs with the picker', async () => {
    window.location.hash = '#/compare?runs=run-1'
    const user = userEvent.setup()
    render(<ComparePage />)
    const picker = await screen.findByRole('group', { name: /Runs to compare/ })
    expect(within(picker).getByLabelText('run-1')).toHaveProperty('checked', true)
    await user.click(within(picker).getByLabelText('run-2'))
    expect(window.location.hash).toBe('#/compare?runs=run-1,run-2')
    const table = await screen.findByRole('region', { name: 'Configurations side by side' })
    await waitFor(() => expect(within(table).getAllByRole('columnheader')).toHaveLength(3))
  })

  it('overlays any number of runs, each with its colour in a legend, removable there', async () => {
    const user = userEvent.setup()
    const ids = Array.from({ length: 12 }, (_, i) => `run-${i + 1}`)
    window.location.hash = `#/compare?runs=${ids.join(',')}`
    const routes: Record<string, () => Response> = {}
    for (const id of ids) {
      routes[`GET /runs/${id}`] = () => jsonResponse(200, finishedRun(id))
      routes[`GET /runs/${id}/metrics`] = () => jsonResponse(200, { run_id: id, data: records(false, 1), count: 4 })
    }
    vi.stubGlobal('fetch', apiFetch(routes).fetchImpl)
    render(<ComparePage />)
    const legend = await screen.findByRole('list', { name: 'Compared runs' })
    await waitFor(() => expect(within(legend).getAllByRole('listitem')).toHaveLength(12))
    const colours = within(legend).getAllByRole('listitem').map((li) => (li.querySelector('.swatch') as HTMLElement).style.background)
    expect(new Set(colours).size).toBe(12)
    await waitFor(() => expect(plots.made.at(-1)?.data).toHaveLength(13)) // x and one column per run
    await user.click(within(legend).getByRole('button', { name: 'Remove run-3' }))
    expect(window.location.hash).toBe(`#/compare?runs=${ids.filter((i) => i !== 'run-3').join(',')}`)
  })

  it('smooths the curves and draws loss on a log scale when asked, and remembers it', async () => {
    render(<ComparePage />)
    await screen.findByRole('heading', { name: 'Loss curves' })
    fireEvent.change(await screen.findByLabelText('Smoothing'), { target: { value: '0.5' } })
    await userEvent.setup().click(screen.getByLabelText(/log scale/))
    await waitFor(() => expect(plots.made.at(-1)?.log).toBe(true))
    expect(JSON.parse(localStorage.getItem('model-trainer.charts') ?? '{}')).toEqual({ smoothing: 0.5, logScale: true, x: 'step' })
    const train = plots.made.filter((p) => p.title === 'Train loss').at(-1)
    // EMA 0.5, debiased: 7, then (0.5 * (0.5 * 7) + 0.5 * 6) / (1 - 0.5²)
    const [first, second] = (train?.data[1] ?? []) as number[]
    expect(first).toBeCloseTo(7)
    expect(second).toBeCloseTo((0.5 * 3.5 + 0.5 * 6) / 0.75)
  })
})
