/** The New training run form: its state, the API's defaults (read from the generated
 * schema), the Quick Shakespeare preset, cloning a run's config, the client-side checks,
 * and the request body (the API estimates the run: `useRunEstimate`). No React here. */
import type {
  DataSpec,
  Json,
  ModelSize,
  ModelSpec,
  RunConfig,
  TrainerSpec,
} from '../api/types'
import { componentSchema } from './apiSchema'
import { collect, fieldsOf, initialValues, rawOf, withDefaults, type Field, type RawValues } from './schemaForm'

export const MODEL_SCHEMA: Json = componentSchema('ModelSpec')
export const DATA_SCHEMA: Json = componentSchema('DataSpec')
export const TRAINER_SCHEMA: Json = componentSchema('TrainerSpec')

/** What the form shows of `model` beside the family, its size and its options. */
export const MODEL_FIELDS = ['n_layer', 'n_head', 'n_embd', 'max_seq_len', 'dropout'] as const
/** What the form shows of `data` beside the tokenizer and the corpus (the text settings
 * matter for structured corpora only). */
export const DATA_FIELDS = ['holdout_fraction', 'holdout_strategy', 'text_field', 'text_template', 'min_length'] as const
/** Shape overrides: empty means "the size's own value". */
export const SHAPE_FIELDS = ['n_layer', 'n_head', 'n_embd'] as const

function pick(fields: Field[], names: readonly string[]): Field[] {
  return fields.filter((f) => names.includes(f.name))
}

export const modelFields: Field[] = pick(fieldsOf(MODEL_SCHEMA), MODEL_FIELDS)
export const dataFields: Field[] = pick(fieldsOf(DATA_SCHEMA), DATA_FIELDS)
export const trainerFields: Field[] = fieldsOf(TRAINER_SCHEMA)

/** The ModelSpec defaults of family and size (`gpt2`, `nano`). */
function schemaDefault(name: string, fallback: string): string {
  const field = fieldsOf(MODEL_SCHEMA).find((f) => f.name === name)
  return typeof field?.default === 'string' ? field.default : fallback
}
export const DEFAULT_FAMILY: string = schemaDefault('family', 'gpt2')
export const DEFAULT_SIZE: string = schemaDefault('size', 'nano')

export interface RunForm {
  family: string
  size: string
  /** n_layer, n_head, n_embd, max_seq_len, dropout as typed. */
  model: RawValues
  /** The family's options; empty until edited (the page then shows the schema's defaults). */
  options: RawValues
  tokenizer_id: string
  corpus_path: string
  /** holdout_fraction, holdout_strategy, text_field, text_template, min_length. */
  data: RawValues
  /** Every TrainerSpec field. */
  trainer: RawValues
}

export function defaultForm(): RunForm {
  return {
    family: DEFAULT_FAMILY,
    size: DEFAULT_SIZE,
    model: initialValues(modelFields),
    options: {},
    tokenizer_id: '',
    corpus_path: '',
    data: initialValues(dataFields),
    trainer: initialValues(trainerFields),
  }
}

/** The raw input values of `fields` taken from a JSON object (a config section). */
export function rawFrom(fields: Field[], source: object): RawValues {
  const values = new Map(Object.entries(source) as [string, Json][])
  const out: RawValues = {}
  for (const field of fields) out[field.name] = rawOf(field, values.get(field.name))
  return out
}

/** The "Quick Shakespeare" recipe (the top-level README's example run): a nano GPT-2 on
 * `shakespeare.txt` in a few minutes on a CPU. Names are checked against the API's types. */
export const QUICK_SHAKESPEARE = {
  model: { family: 'gpt2', size: 'nano', max_seq_len: 64, dropout: 0 },
  data: { corpus_path: 'shakespeare.txt', holdout_fraction: 0.1, holdout_strategy: 'tail' },
  trainer: {
    max_steps: 2000,
    batch_size: 12,
    learning_rate: 1e-3,
    min_lr: 1e-4,
    warmup_steps: 100,
    beta2: 0.99,
    eval_interval: 250,
    eval_steps: 20,
  },
} as const satisfies { model: Partial<ModelSpec>; data: Partial<DataSpec>; trainer: Partial<TrainerSpec> }

/** The form with the preset applied: everything it does not name goes back to its default
 * (the tokenizer is kept). */
export function applyPreset(form: RunForm): RunForm {
  const base = defaultForm()
  const p = QUICK_SHAKESPEARE
  return {
    ...base,
    family: p.model.family,
    size: p.model.size,
    model: { ...base.model, ...rawFrom(pick(modelFields, ['max_seq_len', 'dropout']), p.model) },
    tokenizer_id: form.tokenizer_id,
    corpus_path: p.data.corpus_path,
    data: { ...base.data, ...rawFrom(dataFields, p.data) },
    trainer: { ...base.trainer, ...rawFrom(pick(trainerFields, Object.keys(p.trainer)), p.trainer) },
  }
}

/** A run's config as the form (cloning): `optionFields` are the family's option fields. */
export function formFromConfig(config: RunConfig, optionFields: Field[]): RunForm {
  return {
    family: config.model.family,
    size: config.model.size,
    model: rawFrom(modelFields, config.model),
    options: rawFrom(optionFields, config.model.options),
    tokenizer_id: config.data.tokenizer_id ?? '',
    corpus_path: config.data.corpus_path,
    data: rawFrom(dataFields, config.data),
    trainer: rawFrom(trainerFields, config.trainer),
  }
}

export interface Shape {
  n_layer: number
  n_head: number
  n_embd: number
}

function wholeOr(text: string | boolean | undefined, fallback: number): number {
  const n = typeof text === 'string' && text.trim() !== '' ? Number(text) : Number.NaN
  return Number.isInteger(n) && n > 0 ? n : fallback
}

/** The named size with the form's overrides, as the API resolves it; undefined for a size
 * the family does not have. */
export function resolveShape(
  sizes: Record<string, ModelSize> | null | undefined,
  size: string,
  model: RawValues,
): Shape | undefined {
  const named = sizes?.[size]
  if (!named) return undefined
  return {
    n_layer: wholeOr(model['n_layer'], named.n_layer),
    n_head: wholeOr(model['n_head'], named.n_head),
    n_embd: wholeOr(model['n_embd'], named.n_embd),
  }
}

/** Tokens one optimizer step reads (`batch_size` x `grad_accum_steps` x `max_seq_len`). */
export function tokensPerStep(form: RunForm): number | undefined {
  const b = Number(form.trainer['batch_size'])
  const g = Number(form.trainer['grad_accum_steps'])
  const t = Number(form.model['max_seq_len'])
  const all = [b, g, t]
  return all.every((n) => Number.isInteger(n) && n > 0) ? b * g * t : undefined
}

/** Every field name the form shows, as the API's messages name them (`trainer.batch_size`). */
export function knownFields(optionFields: Field[]): string[] {
  return [
    'model',
    'model.family',
    'model.size',
    ...modelFields.map((f) => `model.${f.name}`),
    'model.options',
    ...optionFields.map((f) => `model.options.${f.name}`),
    'data',
    'data.tokenizer_id',
    'data.corpus_path',
    ...dataFields.map((f) => `data.${f.name}`),
    'trainer',
    ...trainerFields.map((f) => `trainer.${f.name}`),
  ]
}

/** The errors under `prefix.`, by the rest of their name (for one SchemaForm). */
export function errorsUnder(errors: Record<string, string>, prefix: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [key, message] of Object.entries(errors)) {
    if (key.startsWith(`${prefix}.`)) out[key.slice(prefix.length + 1)] = message
  }
  return out
}

function prefixed(errors: Record<string, string>, prefix: string): Record<string, string> {
  return Object.fromEntries(Object.entries(errors).map(([k, v]) => [`${prefix}.${k}`, v]))
}

/** Check the form and build `POST /runs/train`'s body; errors by dotted field name. */
export function buildRunRequest(
  form: RunForm,
  optionFields: Field[],
  sizes: Record<string, ModelSize> | null | undefined,
): { body?: RunConfig; errors: Record<string, string> } {
  const model = collect(modelFields, form.model)
  const options = collect(optionFields, form.options)
  const data = collect(dataFields, form.data)
  const trainer = collect(trainerFields, form.trainer)
  const errors: Record<string, string> = {
    ...prefixed(model.errors, 'model'),
    ...prefixed(options.errors, 'model.options'),
    ...prefixed(data.errors, 'data'),
    ...prefixed(trainer.errors, 'trainer'),
  }
  if (!form.family) errors['model.family'] = 'choose a model family'
  if (!form.size) errors['model.size'] = 'choose a size'
  if (!form.tokenizer_id) errors['data.tokenizer_id'] = 'choose a completed tokenizer'
  const corpus = form.corpus_path.trim()
  if (!corpus) errors['data.corpus_path'] = 'required'
  const shape = resolveShape(sizes, form.size, form.model)
  if (shape && shape.n_embd % shape.n_head !== 0 && !errors['model.n_embd']) {
    errors['model.n_embd'] = `${shape.n_embd} is not divisible by n_head ${shape.n_head}`
  }
  if (Object.keys(errors).length > 0) return { errors }
  // The values were checked against the fields of these very schemas, which the generated
  // types come from: this is the one place they become the typed body.
  const modelSpec = {
    ...withDefaults(modelFields, model.value),
    family: form.family,
    size: form.size,
    options: options.value,
  } as unknown as ModelSpec
  const dataSpec = {
    ...withDefaults(dataFields, data.value),
    tokenizer_id: form.tokenizer_id,
    corpus_path: corpus,
  } as unknown as DataSpec
  const trainerSpec = withDefaults(trainerFields, trainer.value) as unknown as TrainerSpec
  // The form trains from scratch: `finetune` is left to the API's default (every weight).
  const body = { model: modelSpec, data: dataSpec, trainer: trainerSpec } as RunConfig
  return { errors, body }
}

/** Codes that refuse a whole run (not one field): shown prominently with their message. */
export const REFUSAL_CODES: ReadonlySet<string> = new Set([
  'MEMORY_LIMIT_EXCEEDED',
  'TOKENS_PER_STEP_LIMIT_EXCEEDED',
  'DEVICE_UNAVAILABLE',
  'UNKNOWN_BACKEND',
])
