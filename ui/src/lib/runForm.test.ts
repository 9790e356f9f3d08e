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
} from './runForm'
import { fieldErrors } from './schemaForm'

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

  it('applies the preset over anything typed before, keeping the tokenizer', () => {
    const form = { ...defaultForm(), tokenizer_id: 'tok-1', trainer: { ...defaultForm().trainer, batch_size: '99', seed: '7' } }
    const p = applyPreset(form)
    expect(p.tokenizer_id).toBe('tok-1')
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
