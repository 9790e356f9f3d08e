import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { render, screen, waitFor, within } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { MODEL_BACKENDS, finishedRun, tokenizer } from '../test/fixtures'
import { apiFetch, jsonResponse } from '../test/fakes'
import type { RunConfig, RunPublic } from '../api/types'
import { NewRunPage } from './runs.new'

const TOKENIZERS = {
  data: [
    tokenizer('tok-a', 4096, 'demo/python-stdlib.txt'),
    tokenizer('tok-busy', 8000, 'x.txt', 'running'),
    tokenizer('tok-shakes', 65, 'shakespeare.txt'),
  ],
  count: 3,
}

// Whole-page tests typing into a long form: slow on a busy two-core machine.
vi.setConfig({ testTimeout: 30_000 })

let posted: unknown[] = []
let runLists = 0

/** A LoRA fine-tune of run-1, as the API records it (the weights' shape and tokenizer). */
function fineTuned(): RunPublic {
  const run = finishedRun('run-ft')
  return {
    ...run,
    config: {
      ...run.config,
      model: { ...run.config.model, n_layer: 4, n_head: 4, n_embd: 128, max_seq_len: 64, dropout: 0.1, init_from: { run_id: 'run-1' } },
      finetune: { method: 'lora', rank: 4, alpha: 8, dropout: 0.05, target_modules: ['c_attn'], export_adapter: true },
    },
    finetune: {
      origin: { run_id: 'run-1', model_type: 'gpt2', weights_files: ['model.safetensors'] },
      method: 'lora',
      lora: { rank: 4, alpha: 8, dropout: 0.05, target_modules: ['c_attn'] },
      trainable_parameters: 16_384,
      adapter_exported: true,
    },
  }
}
let estimated: RunConfig[] = []
let answer: () => Response

/** What the fake API estimates: gpt2 nano's count, another for other families, GPT-2
 * small's for weights to start from; a batch over 64 does not fit. */
function estimateOf(body: RunConfig) {
  const weights = body.model.init_from !== undefined && body.model.init_from !== null
  const family = weights ? 'gpt2' : body.model.family
  const gpt2 = family === 'gpt2'
  const fits = body.trainer.batch_size <= 64
  const shape = weights ? { n_layer: 12, n_head: 12, n_embd: 768, max_seq_len: 1024 } : { n_layer: 4, n_head: 4, n_embd: 128, max_seq_len: 128 }
  return {
    family,
    architecture: { family, ...shape, vocab_size: 4096, dropout: 0, options: {} },
    parameters: weights ? 124_439_808 : gpt2 ? 1_334_016 : 2_097_152,
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
  runLists = 0
  answer = () => jsonResponse(202, { run_id: 'run-new', status: 'queued' })
  window.location.hash = '#/runs/new'
  const { fetchImpl } = apiFetch({
    'GET /backends': () => jsonResponse(200, MODEL_BACKENDS),
    'GET /tokenizers': () => jsonResponse(200, TOKENIZERS),
    'GET /runs/run-1': () => jsonResponse(200, finishedRun('run-1')),
    'GET /runs/run-ft': () => jsonResponse(200, fineTuned()),
    'GET /runs': () => {
      runLists += 1
      return jsonResponse(200, { data: [fineTuned(), { ...finishedRun('run-busy'), status: 'running' }, finishedRun('run-1')], count: 3 })
    },
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
      const shown = el?.value === '' ? undefined : el?.tagName === 'SELECT' ? JSON.parse(el.value) : Number(el?.value)
      expect([name, shown]).toEqual([name, prop.default])
    }
    expect(screen.getByLabelText(/^Batch size/).closest('.field')?.textContent).toContain('(default 12)')
    const options = screen.getAllByRole('option').map((o) => o.textContent ?? '')
    expect(options.some((o) => o.startsWith('tok-busy'))).toBe(false)
    expect(options.some((o) => o.startsWith('tok-shakes'))).toBe(true)
  })

  it('fills the Quick Shakespeare preset and sends it', async () => {
    const user = userEvent.setup()
    render(<NewRunPage />)
    await ready()
    await setValue(user, /^Batch size/, '64')
    await setValue(user, /^Layers/, '2')
    await user.click(screen.getByRole('button', { name: 'Quick Shakespeare' }))
    expect(screen.getByLabelText(/^Size/)).toHaveProperty('value', 'nano')
    expect(value(/^Layers/)).toBe('')
    expect(value(/^Context length/)).toBe('64')
    expect(value(/^Batch size/)).toBe('12')
    expect(value(/^Max steps/)).toBe('2000')
    expect(value(/^Learning rate/)).toBe('0.001')
    expect(value(/^Minimum LR/)).toBe('0.0001')
    expect(value(/^Warmup steps/)).toBe('100')
    expect(value(/^Adam beta2/)).toBe('0.99')
    expect(value(/^Eval interval/)).toBe('250')
    expect(value(/^Eval batches/)).toBe('20')
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
    await waitFor(() => expect(value(/^Max steps/)).toBe('300'))
    expect(screen.getByText(/Starting from the config of/).textContent).toContain('run-1')
    expect(value(/^Batch size/)).toBe('8')
    expect(value(/^Context length/)).toBe('128')
    expect(value(/^Warmup steps/)).toBe('30')
    expect(value(/^Corpus/)).toBe('demo/python-stdlib.txt')
    expect(screen.getByLabelText(/^Tokenizer/)).toHaveProperty('value', 'tok-a')
    await waitFor(() => expect(estimate()).toBe('1,334,016')) // the API's estimate of the clone

    await setValue(user, /^Max steps/, '600')
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
    await setValue(user, /^Batch size/, '100')
    await user.click(screen.getByRole('button', { name: 'Start training' }))
    const batch = input(/^Batch size/)
    await waitFor(() => expect(batch.getAttribute('aria-invalid')).toBe('true'))
    expect(errorOf(batch)).toBe('Input should be less than or equal to 4096')
    expect(errorOf(input(/^Dropout/))).toBe('too high')
    expect(document.activeElement).toBe(batch) // the first field in error
    expect(input(/^Max steps/).getAttribute('aria-invalid')).toBeNull()
    expect(window.location.hash).toBe('#/runs/new')
  })

  it('checks the shape in the browser before sending', async () => {
    const user = userEvent.setup()
    render(<NewRunPage />)
    await ready()
    await user.type(input(/^Corpus/), 'shakespeare.txt')
    await user.type(input(/^Attention heads/), '3')
    await user.click(screen.getByRole('button', { name: 'Start training' }))
    expect(errorOf(input(/^Embedding width/))).toBe('128 is not divisible by n_head 3')
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
    await setValue(user, /^Batch size/, '100')
    await waitFor(() => expect(screen.getByTestId('estimate-fit').textContent).toContain('MEMORY_LIMIT_EXCEEDED'))
    expect(screen.getByTestId('estimate-fit').textContent).toContain('31.0 GiB')
    expect(posted).toHaveLength(0) // estimating never starts a run
  }, 20_000)

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

  it('fine-tunes an earlier run with LoRA: no shape or tokenizer needed, the estimate follows', async () => {
    const user = userEvent.setup()
    render(<NewRunPage />)
    await ready()
    expect(screen.queryByLabelText(/^Fine-tune method/)).toBeNull() // from scratch: no fine-tune
    expect(runLists).toBe(0) // runs are read once they are a start
    await user.type(input(/^Corpus/), 'shakespeare.txt')
    await waitFor(() => expect(estimate()).toBe('1,334,016'))
    await user.selectOptions(screen.getByLabelText(/^Start from/), 'run')
    // the shape is the weights': family, size, n_layer… and the options are not shown
    expect(screen.queryByLabelText(/^Family/)).toBeNull()
    expect(screen.queryByLabelText(/^Size/)).toBeNull()
    expect(screen.queryByLabelText(/^Layers/)).toBeNull()
    expect(screen.queryByText('gpt2 options')).toBeNull()
    expect(screen.getByTestId('from-weights').textContent).toContain('from the weights')
    expect(input(/^Context length/).placeholder).toBe('from the weights')
    expect(value(/^Context length/)).toBe('')
    // the tokenizer is optional: the weights bring theirs
    const tokenizerSelect = screen.getByLabelText(/^Tokenizer/)
    expect(tokenizerSelect).toHaveProperty('value', '')
    expect(document.getElementById('run-tokenizer-hint')?.textContent).toContain('the weights bring their tokenizer')
    // completed runs only
    const runSelect = await screen.findByLabelText(/^Earlier run/)
    await waitFor(() => expect(within(runSelect).getAllByRole('option')).toHaveLength(3))
    const offered = within(runSelect).getAllByRole('option').map((o) => (o as HTMLOptionElement).value)
    expect(offered).toEqual(['', 'run-ft', 'run-1'])
    expect(screen.getByText(/Set model.init_from.run_id for an estimate/)).toBeTruthy() // nothing to estimate yet
    await user.selectOptions(runSelect, 'run-1')
    await waitFor(() => expect(estimate()).toBe('124,439,808'))
    expect(estimated.at(-1)).toMatchObject({ model: { init_from: { run_id: 'run-1' } }, finetune: { method: 'full' } })
    expect(screen.getByTestId('from-weights').textContent).toContain('gpt2, 12 layers, 12 heads, 768 wide, context 1024')

    await user.selectOptions(screen.getByLabelText(/^Fine-tune method/), 'lora')
    await setValue(user, /^LoRA rank/, '16')
    await user.type(input(/^Target modules/), 'c_attn,c_proj')
    await user.click(input(/^Also export the adapter/))
    await setValue(user, /^Context length/, '128')
    await user.click(screen.getByRole('button', { name: 'Start training' }))
    await waitFor(() => expect(posted).toHaveLength(1))
    const sent = posted[0] as RunConfig
    expect(sent.model).toEqual({ init_from: { run_id: 'run-1' }, max_seq_len: 128 })
    expect(sent.data).not.toHaveProperty('tokenizer_id')
    expect(sent.data.corpus_path).toBe('shakespeare.txt')
    expect(sent.finetune).toEqual({
      method: 'lora', rank: 16, alpha: 16, dropout: 0, target_modules: ['c_attn', 'c_proj'], export_adapter: true,
    })
  }, 20_000)

  it('fine-tunes a folder under MODELS_ROOT whole, and shows what the API says of it', async () => {
    answer = () =>
      jsonResponse(404, { code: 'NOT_FOUND', message: "model.init_from.path: 'hf/gpt3' does not exist", request_id: 'req-3' })
    const user = userEvent.setup()
    render(<NewRunPage />)
    await ready()
    await user.selectOptions(screen.getByLabelText(/^Start from/), 'path')
    await user.type(input(/^Corpus/), 'shakespeare.txt')
    await user.click(screen.getByRole('button', { name: 'Start training' }))
    expect(errorOf(input(/^Folder/))).toBe('required')
    expect(document.activeElement).toBe(input(/^Folder/))
    await user.type(input(/^Folder/), 'hf/gpt3')
    await user.click(screen.getByRole('button', { name: 'Start training' }))
    await waitFor(() => expect(errorOf(input(/^Folder/))).toBe("'hf/gpt3' does not exist"))
    expect(posted[0]).toMatchObject({ model: { init_from: { path: 'hf/gpt3' } }, finetune: { method: 'full' } })
    expect((posted[0] as RunConfig).model).not.toHaveProperty('family')
    // back to scratch: the model's fields again, and no finetune sent
    await user.selectOptions(screen.getByLabelText(/^Start from/), 'scratch')
    expect(screen.queryByLabelText(/^Fine-tune method/)).toBeNull()
    expect(value(/^Context length/)).toBe('256')
    answer = () => jsonResponse(202, { run_id: 'run-new', status: 'queued' })
    await user.click(screen.getByRole('button', { name: 'Start training' }))
    await waitFor(() => expect(posted).toHaveLength(2))
    expect(posted[1]).not.toHaveProperty('finetune')
    expect(posted[1]).toMatchObject({ model: { family: 'gpt2', size: 'nano' }, data: { tokenizer_id: 'tok-a' } })
  })

  it('clones a fine-tune: it stays one, with its start and LoRA settings', async () => {
    const user = userEvent.setup()
    render(<NewRunPage from="run-ft" />)
    await waitFor(() => expect(screen.getByLabelText(/^Start from/)).toHaveProperty('value', 'run'))
    await waitFor(() => expect(screen.getByLabelText(/^Earlier run/)).toHaveProperty('value', 'run-1'))
    expect(screen.getByLabelText(/^Fine-tune method/)).toHaveProperty('value', 'lora')
    expect(value(/^LoRA rank/)).toBe('4')
    expect(value(/^LoRA alpha/)).toBe('8')
    expect(value(/^LoRA dropout/)).toBe('0.05')
    expect(value(/^Target modules/)).toBe('c_attn')
    expect(input(/^Also export the adapter/).checked).toBe(true)
    expect(value(/^Context length/)).toBe('64')
    expect(screen.queryByLabelText(/^Family/)).toBeNull()
    await waitFor(() => expect(estimate()).toBe('124,439,808'))

    await setValue(user, /^Max steps/, '600')
    await user.click(screen.getByRole('button', { name: 'Start training' }))
    await waitFor(() => expect(posted).toHaveLength(1))
    const source = fineTuned().config
    expect(posted[0]).toEqual({
      model: { init_from: { run_id: 'run-1' }, max_seq_len: 64, dropout: 0.1 },
      data: source.data,
      trainer: { ...source.trainer, max_steps: 600 },
      finetune: source.finetune,
    })
  })

  it('says what the preset needs when no completed tokenizer was trained on a corpus that is there', async () => {
    const { fetchImpl } = apiFetch({
      'GET /backends': () => jsonResponse(200, MODEL_BACKENDS),
      'GET /tokenizers': () => jsonResponse(200, { data: [tokenizer('tok-gone', 300, 'deleted.txt')], count: 1 }),
      'GET /corpus': () => jsonResponse(200, { path: '', bytes: 10, files: 1, data: [{ name: 'shakespeare.txt', path: 'shakespeare.txt', kind: 'file', bytes: 10, files: 1 }], count: 1 }),
    })
    vi.stubGlobal('fetch', fetchImpl)
    render(<NewRunPage />)
    const hint = await screen.findByText(/Needs a corpus file and a completed tokenizer trained on it/)
    expect(hint.querySelector('a')?.getAttribute('href')).toBe('#/tokenizers/new')
    expect(screen.getByRole('button', { name: 'Quick Shakespeare' })).toHaveProperty('disabled', true)
  })

  it('names and tags the run, clears a field\'s error as it is edited, and shows it as a CLI command and TOML', async () => {
    answer = () => jsonResponse(422, { code: 'CONFIG_INVALID', message: 'tags: too many; trainer.max_steps: too few', request_id: 'r' })
    const user = userEvent.setup()
    render(<NewRunPage />)
    await ready()
    await user.type(input(/^Name/), 'first try')
    await user.type(input(/^Tags/), 'Baseline, lr-sweep baseline')
    await user.type(input(/^Corpus/), 'shakespeare.txt')
    await user.click(screen.getByRole('button', { name: 'Start training' }))
    await waitFor(() => expect(errorOf(input(/^Tags/))).toBe('too many'))
    expect(posted[0]).toMatchObject({ name: 'first try', tags: ['Baseline', 'lr-sweep'] })
    expect(posted[0]).not.toHaveProperty('notes')
    expect(errorOf(input(/^Max steps/))).toBe('too few')
    await user.type(input(/^Tags/), 'x')
    expect(input(/^Tags/).getAttribute('aria-invalid')).toBeNull() // edited: its error is gone
    expect(errorOf(input(/^Max steps/))).toBe('too few') // the others stay

    await user.click(screen.getByText('The same run from the command line'))
    const toml = screen.getByTestId('run-toml').textContent ?? ''
    expect(toml).toContain('name = "first try"')
    expect(toml).toContain('[data]\n')
    expect(toml).toContain('tokenizer_id = "tok-a"')
    expect(screen.getByTestId('cli-command').textContent).toBe(
      "model-trainer runs train --name 'first try' --tag Baseline --tag lr-sweep --tag baselinex --family gpt2 --size nano --tokenizer tok-a --corpus shakespeare.txt --max-steps 2000",
    )
    expect(screen.getByTestId('cli-config-command').textContent).toBe('model-trainer runs train --config run.toml --follow')
  }, 20_000)

  it('marks what differs from the cloned run, counts it, and resets it', async () => {
    const user = userEvent.setup()
    render(<NewRunPage from="run-1" />)
    await waitFor(() => expect(value(/^Max steps/)).toBe('300'))
    expect(screen.queryByTestId('clone-changes')).toBeNull()
    await setValue(user, /^Max steps/, '600')
    await setValue(user, /^Adam beta1/, '0.8')
    expect(screen.getByTestId('clone-changes').textContent).toContain('2 settings changed')
    expect(input(/^Max steps/).closest('.field')?.className).toContain('field-changed')
    await user.click(screen.getByRole('button', { name: 'Reset Max steps to the cloned value 300' }))
    expect(value(/^Max steps/)).toBe('300')
    expect(screen.getByTestId('clone-changes').textContent).toContain('1 setting changed')
    await user.clear(input(/^Corpus/))
    await user.click(screen.getByRole('button', { name: 'Reset Corpus to the cloned value demo/python-stdlib.txt' }))
    expect(value(/^Corpus/)).toBe('demo/python-stdlib.txt')
  }, 20_000)

  it('keeps the advanced settings folded, with a count of what differs from the defaults', async () => {
    const user = userEvent.setup()
    render(<NewRunPage />)
    await ready()
    const advanced = screen.getByText(/^Advanced settings/).closest('details')
    expect(advanced?.open).toBe(false)
    expect(screen.getByTestId('advanced-count').textContent).toBe('(all defaults)')
    expect(advanced?.contains(input(/^Layers/))).toBe(true)
    expect(advanced?.contains(input(/^Learning rate/))).toBe(false)
    await setValue(user, /^Weight decay/, '0')
    await setValue(user, /^Learning rate/, '0.01') // up front: not counted
    expect(screen.getByTestId('advanced-count').textContent).toBe('(1 setting changed)')
  })
})
