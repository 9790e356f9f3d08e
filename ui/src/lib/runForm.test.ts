import { describe, expect, it } from 'vitest'
import { finishedRun } from '../test/fixtures'
import {
  QUICK_SHAKESPEARE,
  applyPreset,
  buildRunRequest,
  defaultForm,
  formFromConfig,
  knownFields,
  resolveShape,
  tokensPerStep,
  withStart,
  type RunForm,
} from './runForm'
import { fieldErrors } from './schemaForm'
import type { RunConfig } from '../api/types'

const SIZES = {
  nano: { n_layer: 4, n_head: 4, n_embd: 128, options: {} },
  small: { n_layer: 12, n_head: 12, n_embd: 768, options: {} },
}

describe('resolveShape', () => {
  it('resolves a named size with overrides as the API does', () => {
    expect(resolveShape(SIZES, 'nano', { n_layer: '2', n_head: '', n_embd: 'x' })).toEqual({ n_layer: 2, n_head: 4, n_embd: 128 })
    expect(resolveShape(SIZES, 'huge', {})).toBeUndefined()
  })
})

describe('the run form', () => {
  it('round-trips a run config through the form', () => {
    const config = finishedRun().config
    const built = buildRunRequest(formFromConfig(config, []), [], SIZES)
    expect(built.errors).toEqual({})
    expect(built.body?.trainer).toEqual(config.trainer)
    expect(built.body?.data).toEqual(config.data)
    expect(built.body?.model).toMatchObject({ family: 'gpt2', size: 'nano', max_seq_len: 128, dropout: 0, options: {} })
  })

  it('applies the preset over anything typed before, on the corpus and tokenizer chosen, keeping the labels', () => {
    const form = { ...defaultForm(), name: 'mine', tokenizer_id: 'tok-1', trainer: { ...defaultForm().trainer, batch_size: '99', seed: '7' } }
    const p = applyPreset(form, { corpus_path: 'demo/a.txt', tokenizer_id: 'tok-2' })
    expect(p.tokenizer_id).toBe('tok-2')
    expect(p.corpus_path).toBe('demo/a.txt')
    expect(p.name).toBe('mine')
    expect(p.trainer['batch_size']).toBe(String(QUICK_SHAKESPEARE.trainer.batch_size))
    expect(p.trainer['seed']).toBe('1337') // back to its default
    expect(tokensPerStep(p)).toBe(12 * 64)
  })

  it('names every field as the API does, for its messages', () => {
    const known = knownFields([])
    expect(fieldErrors('trainer.batch_size: too big; data.tokenizer_id: gone', known)).toEqual({
      'trainer.batch_size': 'too big',
      'data.tokenizer_id': 'gone',
    })
    expect(fieldErrors('model: 2,000,000,000 parameters exceed the limit 1,000,000,000', known)).toEqual({
      model: '2,000,000,000 parameters exceed the limit 1,000,000,000',
    })
  })

  it('requires a tokenizer and a corpus', () => {
    expect(buildRunRequest(defaultForm(), [], SIZES).errors).toEqual({
      'data.tokenizer_id': 'choose a completed tokenizer',
      'data.corpus_path': 'required',
    })
  })
})

/** A fine-tune's config as the API records it: the weights' family, shape, context and
 * tokenizer filled in, `init_from` and `finetune` as asked. */
function fineTuneConfig(init: { run_id: string } | { path: string }, finetune: RunConfig['finetune']): RunConfig {
  const config = finishedRun().config
  return {
    ...config,
    model: { family: 'gpt2', size: 'nano', n_layer: 12, n_head: 12, n_embd: 768, max_seq_len: 512, dropout: 0.1, options: {}, init_from: init },
    data: { ...config.data, tokenizer_id: 'tok-gpt2' },
    finetune,
  }
}

describe('the run form, starting from weights', () => {
  const filled = (): RunForm => ({ ...defaultForm(), tokenizer_id: 'tok-a', corpus_path: 'shakespeare.txt' })
  const lora = (form: RunForm): RunForm => ({
    ...form,
    finetune: { method: 'lora', lora: { rank: '4', alpha: '32', dropout: '0.05' }, target_modules: 'c_attn, c_proj', export_adapter: true },
  })

  it('sends the whole model and no finetune from scratch', () => {
    const body = buildRunRequest(filled(), [], SIZES).body
    expect(body?.model).toEqual({ family: 'gpt2', size: 'nano', max_seq_len: 256, dropout: 0, options: {} })
    expect(body?.data.tokenizer_id).toBe('tok-a')
    expect(body).not.toHaveProperty('finetune')
    // LoRA settings typed before going back to scratch are not sent either
    expect(buildRunRequest(lora(filled()), [], SIZES).body).not.toHaveProperty('finetune')
  })

  it("starts from an earlier run: no shape, the weights' tokenizer and context, full fine-tune", () => {
    const form = { ...withStart(filled(), 'run'), start_run: 'run-1' }
    expect(form.tokenizer_id).toBe('') // the weights bring theirs
    expect(form.model).toMatchObject({ max_seq_len: '', dropout: '' })
    const built = buildRunRequest({ ...form, model: { ...form.model, n_layer: '2', n_head: '3' } }, [], SIZES)
    expect(built.errors).toEqual({}) // shape fields are not checked or sent
    expect(built.body).toEqual({
      model: { init_from: { run_id: 'run-1' } },
      data: { corpus_path: 'shakespeare.txt', holdout_fraction: 0.1, holdout_strategy: 'random_lines', min_length: 1 },
      trainer: buildRunRequest(filled(), [], SIZES).body?.trainer,
      finetune: { method: 'full' },
    })
  })

  it('starts from an earlier run with LoRA, context and dropout as typed', () => {
    const form = lora({ ...withStart(filled(), 'run'), start_run: 'run-1' })
    const built = buildRunRequest({ ...form, model: { ...form.model, max_seq_len: '128', dropout: '0.1' } }, [], SIZES)
    expect(built.body?.model).toEqual({ init_from: { run_id: 'run-1' }, max_seq_len: 128, dropout: 0.1 })
    expect(built.body?.finetune).toEqual({
      method: 'lora', rank: 4, alpha: 32, dropout: 0.05, target_modules: ['c_attn', 'c_proj'], export_adapter: true,
    })
  })

  it('starts from a folder under MODELS_ROOT, full or LoRA, with a tokenizer if chosen', () => {
    const form = { ...withStart(filled(), 'path'), start_path: ' hf/gpt2 ', tokenizer_id: 'tok-gpt2' }
    const full = buildRunRequest(form, [], SIZES).body
    expect(full?.model).toEqual({ init_from: { path: 'hf/gpt2' } })
    expect(full?.data.tokenizer_id).toBe('tok-gpt2')
    expect(full?.finetune).toEqual({ method: 'full' })
    const withLora = buildRunRequest(
      { ...form, finetune: { ...defaultForm().finetune, method: 'lora' } },
      [],
      SIZES,
    ).body
    // LoRA's defaults from the API's FinetuneSpec; no target_modules: the family's default
    expect(withLora?.finetune).toEqual({ method: 'lora', rank: 8, alpha: 16, dropout: 0, export_adapter: false })
  })

  it('requires the start it names, checks LoRA numbers, not the tokenizer', () => {
    expect(buildRunRequest(withStart(filled(), 'run'), [], SIZES).errors).toEqual({
      'model.init_from.run_id': 'choose a completed run',
    })
    const folder = lora({ ...withStart(filled(), 'path'), start_path: '  ' })
    const errors = buildRunRequest(
      { ...folder, finetune: { ...folder.finetune, lora: { rank: '0', alpha: '16', dropout: '1' }, target_modules: 'c attn!' } },
      [],
      SIZES,
    ).errors
    expect(errors).toEqual({
      'model.init_from.path': 'required',
      'finetune.rank': 'must be at least 1',
      'finetune.dropout': 'must be less than 1',
      'finetune.target_modules': 'module names: letters, digits, _ and . only',
    })
    expect(knownFields([])).toEqual(expect.arrayContaining(['model.init_from.run_id', 'finetune.rank', 'finetune.export_adapter']))
  })

  it('goes back to scratch with the defaults of what was left empty', () => {
    const back = withStart({ ...withStart(filled(), 'path'), start_path: 'hf/gpt2' }, 'scratch')
    expect(back.model).toMatchObject({ max_seq_len: '256', dropout: '0' })
    expect(buildRunRequest({ ...back, tokenizer_id: 'tok-a' }, [], SIZES).body?.model).toEqual({
      family: 'gpt2', size: 'nano', max_seq_len: 256, dropout: 0, options: {},
    })
  })

  it('round-trips a LoRA fine-tune of an earlier run through the form (clone)', () => {
    const config = fineTuneConfig(
      { run_id: 'run-1' },
      { method: 'lora', rank: 4, alpha: 8, dropout: 0.1, target_modules: ['c_attn'], export_adapter: true },
    )
    const form = formFromConfig(config, [])
    expect(form).toMatchObject({ start: 'run', start_run: 'run-1', tokenizer_id: 'tok-gpt2' })
    expect(form.finetune).toEqual({
      method: 'lora', lora: { rank: '4', alpha: '8', dropout: '0.1' }, target_modules: 'c_attn', export_adapter: true,
    })
    const built = buildRunRequest(form, [], SIZES)
    expect(built.errors).toEqual({})
    // what the weights fix is left out; the rest is sent as it was
    expect(built.body?.model).toEqual({ init_from: { run_id: 'run-1' }, max_seq_len: 512, dropout: 0.1 })
    expect(built.body?.data).toEqual(config.data)
    expect(built.body?.trainer).toEqual(config.trainer)
    expect(built.body?.finetune).toEqual(config.finetune)
  })

  it('round-trips a full fine-tune of a folder through the form (clone)', () => {
    const config = fineTuneConfig(
      { path: 'hf/gpt2' },
      { method: 'full', rank: 8, alpha: 16, dropout: 0, target_modules: null, export_adapter: false },
    )
    const form = formFromConfig(config, [])
    expect(form).toMatchObject({ start: 'path', start_path: 'hf/gpt2', start_run: '' })
    const built = buildRunRequest(form, [], SIZES)
    expect(built.errors).toEqual({})
    expect(built.body?.model).toEqual({ init_from: { path: 'hf/gpt2' }, max_seq_len: 512, dropout: 0.1 })
    expect(built.body?.data).toEqual(config.data)
    expect(built.body?.finetune).toEqual({ method: 'full' })
  })
})
