import { act, cleanup, render, screen, waitFor, within } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { MetricRecord, RunPublic } from '../api/types'
import { FakeEventSource, apiFetch, flush, jsonResponse } from '../test/fakes'
import { finishedRun } from '../test/fixtures'

// uPlot needs a canvas: a stand-in records what the chart is given.
const plots = vi.hoisted(() => ({ created: 0, setData: [] as unknown[][] }))
vi.mock('uplot', () => ({
  default: class {
    width = 800
    constructor(_opts: unknown, data: unknown[]) {
      plots.created += 1
      plots.setData.push(data)
    }
    setData(data: unknown[]): void {
      plots.setData.push(data)
    }
    setSize(): void {}
    destroy(): void {}
  },
}))

function run(status: RunPublic['status'], step: number): RunPublic {
  return {
    run_id: 'run-1',
    status,
    message: null,
    last_heartbeat: Date.now() / 1000 - 3,
    progress: { step, max_steps: 100, tokens_seen: step * 640, train_loss: 2.5, val_loss: 2.7, lr: 1e-3, tokens_per_s: 1234, eta_s: 95, mfu: 0.0123 },
    metrics: { best_val_loss: 2.7, best_step: 50, final_train_loss: null, final_val_loss: null, final_val_perplexity: null, tokens_per_s: null, regressions: [] },
    error_code: null,
    failure_class: null,
    retries: 0,
    last_error: null,
    config: {
      model: { family: 'gpt2', size: 'nano', n_layer: null, n_head: null, n_embd: null, max_seq_len: 64, dropout: 0, options: {} },
      data: { tokenizer_id: 'tok-1', corpus_path: 'shakespeare.txt', holdout_fraction: 0.1, holdout_strategy: 'tail', min_length: 1 },
      trainer: {
        max_steps: 100, batch_size: 12, grad_accum_steps: 1, learning_rate: 1e-3, min_lr: 1e-4, warmup_steps: 10,
        weight_decay: 0.1, beta1: 0.9, beta2: 0.99, grad_clip: 1, eval_interval: 50, eval_steps: 5,
        checkpoint_interval: 50, log_interval: 10, seed: 1, device: 'auto', precision: 'auto', compile: 'auto', nproc: 1, eval_samples: 3, eval_sample_tokens: 48,
      },
      finetune: { method: 'full', rank: 8, alpha: 16, dropout: 0, target_modules: null, export_adapter: false },
      tags: [],
    },
    architecture: { family: 'gpt2', n_layer: 4, n_head: 4, n_embd: 128, max_seq_len: 64, vocab_size: 8000, dropout: 0, options: {} },
    parameters: 1_234_567,
    tokenizer: { tokenizer_id: 'tok-1', method: 'bpe', vocab_size: 8000 },
    created_at: '2025-01-01T10:00:00Z',
    started_at: '2025-01-01T10:00:01Z',
    finished_at: null,
    device: { device: 'cpu', name: 'cpu', precision: 'fp32', precision_reason: 'no native bf16', threads: 2, cpu: 'x86', torch: '2.5', peak_flops: 2.5e11, processes: 1 },
    dataset: null,
    durations: { prepare_s: 1, train_s: 10, export_s: 0, total_s: 11 },
    artifacts: [],
    eval: null,
    finetune: null,
    name: null,
    notes: null,
    tags: [],
  } as RunPublic
}

const rec = (step: number): MetricRecord => ({ kind: 'train', step, loss: 3 - step / 100, lr: 1e-3, tokens_per_s: 1000 })

let state: { status: RunPublic['status']; step: number; metrics: MetricRecord[]; cancelled: number }

beforeEach(() => {
  plots.created = 0
  plots.setData = []
  FakeEventSource.instances = []
  state = { status: 'running', step: 20, metrics: [rec(10), rec(20)], cancelled: 0 }
  vi.stubGlobal('ResizeObserver', class { observe(): void {} disconnect(): void {} })
  vi.stubGlobal('EventSource', FakeEventSource)
  const { fetchImpl } = apiFetch({
    'GET /runs/run-1': () => jsonResponse(200, run(state.status, state.step)),
    'GET /runs/run-1/metrics': () => jsonResponse(200, { run_id: 'run-1', data: state.metrics, count: state.metrics.length }),
    'GET /artifacts/models/run-1': () => jsonResponse(200, { kind: 'models', id: 'run-1', files: [], count: 0 }),
    'POST /runs/run-1/cancel': () => {
      state.cancelled += 1
      state.status = 'cancelled'
      return jsonResponse(200, run('cancelled', state.step))
    },
  })
  vi.stubGlobal('fetch', fetchImpl)
})
afterEach(() => {
  // Unmount first: a chart's effect may still run while the page goes, and it needs the
  // stubbed ResizeObserver (under load this happened after the globals were restored).
  cleanup()
  vi.useRealTimers()
  vi.unstubAllGlobals()
})

describe('Run details', () => {
  it('shows status, progress, facts, and charts that grow with setData', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] })
    const { RunPage } = await import('./runs.$runId')
    render(<RunPage runId="run-1" />)
    await act(() => vi.advanceTimersByTimeAsync(10))
    expect(screen.getByRole('heading', { name: 'run-1' })).toBeTruthy()
    expect(screen.getByText('running')).toBeTruthy()
    expect(screen.getByRole('progressbar', { name: 'training progress' }).getAttribute('aria-valuenow')).toBe('20')
    expect(screen.getByText(/1,234,567 parameters/)).toBeTruthy()
    expect(screen.getByText(/no native bf16/)).toBeTruthy()
    expect(screen.getByText('1m 35s')).toBeTruthy() // ETA
    expect(screen.getByTestId('run-mfu').textContent).toBe('1.2% of a measured peak of 250.0 GFLOP/s (fp32)')
    expect(screen.getByTestId('run-device').textContent).toMatch(/, 2 threads$/)
    expect(plots.created).toBe(2) // loss, and lr + tokens/s
    const lossX = (): unknown => (plots.setData.filter((_, i) => i % 2 === 0).at(-1) ?? [])[0]
    expect(lossX()).toEqual([10, 20])

    state.step = 30
    state.metrics = [...state.metrics, rec(30)]
    await act(() => vi.advanceTimersByTimeAsync(2000))
    expect(plots.created).toBe(2) // not re-created: fed through setData
    expect(plots.setData.at(-2)?.[0]).toEqual([10, 20, 30])
  })

  it('says how many processes train a run in several', async () => {
    const base = run('running', 20)
    const spread: RunPublic = { ...base, device: base.device ? { ...base.device, threads: 1, processes: 2 } : null }
    const { fetchImpl } = apiFetch({
      'GET /runs/run-1': () => jsonResponse(200, spread),
      'GET /runs/run-1/metrics': () => jsonResponse(200, { run_id: 'run-1', data: [], count: 0 }),
      'GET /artifacts/models/run-1': () => jsonResponse(200, { kind: 'models', id: 'run-1', files: [], count: 0 }),
    })
    vi.stubGlobal('fetch', fetchImpl)
    const { RunPage } = await import('./runs.$runId')
    render(<RunPage runId="run-1" />)
    await waitFor(() => expect(screen.getByTestId('run-device').textContent).toContain('2 processes × 1 threads'))
  })

  it('shows where a fine-tuning run started from and what trains', async () => {
    const lora: RunPublic = {
      ...run('running', 20),
      finetune: {
        origin: { run_id: 'run-0', path: null, model_type: 'gpt2', weights_files: ['model.safetensors'], weights_sha256: 'abcdef0123456789' },
        method: 'lora',
        lora: { rank: 4, alpha: 16, dropout: 0, target_modules: ['c_attn', 'c_proj'] },
        trainable_parameters: 12_345,
        adapter_exported: true,
      },
    }
    vi.stubGlobal('fetch', apiFetch({
      'GET /runs/run-1': () => jsonResponse(200, lora),
      'GET /runs/run-1/metrics': () => jsonResponse(200, { run_id: 'run-1', data: [], count: 0 }),
      'GET /artifacts/models/run-1': () => jsonResponse(200, { kind: 'models', id: 'run-1', files: [], count: 0 }),
    }).fetchImpl)
    const { RunPage } = await import('./runs.$runId')
    render(<RunPage runId="run-1" />)
    const origin = await screen.findByTestId('run-origin')
    expect(origin.textContent).toBe('run run-0 (gpt2, sha256 abcdef012345)')
    expect(screen.getByRole('link', { name: 'run run-0' }).getAttribute('href')).toContain('/runs/run-0')
    expect(screen.getByTestId('run-finetune').textContent).toBe(
      'LoRA: rank 4, alpha 16 on c_attn, c_proj, 12,345 parameters train (1.00%); adapters exported alone too',
    )
    expect(screen.getByText(/gpt2 fine-tuned/)).toBeTruthy()
  })

  it('cancels a running run after a confirmation', async () => {
    const user = userEvent.setup()
    const { RunPage } = await import('./runs.$runId')
    render(<RunPage runId="run-1" />)
    await user.click(await screen.findByRole('button', { name: 'Cancel run' }))
    expect(state.cancelled).toBe(0)
    await user.click(screen.getByRole('button', { name: 'Yes, cancel it' }))
    await waitFor(() => expect(state.cancelled).toBe(1))
    expect(await screen.findByText('cancelled')).toBeTruthy()
  })
})

describe('Run details of a finished run', () => {
  function serveFinished(evalAnswer: () => Response): void {
    const finished = {
      ...finishedRun('run-1'),
      eval: { split: 'val', corpus_path: null, loss: 5.01, perplexity: 150.4, tokens_per_char: 0.28, tokens: 4000, finished_at: '2025-01-01T10:03:00Z' },
    } as RunPublic
    const { fetchImpl } = apiFetch({
      'GET /runs/run-1': () => jsonResponse(200, finished),
      'GET /runs/run-1/metrics': () => jsonResponse(200, { run_id: 'run-1', data: [rec(10)], count: 1 }),
      'GET /runs/run-1/eval': evalAnswer,
      'GET /artifacts/models/run-1': () => jsonResponse(200, { kind: 'models', id: 'run-1', files: [], count: 0 }),
    })
    vi.stubGlobal('fetch', fetchImpl)
  }

  it('shows its evaluation and samples, its checkpoints, a generate box and Clone', async () => {
    serveFinished(() =>
      jsonResponse(200, {
        run_id: 'run-1',
        eval_id: 'evl-1',
        status: 'completed',
        message: 'loss 5.0100, perplexity 150.40',
        error: null,
        metrics: {
          run_id: 'run-1', split: 'val', corpus_path: null, loss: 5.01, perplexity: 150.4, tokens: 4000, chars: 14000,
          tokens_per_char: 0.28, windows: 31, finished_at: '2025-01-01T10:03:00Z',
        },
        samples: [{ prompt: 'def ', seed: 1, completion: 'main():' }],
      }),
    )
    const { RunPage } = await import('./runs.$runId')
    render(<RunPage runId="run-1" />)
    const evaluation = (await screen.findByRole('heading', { name: 'Evaluation and samples' })).parentElement as HTMLElement
    expect(await within(evaluation).findByText('5.010 / 150.400')).toBeTruthy()
    expect(within(evaluation).getByText('main():').closest('pre')?.textContent).toBe('def main():')

    const checkpoints = screen.getByRole('heading', { name: 'Checkpoints' }).parentElement as HTMLElement
    const rows = within(checkpoints).getAllByRole('row').slice(1).map((r) => within(r).getAllByRole('cell').map((c) => c.textContent))
    expect(rows).toEqual([
      ['last.pt', 'latest (Extend continues from here)', '300', '5.063'],
      ['best.pt', 'lowest val loss', '300', '5.063'],
    ])

    expect(screen.getByRole('link', { name: 'Clone' }).getAttribute('href')).toBe('#/runs/new?from=run-1')
    expect(screen.getByRole('button', { name: 'Generate' })).toBeTruthy()
  })

  it('shows an evaluation that is still running', async () => {
    serveFinished(() =>
      jsonResponse(200, { run_id: 'run-1', eval_id: 'evl-2', status: 'running', message: 'evaluating', error: null, metrics: null, samples: [] }),
    )
    const { RunPage } = await import('./runs.$runId')
    render(<RunPage runId="run-1" />)
    const evaluation = (await screen.findByRole('heading', { name: 'Evaluation and samples' })).parentElement as HTMLElement
    const status = (await within(evaluation).findByText(/Evaluation evl-2/)).closest('p') as HTMLElement
    expect(within(status).getByText('running')).toBeTruthy()
    expect(status.textContent).toContain('evaluating')
  })

  it('shows a queued evaluation with its place in line and what it waits for', async () => {
    const queue = { position: 3, ahead: 2, waiting_for: 'a free worker (1 live, busy with run-0)' }
    serveFinished(() =>
      jsonResponse(200, { run_id: 'run-1', eval_id: 'evl-4', status: 'queued', message: null, error: null, metrics: null, samples: [], queue }),
    )
    const { RunPage } = await import('./runs.$runId')
    render(<RunPage runId="run-1" />)
    const evaluation = (await screen.findByRole('heading', { name: 'Evaluation and samples' })).parentElement as HTMLElement
    const status = (await within(evaluation).findByText(/Evaluation evl-4/)).closest('p') as HTMLElement
    expect(within(status).getByText('queued')).toBeTruthy()
    expect(within(status).getByTestId('eval-queue').textContent).toBe('3rd in line (2 ahead), waiting for a free worker (1 live, busy with run-0)')
  })

  it('shows a failed evaluation with its code and message', async () => {
    const error = { code: 'CORPUS_NOT_UTF8', failure_class: 'USER_INPUT', message: "corpus file 'x.txt' is not valid UTF-8 at byte offset 0" }
    serveFinished(() =>
      jsonResponse(200, { run_id: 'run-1', eval_id: 'evl-3', status: 'failed', message: error.message, error, metrics: null, samples: [] }),
    )
    const { RunPage } = await import('./runs.$runId')
    render(<RunPage runId="run-1" />)
    const evaluation = (await screen.findByRole('heading', { name: 'Evaluation and samples' })).parentElement as HTMLElement
    const alert = await within(evaluation).findByRole('alert')
    expect(within(alert).getByText('CORPUS_NOT_UTF8')).toBeTruthy()
    expect(alert.textContent).toContain('is not valid UTF-8')
  })

  it('says when it has no evaluation yet (404)', async () => {
    serveFinished(() => jsonResponse(404, { code: 'NOT_FOUND', message: "run 'run-1' has no evaluation yet", request_id: 'r' }))
    const { RunPage } = await import('./runs.$runId')
    render(<RunPage runId="run-1" />)
    expect(await screen.findByText(/No evaluation yet/)).toBeTruthy()
    expect(screen.queryByRole('alert')).toBeNull()
  })
})

describe('Run page: what a user found missing', () => {
  const listing = (paths: string[]) =>
    jsonResponse(200, { kind: 'models', id: 'run-1', files: paths.map((path) => ({ path, bytes: 10 })), count: paths.length })
  const ev = (step: number, val: number): MetricRecord => ({ kind: 'eval', step, val_loss: val })

  function serve(r: RunPublic, extra: Record<string, (req: Request) => Response | Promise<Response>> = {}, files: string[] = []) {
    const made = apiFetch({
      'GET /runs/run-1': () => jsonResponse(200, r),
      'GET /runs/run-1/metrics': () => jsonResponse(200, { run_id: 'run-1', data: [rec(10), ev(20, 2.9), ev(40, 2.6), ev(60, 2.65)], count: 4 }),
      'GET /artifacts/models/run-1': () => listing(files),
      ...extra,
    })
    vi.stubGlobal('fetch', made.fetchImpl)
    return made.requests
  }

  it('lists the checkpoints the run has saved, with the best val loss from its evaluations', async () => {
    const base = run('running', 70)
    const r = { ...base, metrics: { ...base.metrics, best_val_loss: null, best_step: null }, config: { ...base.config, trainer: { ...base.config.trainer, checkpoint_interval: 500 } } } as RunPublic
    serve(r, {}, ['checkpoints/best.pt', 'logs.jsonl'])
    const { RunPage } = await import('./runs.$runId')
    render(<RunPage runId="run-1" />)
    await waitFor(() => expect(screen.getByTestId('run-best').textContent).toBe('2.600 at step 40'))
    const checkpoints = screen.getByRole('heading', { name: 'Checkpoints' }).parentElement as HTMLElement
    await waitFor(() => expect(within(checkpoints).queryAllByRole('row')).toHaveLength(2))
    const cells = within(within(checkpoints).getAllByRole('row')[1] as HTMLElement).getAllByRole('cell').map((c) => c.textContent)
    expect(cells).toEqual(['best.pt', 'lowest val loss', '40', '2.600'])
  })

  it("prefers the API's best val loss (kept during training) to the chart's", async () => {
    const base = run('running', 70)
    serve({ ...base, metrics: { ...base.metrics, best_val_loss: 2.55, best_step: 60 } } as RunPublic)
    const { RunPage } = await import('./runs.$runId')
    render(<RunPage runId="run-1" />)
    // the chart has read evaluations with a lower val loss (2.6 at step 40)
    await waitFor(() => expect(JSON.stringify(plots.setData)).toContain('2.6'))
    await act(() => flush())
    expect(screen.getByTestId('run-best').textContent).toBe('2.550 at step 60')
  })

  it('says when the first checkpoint comes: at max_steps when the interval is longer', async () => {
    const base = run('running', 5)
    const t = { ...base.config.trainer, max_steps: 300, checkpoint_interval: 500, eval_interval: 0 }
    serve({ ...base, config: { ...base.config, trainer: t } } as RunPublic)
    const { RunPage } = await import('./runs.$runId')
    render(<RunPage runId="run-1" />)
    expect(await screen.findByText('No checkpoints yet: the first is saved at step 300.')).toBeTruthy()
  })

  it('shows the finalising phase without an ETA, and the place in the queue', async () => {
    const base = run('running', 100)
    serve({ ...base, progress: { ...base.progress, eta_s: 0, phase: 'finalising' } } as RunPublic)
    const { RunPage } = await import('./runs.$runId')
    const view = render(<RunPage runId="run-1" />)
    expect((await screen.findByTestId('run-phase')).textContent).toBe('finalising (final evaluation and export)')
    expect(screen.getByTestId('run-eta').textContent).toBe('— (finalising)')
    view.unmount()

    serve({ ...run('queued', 0), queue: { position: 2, ahead: 1, waiting_for: 'a free worker (1 live, busy with run-0)' } } as RunPublic)
    render(<RunPage runId="run-1" />)
    expect((await screen.findByTestId('run-queue')).textContent).toBe(
      '2nd in line (1 ahead), waiting for a free worker (1 live, busy with run-0)',
    )
  })

  it('resumes a cancelled run', async () => {
    const user = userEvent.setup()
    const bodies: unknown[] = []
    serve(run('cancelled', 40), {
      'POST /runs/run-1/resume': async (req) => {
        bodies.push(await req.json())
        return jsonResponse(202, { run_id: 'run-1', status: 'queued' })
      },
    }, ['checkpoints/last.pt'])
    const { RunPage } = await import('./runs.$runId')
    render(<RunPage runId="run-1" />)
    const checkpoints = (await screen.findByRole('heading', { name: 'Checkpoints' })).parentElement as HTMLElement
    expect(await within(checkpoints).findByText('latest (Resume continues from here)')).toBeTruthy()
    await user.click(screen.getByRole('button', { name: 'Resume' }))
    await waitFor(() => expect(bodies).toEqual([{}]))
    expect(await screen.findByText('Resumed: queued again.')).toBeTruthy()
  })

  it('extends a completed run to more steps than it ran, and shows a refusal', async () => {
    const user = userEvent.setup()
    const bodies: unknown[] = []
    serve(finishedRun('run-1'), {
      'POST /runs/run-1/resume': async (req) => {
        bodies.push(await req.json())
        return jsonResponse(422, { code: 'VALIDATION_ERROR', message: 'max_steps: must be greater than 300', request_id: 'r-9' })
      },
    })
    const { RunPage } = await import('./runs.$runId')
    render(<RunPage runId="run-1" />)
    await user.click(await screen.findByRole('button', { name: 'Extend' }))
    const steps = screen.getByLabelText(/New max steps/)
    await user.clear(steps)
    await user.type(steps, '300')
    expect(screen.getByText('more than the 300 steps it ran')).toBeTruthy()
    expect(screen.getByRole('button', { name: /Extend to/ })).toHaveProperty('disabled', true)
    await user.clear(steps)
    await user.type(steps, '900')
    await user.click(screen.getByRole('button', { name: 'Extend to 900 steps' }))
    await waitFor(() => expect(bodies).toEqual([{ max_steps: 900 }]))
    expect((await screen.findByRole('alert')).textContent).toContain('max_steps: must be greater than 300')
  })

  it('deletes an ended run after a confirmation, says why not on 409, and goes to the list after', async () => {
    const user = userEvent.setup()
    let answer = 409
    serve(finishedRun('run-1'), {
      'DELETE /runs/run-1': () =>
        answer === 204
          ? new Response(null, { status: 204 })
          : jsonResponse(409, { code: 'RUN_ACTIVE', message: "run 'run-1' has an evaluation running", request_id: 'r-1' }),
    })
    window.location.hash = '#/runs/run-1'
    const { RunPage } = await import('./runs.$runId')
    render(<RunPage runId="run-1" />)
    await user.click(await screen.findByRole('button', { name: 'Delete' }))
    const confirm = screen.getByRole('group', { name: 'Confirm delete' })
    await user.click(within(confirm).getByRole('button', { name: 'Yes, delete it' }))
    const alert = await screen.findByRole('alert')
    expect(within(alert).getByText('RUN_ACTIVE')).toBeTruthy()
    expect(alert.textContent).toContain('only once it and any evaluation of it have ended')
    expect(window.location.hash).toBe('#/runs/run-1')
    answer = 204
    await user.click(screen.getByRole('button', { name: 'Yes, delete it' }))
    await waitFor(() => expect(window.location.hash).toBe('#/'))
  })

  it('shows the name as the title, the tags and notes, and edits them in place', async () => {
    const user = userEvent.setup()
    const patches: unknown[] = []
    let labelled = { ...finishedRun('run-1'), name: 'baseline 4k', tags: ['bpe', 'small'], notes: 'first try' } as RunPublic
    vi.stubGlobal('fetch', apiFetch({
      'GET /runs/run-1': () => jsonResponse(200, labelled),
      'GET /runs/run-1/metrics': () => jsonResponse(200, { run_id: 'run-1', data: [], count: 0 }),
      'GET /artifacts/models/run-1': () => listing([]),
      'PATCH /runs/run-1': async (req) => {
        const body = (await req.json()) as { name?: string | null; add_tags: string[]; remove_tags: string[] }
        patches.push(body)
        const gone = body.remove_tags.map((t) => t.toLowerCase())
        const tags = [...labelled.tags.filter((t) => !gone.includes(t.toLowerCase())), ...body.add_tags]
        labelled = { ...labelled, ...('name' in body ? { name: body.name ?? null } : {}), tags }
        return jsonResponse(200, labelled)
      },
    }).fetchImpl)
    const { RunPage } = await import('./runs.$runId')
    render(<RunPage runId="run-1" />)
    const title = await screen.findByRole('heading', { level: 1 })
    expect(title.textContent).toBe('baseline 4k run-1')
    expect(within(screen.getByRole('list', { name: 'Tags' })).getAllByRole('listitem').map((t) => t.textContent)).toEqual(['bpe', 'small'])
    expect(screen.getByText('first try')).toBeTruthy()

    await user.click(screen.getByRole('button', { name: 'Edit labels' }))
    expect(screen.getByLabelText('Name').getAttribute('placeholder')).toBe('No name (shown by its id)') // words, not an id that reads as typed
    await user.clear(screen.getByLabelText('Name'))
    await user.type(screen.getByLabelText('Name'), 'lr sweep')
    await user.clear(screen.getByLabelText('Tags'))
    await user.type(screen.getByLabelText('Tags'), 'bpe, sweep BPE bad/tag')
    expect(screen.getByRole('alert').textContent).toContain("'bad/tag'")
    await user.type(screen.getByLabelText('Tags'), '{Backspace}{Backspace}{Backspace}{Backspace}{Backspace}{Backspace}{Backspace}{Backspace}')
    await user.click(screen.getByRole('button', { name: 'Save labels' }))
    // Only what changed: the name, and the tags as additions and removals (never the whole list).
    await waitFor(() => expect(patches).toEqual([{ name: 'lr sweep', add_tags: ['sweep'], remove_tags: ['small'] }]))
    await waitFor(() => expect(screen.getByRole('heading', { level: 1 }).textContent).toBe('lr sweep run-1'))
    expect(within(screen.getByRole('list', { name: 'Tags' })).getAllByRole('listitem').map((t) => t.textContent)).toEqual(['bpe', 'sweep'])
  })

  it('shows bits per byte, lengths, sample figures, regressions and the samples at each evaluation', async () => {
    const user = userEvent.setup()
    const finished = { ...finishedRun('run-1'), stopped_early: { patience: 3, best_step: 200, best_val_loss: 4.9, at_step: 260 } } as RunPublic
    serve(finished, {
      'GET /runs/run-1/eval': () =>
        jsonResponse(200, {
          run_id: 'run-1', eval_id: 'evl-1', status: 'completed', message: null, error: null,
          metrics: {
            run_id: 'run-1', split: 'val', corpus_path: null, loss: 5.01, perplexity: 150.4, tokens: 4000, chars: 14000,
            tokens_per_char: 0.28, windows: 31, finished_at: '2025-01-01T10:03:00Z', bits_per_byte: 2.0123,
            length_stats: { documents: 12, mean_tokens: 333.3, p50_tokens: 300, p95_tokens: 700, max_tokens: 900, tokens_per_char: 0.28 },
            sample_stats: { distinct_1: 0.5, distinct_2: 0.8, repetition: 0.125 },
            regressions: [{ figure: 'loss', value: 5.01, baseline: 4.8, baseline_run_id: 'run-0' }],
          },
          samples: [],
        }),
      'GET /runs/run-1/samples': () =>
        jsonResponse(200, {
          run_id: 'run-1',
          data: [{ step: 100, samples: [{ prompt: 'ROMEO:', text: ' the king' }], distinct_1: 0.75, distinct_2: 0.9, repetition: 0 }],
          count: 1,
        }),
    })
    const { RunPage } = await import('./runs.$runId')
    render(<RunPage runId="run-1" />)
    expect((await screen.findByTestId('eval-bpb')).textContent).toBe('2.012')
    expect(screen.getByTestId('eval-lengths').textContent).toBe('12 documents, mean 333.3 tokens (median 300, 95th percentile 700, longest 900)')
    expect(screen.getByTestId('eval-sample-stats').textContent).toBe('distinct-1 50.0%, distinct-2 80.0%, repetition 12.5%')
    const regressions = screen.getByRole('alert', { name: 'Regressions' })
    expect(regressions.textContent).toContain('loss 5.010 against 4.800 for run-0')
    expect(screen.getByTestId('run-stopped-early').textContent).toContain('Stopped early at step 260')
    const row = (await screen.findByText('75.0%')).closest('tr') as HTMLElement
    expect(within(row).getAllByRole('cell').slice(0, 4).map((c) => c.textContent)).toEqual(['100', '75.0%', '90.0%', '0.0%'])
    await user.click(within(row).getByText('1 sample'))
    expect(within(row).getByText('ROMEO:').closest('pre')?.textContent).toBe('ROMEO: the king')
  })
})
