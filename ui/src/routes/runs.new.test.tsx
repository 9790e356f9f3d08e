import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { render, screen, waitFor, within } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { MODEL_BACKENDS, finishedRun, tokenizer } from '../test/fixtures'
import { apiFetch, jsonResponse } from '../test/fakes'
import type { RunConfig } from '../api/types'
import { NewRunPage } from './runs.new'

const TOKENIZERS = {
  data: [
    tokenizer('tok-a', 4096, 'demo/python-stdlib.txt'),
    tokenizer('tok-busy', 8000, 'x.txt', 'running'),
    tokenizer('tok-shakes', 65, 'shakespeare.txt'),
  ],
  count: 3,
}

let posted: unknown[] = []
let estimated: RunConfig[] = []
let answer: () => Response

/** What the fake API estimates: gpt2 nano's count, another for other families; a batch
 * over 64 does not fit. */
function estimateOf(body: RunConfig) {
  const gpt2 = body.model.family === 'gpt2'
  const fits = body.trainer.batch_size <= 64
  return {
    family: body.model.family,
    architecture: { family: body.model.family, n_layer: 4, n_head: 4, n_embd: 128, max_seq_len: 128, vocab_size: 4096, dropout: 0, options: {} },
    parameters: gpt2 ? 1_334_016 : 2_097_152,
    flops_per_token: 8_100_000,
    tokens_per_step: 1536,
    memory: { state_bytes: 21_344_256, activation_bytes: 9_437_184, overhead_bytes: 629_145_600, total_bytes: 659_927_040 },
    budget: { worker: 'host.1', device: 'cpu', device_name: 'x86_64', device_memory_bytes: 8 * 1024 ** 3, memory_fraction: 0.8, budget_bytes: 6_871_947_673 },
    fits,
    code: fits ? null : 'MEMORY_LIMIT_EXCEEDED',
    reason: fits ? null : 'one step would need about 31.0 GiB',
  }
}

beforeEach(() => {
  posted = []
  estimated = []
  answer = () => jsonResponse(202, { run_id: 'run-new', status: 'queued' })
  window.location.hash = '#/runs/new'
  const { fetchImpl } = apiFetch({
    'GET /backends': () => jsonResponse(200, MODEL_BACKENDS),
    'GET /tokenizers': () => jsonResponse(200, TOKENIZERS),
    'GET /runs/run-1': () => jsonResponse(200, finishedRun('run-1')),
    'GET /corpus': (req) => {
      const path = new URL(req.url).searchParams.get('path') ?? ''
      const entry = (name: string, kind: 'file' | 'folder', bytes: number, files: number) => ({
        name, path: path ? `${path}/${name}` : name, kind, bytes, files,
      })
      const data = path === 'demo'
        ? [entry('python-stdlib.txt', 'file', 4_698_555, 1)]
        : [entry('demo', 'folder', 4_698_555, 1), entry('empty', 'folder', 0, 0), entry('shakespeare.txt', 'file', 1_115_394, 1)]
      return jsonResponse(200, { path, bytes: 5_813_949, files: 2, data, count: data.length })
    },
    'POST /runs/estimate': async (req) => {
      const body = (await req.json()) as RunConfig
      estimated.push(body)
      return jsonResponse(200, estimateOf(body))
    },
    'POST /runs/train': async (req) => {
      posted.push(await req.json())
      return answer()
    },
  })
  vi.stubGlobal('fetch', fetchImpl)
})
afterEach(() => {
  vi.unstubAllGlobals()
})

const input = (label: RegExp): HTMLInputElement => screen.getByLabelText(label)
const value = (label: RegExp): string => input(label).value
const errorOf = (el: HTMLElement): string | null | undefined =>
  document.getElementById(el.getAttribute('aria-describedby')?.split(' ').find((id) => id.endsWith('-error')) ?? '')?.textContent
const estimate = (): string => screen.getByTestId('parameter-estimate').textContent ?? ''

async function ready(): Promise<void> {
  await waitFor(() => expect(screen.getByLabelText(/^Tokenizer/)).toHaveProperty('value', 'tok-a'))
}

async function setValue(user: ReturnType<typeof userEvent.setup>, label: RegExp, text: string): Promise<void> {
  await user.clear(input(label))
  await user.type(input(label), text)
}

describe('New training run', () => {
  it("starts from the defaults of the API's TrainerSpec, offering completed tokenizers only", async () => {
    render(<NewRunPage />)
    await ready()
    const schema = JSON.parse(readFileSync(join(process.cwd(), 'scripts/openapi.json'), 'utf8')) as {
      components: { schemas: { TrainerSpec: { properties: Record<string, { default?: unknown }> } } }
    }
    for (const [name, prop] of Object.entries(schema.components.schemas.TrainerSpec.properties)) {
      const el = document.getElementById(`run-trainer-${name}`) as HTMLInputElement | null
      const shown = el?.tagName === 'SELECT' ? JSON.parse(el.value) : Number(el?.value)
      expect([name, shown]).toEqual([name, prop.default])
    }
    expect(screen.getByLabelText(/^Batch Size/).closest('.field')?.textContent).toContain('(default 12)')
    const options = screen.getAllByRole('option').map((o) => o.textContent ?? '')
    expect(options.some((o) => o.startsWith('tok-busy'))).toBe(false)
    expect(options.some((o) => o.startsWith('tok-shakes'))).toBe(true)
  })

  it('fills the Quick Shakespeare preset and sends it', async () => {
    const user = userEvent.setup()
    render(<NewRunPage />)
    await ready()
    await setValue(user, /^Batch Size/, '64')
    await setValue(user, /^N Layer/, '2')
    await user.click(screen.getByRole('button', { name: 'Quick Shakespeare' }))
    expect(screen.getByLabelText(/^Size/)).toHaveProperty('value', 'nano')
    expect(value(/^N Layer/)).toBe('')
    expect(value(/^Max Seq Len/)).toBe('64')
    expect(value(/^Batch Size/)).toBe('12')
    expect(value(/^Max Steps/)).toBe('2000')
    expect(value(/^Learning Rate/)).toBe('0.001')
    expect(value(/^Min Lr/)).toBe('0.0001')
    expect(value(/^Warmup Steps/)).toBe('100')
    expect(value(/^Beta2/)).toBe('0.99')
    expect(value(/^Eval Interval/)).toBe('250')
    expect(value(/^Eval Steps/)).toBe('20')
    expect(value(/^Corpus/)).toBe('shakespeare.txt')
    // the tokenizer trained on that corpus is picked
    expect(screen.getByLabelText(/^Tokenizer/)).toHaveProperty('value', 'tok-shakes')

    await user.click(screen.getByRole('button', { name: 'Start training' }))
    await waitFor(() => expect(window.location.hash).toBe('#/runs/run-new'))
    expect(posted[0]).toMatchObject({
      model: { family: 'gpt2', size: 'nano', max_seq_len: 64, dropout: 0, options: {} },
      data: { tokenizer_id: 'tok-shakes', corpus_path: 'shakespeare.txt', holdout_fraction: 0.1, holdout_strategy: 'tail' },
      trainer: {
        max_steps: 2000, batch_size: 12, learning_rate: 1e-3, min_lr: 1e-4, warmup_steps: 100, beta2: 0.99,
        eval_interval: 250, eval_steps: 20, grad_accum_steps: 1, seed: 1337, device: 'auto',
      },
    })
    expect(posted[0]).not.toHaveProperty('model.n_layer')
  })

  it("clones a run: its config fills the form, and one change is sent with the rest as it was", async () => {
    const user = userEvent.setup()
    render(<NewRunPage from="run-1" />)
    await waitFor(() => expect(value(/^Max Steps/)).toBe('300'))
    expect(screen.getByText(/Starting from the config of/).textContent).toContain('run-1')
    expect(value(/^Batch Size/)).toBe('8')
    expect(value(/^Max Seq Len/)).toBe('128')
    expect(value(/^Warmup Steps/)).toBe('30')
    expect(value(/^Corpus/)).toBe('demo/python-stdlib.txt')
    expect(screen.getByLabelText(/^Tokenizer/)).toHaveProperty('value', 'tok-a')
    await waitFor(() => expect(estimate()).toBe('1,334,016')) // the API's estimate of the clone

    await setValue(user, /^Max Steps/, '600')
    await user.click(screen.getByRole('button', { name: 'Start training' }))
    await waitFor(() => expect(posted).toHaveLength(1))
    const source = finishedRun('run-1').config
    const { n_layer: _a, n_head: _b, n_embd: _c, ...model } = source.model
    expect(posted[0]).toEqual({ model, data: source.data, trainer: { ...source.trainer, max_steps: 600 } })
  })

  it("shows the API's 422 naming trainer.batch_size next to that field", async () => {
    answer = () =>
      jsonResponse(422, {
        code: 'CONFIG_INVALID',
        message: 'trainer.batch_size: Input should be less than or equal to 4096; model.dropout: too high',
        request_id: 'req-1',
      })
    const user = userEvent.setup()
    render(<NewRunPage />)
    await ready()
    await user.type(input(/^Corpus/), 'shakespeare.txt')
    await setValue(user, /^Batch Size/, '100')
    await user.click(screen.getByRole('button', { name: 'Start training' }))
    const batch = input(/^Batch Size/)
    await waitFor(() => expect(batch.getAttribute('aria-invalid')).toBe('true'))
    expect(errorOf(batch)).toBe('Input should be less than or equal to 4096')
    expect(errorOf(input(/^Dropout/))).toBe('too high')
    expect(document.activeElement).toBe(input(/^Dropout/)) // the first field in error
    expect(input(/^Max Steps/).getAttribute('aria-invalid')).toBeNull()
    expect(window.location.hash).toBe('#/runs/new')
  })

  it('checks the shape in the browser before sending', async () => {
    const user = userEvent.setup()
    render(<NewRunPage />)
    await ready()
    await user.type(input(/^Corpus/), 'shakespeare.txt')
    await user.type(input(/^N Head/), '3')
    await user.click(screen.getByRole('button', { name: 'Start training' }))
    expect(errorOf(input(/^N Embd/))).toBe('128 is not divisible by n_head 3')
    expect(posted).toHaveLength(0)
  })

  it('shows a refusal of the whole run prominently, with its message', async () => {
    answer = () =>
      jsonResponse(422, {
        code: 'MEMORY_LIMIT_EXCEEDED',
        message: 'model and trainer: one step would need about 31.0 GiB; the roomiest live worker allows 6.2 GiB',
        request_id: 'req-2',
      })
    const user = userEvent.setup()
    render(<NewRunPage />)
    await ready()
    await user.type(input(/^Corpus/), 'shakespeare.txt')
    await user.click(screen.getByRole('button', { name: 'Start training' }))
    const code = await screen.findByText('MEMORY_LIMIT_EXCEEDED')
    const alert = code.closest('[role="alert"]')
    expect(alert?.textContent).toContain('The API refused this run')
    expect(alert?.textContent).toContain('one step would need about 31.0 GiB')
    expect(document.activeElement).toBe(alert)
  })

  it("shows the API's estimate as the form changes, for every family, with why it does not fit", async () => {
    const user = userEvent.setup()
    render(<NewRunPage />)
    await ready()
    expect(estimate()).toBe('—') // no corpus yet: nothing to estimate
    expect(screen.getByText(/data.corpus_path for an estimate/)).toBeTruthy()
    await user.type(input(/^Corpus/), 'shakespeare.txt')
    await waitFor(() => expect(estimate()).toBe('1,334,016'))
    expect(screen.getByTestId('flops-estimate').textContent).toBe('8.1 M')
    expect(screen.getByTestId('memory-estimate').textContent).toContain('of 6.40 GB')
    expect(screen.getByTestId('estimate-fit').textContent).toContain('Fits')
    await user.selectOptions(screen.getByLabelText(/^Family/), 'gpt_neox')
    await waitFor(() => expect(estimate()).toBe('2,097,152'))
    expect(estimated.at(-1)?.model.family).toBe('gpt_neox')
    expect(estimated.at(-1)?.model.options).toHaveProperty('rotary_pct', 0.25)
    await setValue(user, /^Batch Size/, '100')
    await waitFor(() => expect(screen.getByTestId('estimate-fit').textContent).toContain('MEMORY_LIMIT_EXCEEDED'))
    expect(screen.getByTestId('estimate-fit').textContent).toContain('31.0 GiB')
    expect(posted).toHaveLength(0) // estimating never starts a run
  })

  it('picks the corpus from the corpus folder, with sizes', async () => {
    const user = userEvent.setup()
    render(<NewRunPage />)
    await ready()
    await user.click(screen.getByRole('button', { name: 'Browse…' }))
    const browser = await screen.findByRole('group', { name: 'Corpus folder' })
    expect((await within(browser).findByRole('button', { name: 'Choose shakespeare.txt' })).parentElement?.textContent).toBe(
      'shakespeare.txt 1.1 MB',
    )
    expect(within(browser).getByText('0 B, no corpus files')).toBeTruthy()
    await user.click(within(browser).getByRole('button', { name: 'Open folder demo' }))
    await user.click(await within(browser).findByRole('button', { name: 'Choose python-stdlib.txt' }))
    expect(value(/^Corpus/)).toBe('demo/python-stdlib.txt')
    expect(document.activeElement).toBe(input(/^Corpus/))
    expect(screen.queryByRole('group', { name: 'Corpus folder' })).toBeNull()
  })
})
