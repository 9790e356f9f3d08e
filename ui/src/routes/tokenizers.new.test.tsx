import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { render, screen, waitFor } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { BackendPublic } from '../api/types'
import { TOKENIZER_DEFAULTS } from '../lib/tokenizerForm'
import { apiFetch, jsonResponse } from '../test/fakes'
import { NewTokenizerPage } from './tokenizers.new'

const NO_OPTIONS = { additionalProperties: false, properties: {}, title: 'NoOptions', type: 'object' }
const backend = (name: string, schema: object, status: 'ok' | 'broken' = 'ok', trains = true): BackendPublic => ({
  kind: 'tokenizer',
  name,
  distribution: 'model-trainer',
  version: '0.1.0',
  status,
  reason: status === 'ok' ? null : 'ImportError: nope',
  sizes: null,
  options_schema: schema as BackendPublic['options_schema'],
  trains,
  passed_over: [],
})
const BACKENDS = {
  data: [
    backend('bpe', NO_OPTIONS),
    backend('sentencepiece', {
      additionalProperties: false,
      properties: { model_type: { default: 'unigram', enum: ['unigram', 'bpe'], title: 'Model Type', type: 'string' } },
      title: 'SentencePieceOptions',
      type: 'object',
    }),
    backend('broken_one', NO_OPTIONS, 'broken'),
    backend('hf', NO_OPTIONS, 'ok', false),
  ],
  count: 4,
}

let posted: unknown[] = []

function serve(trainAnswer: () => Response) {
  const { fetchImpl } = apiFetch({
    'GET /backends': () => jsonResponse(200, BACKENDS),
    'GET /tokenizers': () => jsonResponse(200, { data: [], count: 0 }),
    'POST /tokenizers/train': async (req) => {
      posted.push(await req.json())
      return trainAnswer()
    },
  })
  vi.stubGlobal('fetch', fetchImpl)
}

beforeEach(() => {
  posted = []
  window.location.hash = '#/tokenizers/new'
})
afterEach(() => {
  vi.unstubAllGlobals()
})

describe('New tokenizer', () => {
  it("shows the defaults the API's schema declares", () => {
    const schema = JSON.parse(readFileSync(join(process.cwd(), 'scripts/openapi.json'), 'utf8')) as {
      components: { schemas: { TokenizerTrainConfig: { properties: Record<string, { default?: unknown }> } } }
    }
    const props = schema.components.schemas.TokenizerTrainConfig.properties
    for (const [name, value] of Object.entries(TOKENIZER_DEFAULTS)) expect(props[name]?.default).toBe(value)
  })

  it('builds the options form from the chosen method and sends typed options', async () => {
    serve(() => jsonResponse(202, { tokenizer_id: 'tok-123', status: 'queued' }))
    const user = userEvent.setup()
    render(<NewTokenizerPage />)
    const method = await screen.findByLabelText('Method')
    await waitFor(() => expect(method).toHaveProperty('value', 'bpe'))
    expect(screen.getByText(/No options/)).toBeTruthy()
    expect(screen.getByRole('option', { name: /broken_one.*broken/ })).toHaveProperty('disabled', true)
    // hf only registers the tokenizer of a model folder a fine-tune brings: never offered
    expect(screen.queryByRole('option', { name: /^hf/ })).toBeNull()
    await user.selectOptions(method, 'sentencepiece')
    await user.selectOptions(screen.getByLabelText(/Model type/), 'bpe')
    await user.type(screen.getByLabelText(/Corpus/), 'shakespeare.txt')
    await user.click(screen.getByRole('button', { name: 'Train tokenizer' }))
    await waitFor(() => expect(window.location.hash).toBe('#/tokenizers/tok-123'))
    expect(posted).toEqual([
      {
        method: 'sentencepiece',
        vocab_size: 8000,
        min_frequency: 2,
        corpus_path: 'shakespeare.txt',
        holdout_fraction: 0.1,
        seed: 42,
        options: { model_type: 'bpe' },
        min_length: 1,
        tags: [],
      },
    ])
  })

  it('checks the form before sending', async () => {
    serve(() => jsonResponse(202, { tokenizer_id: 'tok-1', status: 'queued' }))
    const user = userEvent.setup()
    render(<NewTokenizerPage />)
    await waitFor(() => expect(screen.getByLabelText('Method')).toHaveProperty('value', 'bpe'))
    await user.clear(screen.getByLabelText(/Vocabulary size/))
    await user.click(screen.getByRole('button', { name: 'Train tokenizer' }))
    expect(await screen.findByText('must be a whole number')).toBeTruthy()
    expect(screen.getByText('required')).toBeTruthy()
    expect(posted).toEqual([])
  })

  it("shows the API's 422 next to the fields it names", async () => {
    serve(() =>
      jsonResponse(422, {
        code: 'CONFIG_INVALID',
        message: "vocab_size: 9999999 exceeds the limit 100000; options.model_type: Input should be 'unigram' or 'bpe'",
        request_id: 'req-7',
      }),
    )
    const user = userEvent.setup()
    render(<NewTokenizerPage />)
    await waitFor(() => expect(screen.getByLabelText('Method')).toHaveProperty('value', 'bpe'))
    await user.selectOptions(screen.getByLabelText('Method'), 'sentencepiece')
    await user.type(screen.getByLabelText(/Corpus/), 'c.txt')
    await user.click(screen.getByRole('button', { name: 'Train tokenizer' }))
    const vocab = screen.getByLabelText(/Vocabulary size/)
    await waitFor(() => expect(vocab.getAttribute('aria-invalid')).toBe('true'))
    expect(document.getElementById(vocab.getAttribute('aria-describedby') ?? '')?.textContent).toBe(
      '9999999 exceeds the limit 100000',
    )
    const modelType = screen.getByLabelText(/Model type/)
    expect(document.getElementById(modelType.getAttribute('aria-describedby') ?? '')?.textContent).toBe(
      "Input should be 'unigram' or 'bpe'",
    )
    expect(window.location.hash).toBe('#/tokenizers/new')
  })

  it('shows an error that names no field with its code', async () => {
    serve(() => jsonResponse(503, { code: 'QUEUE_UNAVAILABLE', message: 'Redis does not answer', request_id: 'req-8' }))
    const user = userEvent.setup()
    render(<NewTokenizerPage />)
    await waitFor(() => expect(screen.getByLabelText('Method')).toHaveProperty('value', 'bpe'))
    await user.type(screen.getByLabelText(/Corpus/), 'c.txt')
    await user.click(screen.getByRole('button', { name: 'Train tokenizer' }))
    const alert = await screen.findByText('QUEUE_UNAVAILABLE')
    expect(alert.closest('[role="alert"]')?.textContent).toContain('Redis does not answer')
    expect(screen.getByText('request req-8')).toBeTruthy()
  })
})
