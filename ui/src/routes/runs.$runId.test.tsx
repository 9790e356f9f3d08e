import { act, cleanup, render, screen, waitFor, within } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { MetricRecord, RunPublic } from '../api/types'
import { FakeEventSource, apiFetch, jsonResponse } from '../test/fakes'
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
    metrics: { best_val_loss: 2.7, best_step: 50, final_train_loss: null, final_val_loss: null, final_val_perplexity: null, tokens_per_s: null },
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
        checkpoint_interval: 50, log_interval: 10, seed: 1, device: 'auto', precision: 'auto', compile: 'auto', nproc: 1,
      },
      finetune: { method: 'full', rank: 8, alpha: 16, dropout: 0, target_modules: null, export_adapter: false },
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
      ['last.pt', 'latest (resuming starts here)', '300', '5.063'],
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
