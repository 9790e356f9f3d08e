/** The New tokenizer form's top-level fields, checked and turned into the request body. */
import type { Json, TokenizerTrainConfig } from '../api/types'

/** The API's defaults for the fields it fills in (a test checks them against the schema). */
export const TOKENIZER_DEFAULTS = {
  min_frequency: 2,
  holdout_fraction: 0.1,
  seed: 42,
} as const satisfies Partial<TokenizerTrainConfig>

export const TOP_FIELDS = ['method', 'vocab_size', 'min_frequency', 'corpus_path', 'holdout_fraction', 'seed', 'options'] as const
export type TopField = (typeof TOP_FIELDS)[number]

export interface TokenizerForm {
  method: string
  vocab_size: string
  min_frequency: string
  corpus_path: string
  holdout_fraction: string
  seed: string
}

function wholeNumber(text: string, what: string, errors: Record<string, string>, min: number): number | undefined {
  const n = Number(text)
  if (text.trim() === '' || !Number.isInteger(n)) {
    errors[what] = 'must be a whole number'
    return undefined
  }
  if (n < min) {
    errors[what] = `must be at least ${min}`
    return undefined
  }
  return n
}

/** Check the form and build the request body; errors by field name otherwise. */
export function buildTokenizerRequest(
  form: TokenizerForm,
  options: Record<string, Json>,
): { body?: TokenizerTrainConfig; errors: Record<string, string> } {
  const errors: Record<string, string> = {}
  if (!form.method) errors['method'] = 'choose a method'
  const vocab = wholeNumber(form.vocab_size, 'vocab_size', errors, 2)
  const minFreq = wholeNumber(form.min_frequency, 'min_frequency', errors, 1)
  const seed = wholeNumber(form.seed, 'seed', errors, 0)
  const holdout = Number(form.holdout_fraction)
  if (form.holdout_fraction.trim() === '' || !Number.isFinite(holdout)) {
    errors['holdout_fraction'] = 'must be a number'
  }
  const corpus = form.corpus_path.trim()
  if (!corpus) errors['corpus_path'] = 'required'
  if (Object.keys(errors).length > 0 || vocab === undefined || minFreq === undefined || seed === undefined) {
    return { errors }
  }
  return {
    errors,
    body: {
      method: form.method,
      vocab_size: vocab,
      min_frequency: minFreq,
      corpus_path: corpus,
      holdout_fraction: holdout,
      seed,
      options,
      min_length: 1, // the API's default: a structured corpus's empty records are skipped
      tags: [],
    },
  }
}

