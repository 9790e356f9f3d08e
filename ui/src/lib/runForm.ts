/** The New training run form: its state (from scratch, or fine-tuning weights named by
 * `model.init_from`), the API's defaults (read from the generated schema), the Quick
 * Shakespeare preset, cloning a run's config, the client-side checks, and the request body
 * (the API estimates the run: `useRunEstimate`). No React here. */
import type {
  TokenizerPublic,
  DataSpec,
  FinetuneSpec,
  Json,
  ModelSize,
  ModelSpec,
  RunConfig,
  TrainerSpec,
} from '../api/types'
import { components } from '../../scripts/openapi.json'
import { componentSchema } from './apiSchema'
import { changedFields, clearEditedErrors } from './formErrors'
import { collect, fieldsOf, initialValues, rawOf, withDefaults, type Field, type RawValues } from './schemaForm'

export const MODEL_SCHEMA: Json = componentSchema('ModelSpec')
export const DATA_SCHEMA: Json = componentSchema('DataSpec')
export const TRAINER_SCHEMA: Json = componentSchema('TrainerSpec')
const finetuneProps = components.schemas.FinetuneSpec.properties
/** FinetuneSpec's LoRA numbers, titled apart from the model's own dropout. */
export const LORA_SCHEMA = {
  type: 'object',
  properties: {
    rank: { ...finetuneProps.rank, title: 'LoRA rank' },
    alpha: { ...finetuneProps.alpha, title: 'LoRA alpha' },
    dropout: { ...finetuneProps.dropout, title: 'LoRA dropout' },
  },
} as unknown as Json

/** What the form shows of `model` beside the family, its size and its options. */
export const MODEL_FIELDS = ['n_layer', 'n_head', 'n_embd', 'max_seq_len', 'dropout'] as const
/** What the form shows of `data` beside the tokenizer and the corpus (the text settings
 * matter for structured corpora only). */
export const DATA_FIELDS = ['holdout_fraction', 'holdout_strategy', 'text_field', 'text_template', 'min_length'] as const
/** Shape overrides: empty means "the size's own value". */
export const SHAPE_FIELDS = ['n_layer', 'n_head', 'n_embd'] as const
/** What a run that starts from weights may still set of `model` (empty: the weights' own). */
export const TUNED_MODEL_FIELDS = ['max_seq_len', 'dropout'] as const

function pick(fields: Field[], names: readonly string[]): Field[] {
  return fields.filter((f) => names.includes(f.name))
}

export const modelFields: Field[] = pick(fieldsOf(MODEL_SCHEMA), MODEL_FIELDS)
export const dataFields: Field[] = pick(fieldsOf(DATA_SCHEMA), DATA_FIELDS)
export const trainerFields: Field[] = fieldsOf(TRAINER_SCHEMA)
export const loraFields: Field[] = fieldsOf(LORA_SCHEMA)
const tunedModelFields: Field[] = pick(modelFields, TUNED_MODEL_FIELDS)

/** The ModelSpec defaults of family and size (`gpt2`, `nano`). */
function schemaDefault(name: string, fallback: string): string {
  const field = fieldsOf(MODEL_SCHEMA).find((f) => f.name === name)
  return typeof field?.default === 'string' ? field.default : fallback
}
export const DEFAULT_FAMILY: string = schemaDefault('family', 'gpt2')
export const DEFAULT_SIZE: string = schemaDefault('size', 'nano')

/** Where the weights start: from scratch (random), an earlier run's export, or a Hugging
 * Face folder under `MODELS_ROOT` (`model.init_from`). */
export type StartKind = 'scratch' | 'run' | 'path'

export type FinetuneMethod = FinetuneSpec['method']

export interface FinetuneForm {
  method: FinetuneMethod
  /** rank, alpha, dropout as typed (LoRA only). */
  lora: RawValues
  /** Comma-separated module names; empty: the family's default (LoRA only). */
  target_modules: string
  export_adapter: boolean
}

export interface RunForm {
  start: StartKind
  /** The earlier run to start from (`start: 'run'`). */
  start_run: string
  /** The folder under MODELS_ROOT to start from (`start: 'path'`). */
  start_path: string
  /** How a run that starts from weights trains (sent only then). */
  finetune: FinetuneForm
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
  /** The run's labels: a name, notes, tags (comma- or space-separated as typed) and the
   * run its evaluations are compared against. */
  name: string
  notes: string
  tags: string
  baseline_run_id: string
}

export function defaultFinetune(): FinetuneForm {
  return { method: 'full', lora: initialValues(loraFields), target_modules: '', export_adapter: false }
}

export function defaultForm(): RunForm {
  return {
    start: 'scratch',
    start_run: '',
    start_path: '',
    finetune: defaultFinetune(),
    family: DEFAULT_FAMILY,
    size: DEFAULT_SIZE,
    model: initialValues(modelFields),
    options: {},
    tokenizer_id: '',
    corpus_path: '',
    data: initialValues(dataFields),
    trainer: initialValues(trainerFields),
    name: '',
    notes: '',
    tags: '',
    baseline_run_id: '',
  }
}

/** The raw input values of `fields` taken from a JSON object (a config section). */
export function rawFrom(fields: Field[], source: object): RawValues {
  const values = new Map(Object.entries(source) as [string, Json][])
  const out: RawValues = {}
  for (const field of fields) out[field.name] = rawOf(field, values.get(field.name))
  return out
}

/** The "Quick Shakespeare" recipe (the top-level README's example run): a nano GPT-2 that
 * trains in a few minutes on a CPU. Names are checked against the API's types. The corpus
 * and tokenizer are not part of it: `presetChoice` picks ones that exist. */
export const QUICK_SHAKESPEARE = {
  model: { family: 'gpt2', size: 'nano', max_seq_len: 64, dropout: 0 },
  data: { holdout_fraction: 0.1, holdout_strategy: 'tail' },
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

/** The corpus the recipe is named after, chosen first when a tokenizer was trained on it. */
export const PRESET_CORPUS = 'shakespeare.txt'

/** What the corpus root holds (`GET /corpus`): a path, and whether it is a folder. */
export interface CorpusRootEntry {
  path: string
  kind: string
  files: number
}

/** Whether `path` is in the corpus root's listing: listed itself, or inside a listed
 * folder that holds corpus files. */
export function corpusListed(path: string, root: readonly CorpusRootEntry[]): boolean {
  return root.some((e) => e.path === path || (e.kind === 'folder' && e.files > 0 && path.startsWith(`${e.path}/`)))
}

export interface PresetChoice {
  corpus_path: string
  tokenizer_id: string
}

/** The corpus and tokenizer the preset uses: a completed tokenizer whose corpus is still in
 * the corpus folder, the one trained on `shakespeare.txt` first, else the newest (the list
 * comes newest first). Undefined when there is no such pair: the page says what is needed. */
export function presetChoice(
  tokenizers: readonly TokenizerPublic[],
  root: readonly CorpusRootEntry[],
): PresetChoice | undefined {
  const usable = tokenizers.filter((t) => t.status === 'completed' && corpusListed(t.config.corpus_path, root))
  const pick = usable.find((t) => t.config.corpus_path === PRESET_CORPUS) ?? usable[0]
  return pick ? { corpus_path: pick.config.corpus_path, tokenizer_id: pick.tokenizer_id } : undefined
}

/** The form with the preset applied on `choice`'s corpus and tokenizer: everything the
 * recipe does not name goes back to its default; the labels are kept. */
export function applyPreset(form: RunForm, choice: PresetChoice): RunForm {
  const base = defaultForm()
  const p = QUICK_SHAKESPEARE
  return {
    ...base,
    family: p.model.family,
    size: p.model.size,
    model: { ...base.model, ...rawFrom(pick(modelFields, ['max_seq_len', 'dropout']), p.model) },
    tokenizer_id: choice.tokenizer_id,
    corpus_path: choice.corpus_path,
    data: { ...base.data, ...rawFrom(pick(dataFields, Object.keys(p.data)), p.data) },
    trainer: { ...base.trainer, ...rawFrom(pick(trainerFields, Object.keys(p.trainer)), p.trainer) },
    name: form.name,
    notes: form.notes,
    tags: form.tags,
    baseline_run_id: form.baseline_run_id,
  }
}

/** A run's config as the form (cloning): `optionFields` are the family's option fields. */
export function formFromConfig(config: RunConfig, optionFields: Field[]): RunForm {
  const init = config.model.init_from
  const start: StartKind = !init ? 'scratch' : init.run_id ? 'run' : 'path'
  const ft = config.finetune
  const finetune: FinetuneForm =
    start === 'scratch' || !ft
      ? defaultFinetune()
      : {
          method: ft.method,
          lora: rawFrom(loraFields, ft),
          target_modules: (ft.target_modules ?? []).join(', '),
          export_adapter: ft.export_adapter === true,
        }
  return {
    start,
    start_run: init?.run_id ?? '',
    start_path: init?.path ?? '',
    finetune,
    family: config.model.family,
    size: config.model.size,
    model: rawFrom(modelFields, config.model),
    options: rawFrom(optionFields, config.model.options),
    tokenizer_id: config.data.tokenizer_id ?? '',
    corpus_path: config.data.corpus_path,
    data: rawFrom(dataFields, config.data),
    trainer: rawFrom(trainerFields, config.trainer),
    // a clone is a new run: its own name and notes; the tags and baseline carry over
    name: '',
    notes: '',
    tags: config.tags.join(', '),
    baseline_run_id: config.baseline_run_id ?? '',
  }
}

/** The label fields of a run request: only those filled in are sent. */
type ConfigLabels = Partial<Pick<RunConfig, 'name' | 'notes' | 'tags' | 'baseline_run_id'>>

/** The form with another start. Leaving scratch clears the tokenizer (the weights bring
 * theirs) and the context and dropout still at their defaults (the weights' own); going
 * back to scratch fills what is empty of those with the defaults again. */
export function withStart(form: RunForm, start: StartKind): RunForm {
  if (start === form.start) return form
  const defaults = initialValues(tunedModelFields)
  const model = { ...form.model }
  if (form.start === 'scratch') {
    for (const name of TUNED_MODEL_FIELDS) if (model[name] === defaults[name]) model[name] = ''
    return { ...form, start, model, tokenizer_id: '' }
  }
  if (start === 'scratch') {
    for (const name of TUNED_MODEL_FIELDS) if (model[name] === '') model[name] = defaults[name] ?? ''
    return { ...form, start, model }
  }
  return { ...form, start }
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
    'model.init_from',
    'model.init_from.run_id',
    'model.init_from.path',
    'data',
    'data.tokenizer_id',
    'data.corpus_path',
    ...dataFields.map((f) => `data.${f.name}`),
    'trainer',
    ...trainerFields.map((f) => `trainer.${f.name}`),
    'finetune',
    'finetune.method',
    ...loraFields.map((f) => `finetune.${f.name}`),
    'finetune.target_modules',
    'finetune.export_adapter',
    'name',
    'notes',
    'tags',
    'baseline_run_id',
  ]
}

/** A tag: letters, digits, `-`, `_`, `.`, `:`; at most 40 characters (the API's rule). */
export const TAG_PATTERN = /^[A-Za-z0-9_.:-]{1,40}$/
export const MAX_TAGS = 16
export const MAX_NAME = 120
export const MAX_NOTES = 10_000

/** The tags typed (comma- or space-separated), duplicates dropped case-insensitively. */
export function parseTags(text: string): string[] {
  const seen = new Set<string>()
  const out: string[] = []
  for (const tag of text.split(/[\s,]+/)) {
    if (tag === '' || seen.has(tag.toLowerCase())) continue
    seen.add(tag.toLowerCase())
    out.push(tag)
  }
  return out
}

/** The labels to send: only what was filled in (an empty one is the API's default). */
function labelsBody(form: RunForm, errors: Record<string, string>): ConfigLabels {
  const out: ConfigLabels = {}
  const name = form.name.trim()
  if (name.length > MAX_NAME) errors['name'] = `must be at most ${MAX_NAME} characters`
  else if (name) out.name = name
  if (form.notes.length > MAX_NOTES) errors['notes'] = `must be at most ${MAX_NOTES.toLocaleString('en')} characters`
  else if (form.notes.trim()) out.notes = form.notes
  const tags = parseTags(form.tags)
  const bad = tags.filter((t) => !TAG_PATTERN.test(t))
  if (bad.length > 0) errors['tags'] = `${bad.join(', ')}: letters, digits, - _ . : only, at most 40 each`
  else if (tags.length > MAX_TAGS) errors['tags'] = `at most ${MAX_TAGS} tags`
  else if (tags.length > 0) out.tags = tags
  const baseline = form.baseline_run_id.trim()
  if (baseline) out.baseline_run_id = baseline
  return out
}

/** The form as flat dotted keys (`trainer.batch_size`, `family`), for finding what differs. */
export function flatForm(form: RunForm): Record<string, string | boolean> {
  const out: Record<string, string | boolean> = {}
  for (const key of ['start', 'start_run', 'start_path', 'family', 'size', 'tokenizer_id', 'corpus_path', 'name', 'notes', 'tags', 'baseline_run_id'] as const) {
    out[key] = form[key]
  }
  const sections = { model: form.model, options: form.options, data: form.data, trainer: form.trainer, 'finetune.lora': form.finetune.lora }
  for (const [prefix, values] of Object.entries(sections)) {
    for (const [k, v] of Object.entries(values)) out[`${prefix}.${k}`] = v
  }
  out['finetune.method'] = form.finetune.method
  out['finetune.target_modules'] = form.finetune.target_modules
  out['finetune.export_adapter'] = form.finetune.export_adapter
  return out
}

/** The dotted keys whose values differ between two forms. */
export function changedKeys(before: RunForm, after: RunForm): string[] {
  return changedFields(flatForm(before), flatForm(after))
}

/** What the form shows up front; everything else is under "Advanced". */
export const BASIC_KEYS: ReadonlySet<string> = new Set([
  'name',
  'tags',
  'corpus_path',
  'tokenizer_id',
  'family',
  'size',
  'trainer.max_steps',
  'trainer.batch_size',
  'trainer.learning_rate',
  'trainer.device',
])
export const BASIC_TRAINER_FIELDS = ['max_steps', 'batch_size', 'learning_rate', 'device'] as const
export const ADVANCED_TRAINER_FIELDS: readonly string[] = trainerFields
  .map((f) => f.name)
  .filter((n) => !(BASIC_TRAINER_FIELDS as readonly string[]).includes(n))

/** What the API fills in for a field left out (for the CLI command: only what differs). */
export const API_DEFAULTS: Record<string, Json> = {
  model: { ...withDefaults(modelFields, {}), options: {} },
  data: withDefaults(dataFields, {}),
  trainer: withDefaults(trainerFields, {}),
}

/** The error keys (as the API's messages name fields) that a change of `key` (a
 * `flatForm` key) answers: editing a field clears what was said of it. */
export function errorKeysOf(key: string): string[] {
  const [head = '', ...rest] = key.split('.')
  const tail = rest.join('.')
  switch (head) {
    case 'options':
      return [`model.options.${tail}`, 'model.options']
    case 'finetune':
      return tail.startsWith('lora.') ? [`finetune.${tail.slice(5)}`] : [key, 'finetune']
    case 'family':
    case 'size':
      return [`model.${head}`]
    case 'tokenizer_id':
    case 'corpus_path':
      return [`data.${head}`]
    case 'start_run':
      return ['model.init_from.run_id', 'model.init_from']
    case 'start_path':
      return ['model.init_from.path', 'model.init_from']
    default:
      return [key]
  }
}

/** `errors` without what the edits from `before` to `after` answer. */
export function clearedErrors(errors: Record<string, string>, before: RunForm, after: RunForm): Record<string, string> {
  return clearEditedErrors(errors, flatForm(before), flatForm(after), errorKeysOf)
}

/** The form with one `flatForm` key set (putting a cloned value back). */
export function withKey(form: RunForm, key: string, value: string | boolean): RunForm {
  const [head = '', ...rest] = key.split('.')
  const tail = rest.join('.')
  const text = typeof value === 'string' ? value : String(value)
  switch (head) {
    case 'model':
    case 'options':
    case 'data':
    case 'trainer':
      return { ...form, [head]: { ...form[head], [tail]: value } }
    case 'finetune':
      if (tail.startsWith('lora.')) return { ...form, finetune: { ...form.finetune, lora: { ...form.finetune.lora, [tail.slice(5)]: value } } }
      if (tail === 'export_adapter') return { ...form, finetune: { ...form.finetune, export_adapter: value === true } }
      if (tail === 'method') return { ...form, finetune: { ...form.finetune, method: text === 'lora' ? 'lora' : 'full' } }
      return { ...form, finetune: { ...form.finetune, target_modules: text } }
    case 'start':
      return { ...form, start: text === 'run' || text === 'path' ? text : 'scratch' }
    default:
      return { ...form, [head]: text }
  }
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

/** The `model.init_from` the form names; undefined from scratch. */
function initFrom(form: RunForm): { run_id: string } | { path: string } | undefined {
  if (form.start === 'run') return { run_id: form.start_run.trim() }
  if (form.start === 'path') return { path: form.start_path.trim() }
  return undefined
}

/** The module names typed, comma- or space-separated. */
export function moduleNames(text: string): string[] {
  return text.split(/[\s,]+/).filter((name) => name !== '')
}

/** `finetune` as sent: `full` alone (the LoRA settings are refused with it), or LoRA's. */
function finetuneBody(
  form: FinetuneForm,
  errors: Record<string, string>,
): Record<string, Json> | undefined {
  if (form.method !== 'lora') return { method: 'full' }
  const lora = collect(loraFields, form.lora)
  Object.assign(errors, prefixed(lora.errors, 'finetune'))
  const modules = moduleNames(form.target_modules)
  if (modules.some((m) => !/^[A-Za-z0-9_.]{1,128}$/.test(m))) {
    errors['finetune.target_modules'] = 'module names: letters, digits, _ and . only'
  }
  if (Object.keys(lora.errors).length > 0) return undefined
  return {
    method: 'lora',
    ...withDefaults(loraFields, lora.value),
    ...(modules.length > 0 ? { target_modules: modules } : {}),
    export_adapter: form.export_adapter,
  }
}

/** Check the form and build `POST /runs/train`'s body; errors by dotted field name. From
 * weights (`model.init_from`), the body leaves out what the weights fix (family, size,
 * shape, options) and what is left empty of the context and dropout (the weights' own),
 * the tokenizer when none is chosen (theirs), and carries `finetune`; from scratch it
 * sends the whole model and no `finetune` (the API's default). */
export function buildRunRequest(
  form: RunForm,
  optionFields: Field[],
  sizes: Record<string, ModelSize> | null | undefined,
): { body?: RunConfig; errors: Record<string, string> } {
  const init = initFrom(form)
  const model = collect(init ? tunedModelFields : modelFields, form.model)
  const options = collect(init ? [] : optionFields, form.options)
  const data = collect(dataFields, form.data)
  const trainer = collect(trainerFields, form.trainer)
  const errors: Record<string, string> = {
    ...prefixed(model.errors, 'model'),
    ...prefixed(options.errors, 'model.options'),
    ...prefixed(data.errors, 'data'),
    ...prefixed(trainer.errors, 'trainer'),
  }
  const tokenizerId = form.tokenizer_id.trim()
  if (init) {
    if ('run_id' in init && !init.run_id) errors['model.init_from.run_id'] = 'choose a completed run'
    if ('path' in init && !init.path) errors['model.init_from.path'] = 'required'
  } else {
    if (!form.family) errors['model.family'] = 'choose a model family'
    if (!form.size) errors['model.size'] = 'choose a size'
    if (!tokenizerId) errors['data.tokenizer_id'] = 'choose a completed tokenizer'
    const shape = resolveShape(sizes, form.size, form.model)
    if (shape && shape.n_embd % shape.n_head !== 0 && !errors['model.n_embd']) {
      errors['model.n_embd'] = `${shape.n_embd} is not divisible by n_head ${shape.n_head}`
    }
  }
  const finetune = init ? finetuneBody(form.finetune, errors) : undefined
  const corpus = form.corpus_path.trim()
  if (!corpus) errors['data.corpus_path'] = 'required'
  const labels = labelsBody(form, errors)
  if (Object.keys(errors).length > 0) return { errors }
  // The values were checked against the fields of these very schemas, which the generated
  // types come from: this is the one place they become the typed body.
  const modelSpec = (
    init
      ? { ...model.value, init_from: init }
      : { ...withDefaults(modelFields, model.value), family: form.family, size: form.size, options: options.value }
  ) as unknown as ModelSpec
  const dataSpec = {
    ...withDefaults(dataFields, data.value),
    ...(tokenizerId || !init ? { tokenizer_id: tokenizerId } : {}),
    corpus_path: corpus,
  } as unknown as DataSpec
  const trainerSpec = withDefaults(trainerFields, trainer.value) as unknown as TrainerSpec
  const body = (
    finetune
      ? { ...labels, model: modelSpec, data: dataSpec, trainer: trainerSpec, finetune }
      : { ...labels, model: modelSpec, data: dataSpec, trainer: trainerSpec }
  ) as RunConfig
  return { errors, body }
}

/** Codes that refuse a whole run (not one field): shown prominently with their message. */
export const REFUSAL_CODES: ReadonlySet<string> = new Set([
  'MEMORY_LIMIT_EXCEEDED',
  'TOKENS_PER_STEP_LIMIT_EXCEEDED',
  'DEVICE_UNAVAILABLE',
  'UNKNOWN_BACKEND',
])
