import { render, screen, waitFor, within } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { RunView } from '../api/contract'
import type { Schemas } from '../api/types'
import { MODEL_BACKENDS, finishedRun, tokenizer } from '../test/fixtures'
import { apiFetch, jsonResponse } from '../test/fakes'
import { HomePage } from './index'

function labelled(id: string, name: string | null, tags: string[], patch: Partial<RunView> = {}): RunView {
  return { ...finishedRun(id), name, notes: null, tags, queue: null, ...patch }
}

const QUEUED = labelled('run-q', null, [], {
  status: 'queued',
  queue: { position: 2, ahead: 1, waiting_for: 'a free worker (1 live, busy with run-a)' },
  metrics: { ...finishedRun().metrics, best_val_loss: null, best_step: null, final_train_loss: null, final_val_loss: null, final_val_perplexity: null },
})

const WORKER: Schemas['WorkerPublic'] = {
  name: 'host.1',
  host: 'host',
  pid: 42,
  serves: ['cpu'],
  state: 'busy',
  current_job: 'run-a',
  since: 1_700_000_000,
  threads: 2,
  memory_bytes: 8 * 1024 ** 3,
  devices: [{ kind: 'cpu', name: 'x86_64', memory_bytes: 8 * 1024 ** 3 }],
  peak_flops: {},
  resources: [0, 1, 2].map((i) => ({
    time: 1_700_000_000 + i * 10,
    cpu_percent: 20 + i * 30,
    memory_bytes: 2 * 1024 ** 3,
    memory_percent: 25,
    gpu_percent: null,
    gpu_memory_bytes: null,
  })),
}

let runQueries: URLSearchParams[] = []
let deleteAnswer: () => Response

beforeEach(() => {
  runQueries = []
  deleteAnswer = () => new Response(null, { status: 204 })
  window.location.hash = '#/'
  const { fetchImpl } = apiFetch({
    'GET /runs': (req) => {
      const query = new URL(req.url).searchParams
      runQueries.push(query)
      const all = [labelled('run-a', 'shakespeare baseline', ['baseline', 'small']), labelled('run-b', null, ['sweep']), QUEUED]
      const tag = query.get('tag')
      const data = tag ? all.filter((r) => r.tags?.includes(tag)) : all
      return jsonResponse(200, { data, count: data.length })
    },
    'DELETE /runs/run-b': () => deleteAnswer(),
    'GET /tokenizers': () =>
      jsonResponse(200, {
        data: [{ ...tokenizer('tok-w', 300, 'x.txt', 'queued'), queue: { position: 1, ahead: 0, waiting_for: 'a worker that serves cpu; none is running' } }],
        count: 1,
      }),
    'GET /backends': () => jsonResponse(200, MODEL_BACKENDS),
    'GET /readyz': () => jsonResponse(200, { status: 'ok', redis: true, workers: 1, live_workers: [] }),
    'GET /workers': () => jsonResponse(200, { data: [WORKER], count: 1 }),
  })
  vi.stubGlobal('fetch', fetchImpl)
})
afterEach(() => {
  vi.unstubAllGlobals()
  window.location.hash = ''
})

describe('The runs list', () => {
  it('shows each run by name (else id), its tags, its place in the queue, family and final loss', async () => {
    render(<HomePage />)
    const named = await screen.findByRole('link', { name: 'shakespeare baseline' })
    const row = named.closest('tr') as HTMLElement
    expect(row.textContent).toContain('run-a')
    expect(within(row).getByRole('button', { name: 'Show runs tagged baseline' })).toBeTruthy()
    expect(within(row).getByText('gpt2 nano')).toBeTruthy()
    expect(row.querySelector('[data-label="Final loss"]')?.textContent).toBe('5.063')
    expect(screen.getByRole('link', { name: 'run-b' })).toBeTruthy()
    const queued = screen.getByRole('link', { name: 'run-q' }).closest('tr') as HTMLElement
    expect(queued.textContent).toContain('2nd in line (1 ahead), waiting for a free worker (1 live, busy with run-a)')
    expect(within(queued).queryByRole('button', { name: /Delete/ })).toBeNull() // only finished runs
    const tok = screen.getByRole('link', { name: 'tok-w' }).closest('tr') as HTMLElement
    expect(tok.textContent).toContain('1st in line, waiting for a worker that serves cpu; none is running')
  })

  it('filters and sorts through the API, keeping the view in the URL', async () => {
    const user = userEvent.setup()
    window.location.hash = '#/?status=completed&sort=final_loss'
    render(<HomePage />)
    await screen.findByRole('link', { name: 'shakespeare baseline' })
    expect(runQueries.at(-1)?.get('status')).toBe('completed')
    expect(runQueries.at(-1)?.get('sort')).toBe('final_loss')
    expect(screen.getByLabelText('Status')).toHaveProperty('value', 'completed')
    await user.click(screen.getByRole('button', { name: 'Show runs tagged sweep' }))
    await waitFor(() => expect(window.location.hash).toBe('#/?status=completed&tag=sweep&sort=final_loss'))
    await waitFor(() => expect(screen.queryByRole('link', { name: 'shakespeare baseline' })).toBeNull())
    expect(runQueries.at(-1)?.get('tag')).toBe('sweep')
    await user.selectOptions(screen.getByLabelText('Family'), 'gpt_neox')
    await waitFor(() => expect(runQueries.at(-1)?.get('family')).toBe('gpt_neox'))
    await user.type(screen.getByLabelText('Search'), 'lr')
    await waitFor(() => expect(runQueries.at(-1)?.get('q')).toBe('lr'))
    expect(window.location.hash).toContain('q=lr')
  })

  it('compares any number of ticked runs', async () => {
    const user = userEvent.setup()
    render(<HomePage />)
    await screen.findByRole('link', { name: 'shakespeare baseline' })
    for (const name of ['shakespeare baseline', 'run-b', 'run-q']) await user.click(screen.getByLabelText(`Compare ${name}`))
    expect(screen.getByRole('link', { name: 'Compare 3 runs' }).getAttribute('href')).toBe('#/compare?runs=run-a,run-b,run-q')
  })

  it("deletes a finished run after asking, and shows the API's refusal", async () => {
    deleteAnswer = () =>
      jsonResponse(409, { code: 'RUN_ACTIVE', message: 'run-b is being evaluated; delete it once the evaluation ends', request_id: 'r' })
    const user = userEvent.setup()
    render(<HomePage />)
    await user.click(await screen.findByRole('button', { name: 'Delete run-b' }))
    const dialog = screen.getByRole('alertdialog', { name: 'Delete run-b?' })
    expect(document.activeElement).toBe(within(dialog).getByRole('button', { name: 'Cancel' }))
    await user.click(within(dialog).getByRole('button', { name: 'Delete run' }))
    expect(await within(dialog).findByText('run-b is being evaluated; delete it once the evaluation ends')).toBeTruthy()
    expect(within(dialog).getByText('RUN_ACTIVE')).toBeTruthy()
    deleteAnswer = () => new Response(null, { status: 204 })
    await user.click(within(dialog).getByRole('button', { name: 'Delete run' }))
    await waitFor(() => expect(screen.queryByRole('alertdialog')).toBeNull())
  })
})

describe('The workers panel', () => {
  it('shows each worker, what it serves, its job, and CPU and memory over the last hour', async () => {
    render(<HomePage />)
    const card = (await screen.findByText('host.1')).closest('li') as HTMLElement
    expect(card.textContent).toContain('serves cpu')
    expect(within(card).getByRole('link', { name: 'run-a' }).getAttribute('href')).toBe('#/runs/run-a')
    expect(within(card).getByRole('img', { name: 'CPU over the last hour, now 80%' })).toBeTruthy()
    expect(card.textContent).toContain('2.00 GB (25%)')
    expect(within(card).queryByRole('img', { name: /^GPU/ })).toBeNull() // no GPU on this one
  })
})
