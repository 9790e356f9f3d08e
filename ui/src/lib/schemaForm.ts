/** Read a plugin's `options_schema` (JSON Schema, as pydantic writes it) into form fields,
 * and the form's raw values back into checked JSON. What the form cannot show as a simple
 * input (objects, arrays, unions) becomes a JSON text field, so every schema is usable. */
import type { Json } from '../api/types'

export type FieldKind = 'string' | 'number' | 'integer' | 'boolean' | 'enum' | 'json'

export interface Field {
  name: string
  kind: FieldKind
  label: string
  description: string | undefined
  required: boolean
  nullable: boolean
  default: Json | undefined
  /** `enum` fields: the allowed values, in the schema's order. */
  choices: Json[]
  minimum: number | undefined
  maximum: number | undefined
  exclusiveMinimum: number | undefined
  exclusiveMaximum: number | undefined
  minLength: number | undefined
  maxLength: number | undefined
  pattern: string | undefined
}

/** What the inputs hold: text for text-like inputs, a flag for checkboxes. */
export type RawValues = Record<string, string | boolean>

type Obj = { [key: string]: Json }

function isObj(v: Json | undefined): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function num(v: Json | undefined): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined
}

function str(v: Json | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined
}

/** `#/$defs/Name` (or `#/definitions/Name`) inside `root`. */
function resolve(node: Obj, root: Obj, depth = 0): Obj {
  const ref = str(node['$ref'])
  if (!ref || depth > 8) return node
  const parts = ref.replace(/^#\//, '').split('/')
  let target: Json | undefined = root
  for (const part of parts) target = isObj(target) ? target[part] : undefined
  if (!isObj(target)) return node
  const { $ref: _ignored, ...rest } = node
  return { ...resolve(target, root, depth + 1), ...rest }
}

function humanize(name: string): string {
  const words = name.replace(/_/g, ' ')
  return words.charAt(0).toUpperCase() + words.slice(1)
}

/** Names whose words alone read as code (`n_embd`, `min_lr`): what people call them. */
const WORDS: Record<string, string> = {
  n_layer: 'Layers',
  n_head: 'Attention heads',
  n_embd: 'Embedding width',
  max_seq_len: 'Context length (tokens)',
  min_lr: 'Minimum LR (end of decay)',
  lr: 'LR',
  grad_accum_steps: 'Gradient accumulation steps',
  grad_clip: 'Gradient clipping',
  beta1: 'Adam beta1',
  beta2: 'Adam beta2',
  eval_steps: 'Eval batches',
  min_length: 'Minimum length (characters)',
  nproc: 'Processes',
}

/** The title pydantic writes when a field has none of its own (`max_steps` -> `Max Steps`). */
function autoTitle(name: string): string {
  return name
    .split('_')
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join(' ')
}

/** A field's label as words: a title the schema's author wrote, else the field's name in
 * words (`learning_rate` -> "Learning rate"; a few abbreviations spelled out). */
export function labelOf(name: string, title: string | undefined): string {
  if (title !== undefined && title !== autoTitle(name)) return title
  return WORDS[name] ?? humanize(name)
}

function fieldOf(name: string, raw: Obj, root: Obj, required: boolean): Field {
  let node = resolve(raw, root)
  let nullable = false
  // pydantic writes `X | None` as anyOf [X, {type: null}]
  const anyOf = node['anyOf']
  if (Array.isArray(anyOf)) {
    const branches = anyOf.filter(isObj).map((b) => resolve(b, root))
    const nonNull = branches.filter((b) => b['type'] !== 'null')
    nullable = nonNull.length < branches.length
    const only = nonNull[0]
    if (nonNull.length === 1 && only) {
      const { anyOf: _a, ...rest } = node
      node = { ...only, ...rest }
    }
  }
  let type = node['type']
  if (Array.isArray(type)) {
    const types = type.filter((t) => t !== 'null')
    nullable = nullable || types.length < type.length
    type = types.length === 1 ? (types[0] ?? null) : null
  }
  const choices = Array.isArray(node['enum'])
    ? node['enum'].filter((c) => c !== null)
    : node['const'] !== undefined
      ? [node['const']]
      : []
  let kind: FieldKind = 'json'
  if (choices.length > 0) kind = 'enum'
  else if (type === 'string') kind = 'string'
  else if (type === 'integer') kind = 'integer'
  else if (type === 'number') kind = 'number'
  else if (type === 'boolean') kind = 'boolean'
  return {
    name,
    kind,
    // the property's own title: a referenced type's (`HoldoutStrategy`) names the type, not the field
    label: labelOf(name, str(raw['title'])),
    description: str(node['description']),
    required: required && node['default'] === undefined,
    nullable,
    default: node['default'],
    choices,
    minimum: num(node['minimum']),
    maximum: num(node['maximum']),
    exclusiveMinimum: num(node['exclusiveMinimum']),
    exclusiveMaximum: num(node['exclusiveMaximum']),
    minLength: num(node['minLength']),
    maxLength: num(node['maxLength']),
    pattern: str(node['pattern']),
  }
}

/** The fields of an object schema, in the schema's order; none for anything else. */
export function fieldsOf(schema: Json | undefined): Field[] {
  if (!isObj(schema)) return []
  const root = schema
  const node = resolve(schema, root)
  const props = node['properties']
  if (!isObj(props)) return []
  const required = new Set(
    Array.isArray(node['required']) ? node['required'].filter((r) => typeof r === 'string') : [],
  )
  return Object.entries(props)
    .filter((entry): entry is [string, Obj] => isObj(entry[1]))
    .map(([name, prop]) => fieldOf(name, prop, root, required.has(name)))
}

/** The text an input shows for a JSON value. */
export function rawOf(field: Field, value: Json | undefined): string | boolean {
  if (field.kind === 'boolean') return value === true
  if (value === undefined || value === null) return ''
  if (field.kind === 'json') return JSON.stringify(value)
  if (field.kind === 'enum') return JSON.stringify(value)
  return String(value)
}

/** The inputs' starting values: each field's default, or the value `given` has for it
 * (a model size's options, which the API merges under the request's). */
export function initialValues(fields: Field[], given?: { [key: string]: Json }): RawValues {
  const values: RawValues = {}
  for (const field of fields) {
    values[field.name] = rawOf(field, given && field.name in given ? given[field.name] : field.default)
  }
  return values
}

export interface Collected {
  /** The options to send: fields left empty are omitted (the server fills its default). */
  value: Record<string, Json>
  /** A message per field name that is not acceptable as it is. */
  errors: Record<string, string>
}

function checkNumber(field: Field, text: string): [number | undefined, string | undefined] {
  const n = Number(text)
  if (text.trim() === '' || !Number.isFinite(n)) return [undefined, 'must be a number']
  if (field.kind === 'integer' && !Number.isInteger(n)) return [undefined, 'must be a whole number']
  if (field.minimum !== undefined && n < field.minimum) {
    return [undefined, `must be at least ${field.minimum}`]
  }
  if (field.maximum !== undefined && n > field.maximum) {
    return [undefined, `must be at most ${field.maximum}`]
  }
  if (field.exclusiveMinimum !== undefined && n <= field.exclusiveMinimum) {
    return [undefined, `must be more than ${field.exclusiveMinimum}`]
  }
  if (field.exclusiveMaximum !== undefined && n >= field.exclusiveMaximum) {
    return [undefined, `must be less than ${field.exclusiveMaximum}`]
  }
  return [n, undefined]
}

function checkString(field: Field, text: string): string | undefined {
  if (field.minLength !== undefined && text.length < field.minLength) {
    return `must be at least ${field.minLength} character${field.minLength === 1 ? '' : 's'}`
  }
  if (field.maxLength !== undefined && text.length > field.maxLength) {
    return `must be at most ${field.maxLength} characters`
  }
  if (field.pattern !== undefined) {
    let re: RegExp | undefined
    try {
      re = new RegExp(field.pattern, 'u')
    } catch {
      re = undefined // a pattern JavaScript cannot read: the server checks it
    }
    if (re && !re.test(text)) return `must match ${field.pattern}`
  }
  return undefined
}

/** Check the raw values against the fields and build the options object. */
export function collect(fields: Field[], raw: RawValues): Collected {
  const value: Record<string, Json> = {}
  const errors: Record<string, string> = {}
  for (const field of fields) {
    const input = raw[field.name]
    if (field.kind === 'boolean') {
      value[field.name] = input === true
      continue
    }
    const text = typeof input === 'string' ? input : ''
    if (text === '' && field.kind !== 'string') {
      if (field.required) errors[field.name] = 'required'
      continue
    }
    if (text === '' && !field.required && (field.default === undefined || field.default === null)) {
      continue
    }
    switch (field.kind) {
      case 'integer':
      case 'number': {
        const [n, problem] = checkNumber(field, text)
        if (problem !== undefined) errors[field.name] = problem
        else if (n !== undefined) value[field.name] = n
        break
      }
      case 'string': {
        const problem = checkString(field, text)
        if (problem !== undefined) errors[field.name] = problem
        else value[field.name] = text
        break
      }
      case 'enum': {
        const choice = field.choices.find((c) => JSON.stringify(c) === text)
        if (choice === undefined) errors[field.name] = 'choose one of the listed values'
        else value[field.name] = choice
        break
      }
      case 'json': {
        try {
          value[field.name] = JSON.parse(text) as Json
        } catch {
          errors[field.name] = 'must be valid JSON'
        }
        break
      }
    }
  }
  return { value, errors }
}

/** Split an API message such as `vocab_size: too big; options.model_type: Input should be
 * 'unigram' or 'bpe'` into a message per field it names (`known` lists the names a form
 * shows). Parts that name no known field are kept under '' (for the top of the form). */
export function fieldErrors(message: string, known: readonly string[]): Record<string, string> {
  const byLength = [...known].sort((a, b) => b.length - a.length)
  const out: Record<string, string> = {}
  let last = ''
  for (const part of message.split(/;\s+/)) {
    const field = byLength.find(
      (name) => part.startsWith(name) && /^[:\s]/.test(part.slice(name.length)),
    )
    if (field !== undefined) {
      const text = part.slice(field.length).replace(/^:\s*/, '').trim()
      out[field] = out[field] ? `${out[field]}; ${text}` : text
      last = field
    } else {
      // "…; available: bpe, char" continues the part before it
      out[last] = out[last] ? `${out[last]}; ${part}` : part
    }
  }
  return out
}

/** `value` with each field it lacks set to the field's default: request bodies are sent
 * whole, with what was left empty filled as the API would fill it. */
export function withDefaults(fields: Field[], value: Record<string, Json>): Record<string, Json> {
  const out = { ...value }
  for (const f of fields) if (!(f.name in out) && f.default !== undefined) out[f.name] = f.default
  return out
}
