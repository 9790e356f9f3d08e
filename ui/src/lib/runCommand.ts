/** The New run form's run as the CLI takes it: a TOML file for `model-trainer runs train
 * --config run.toml` (the request body, as the CLI's config file reader reads it) and one
 * command line with flags and `--set field.path=value` (JSON when it parses, text
 * otherwise, as the CLI reads them). No React here. */
import type { Json } from '../api/types'

type Obj = { [key: string]: Json }

function isObj(v: Json | undefined): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function tomlKey(key: string): string {
  return /^[A-Za-z0-9_-]+$/.test(key) ? key : tomlString(key)
}

/** A TOML basic string: JSON's escapes are TOML's, but TOML also wants DEL escaped. */
function tomlString(text: string): string {
  return JSON.stringify(text).replace(/\u007f/g, '\\u007F')
}

function tomlNumber(n: number): string {
  if (Number.isNaN(n)) return 'nan'
  if (!Number.isFinite(n)) return n > 0 ? 'inf' : '-inf'
  return String(n)
}

/** A value on the right of `=` (nulls are left out before: TOML has none). */
function tomlValue(value: Json): string {
  if (typeof value === 'string') return tomlString(value)
  if (typeof value === 'number') return tomlNumber(value)
  if (typeof value === 'boolean') return value ? 'true' : 'false'
  if (Array.isArray(value)) return `[${value.filter((v) => v !== null).map(tomlValue).join(', ')}]`
  if (value === null) return '""'
  const parts = Object.entries(value)
    .filter(([, v]) => v !== null)
    .map(([k, v]) => `${tomlKey(k)} = ${tomlValue(v)}`)
  return parts.length > 0 ? `{ ${parts.join(', ')} }` : '{}'
}

/** `[path]` tables for the objects that hold something, `key = value` for the rest
 * (an empty object stays inline: `options = {}`). */
function tomlTable(path: string[], obj: Obj, out: string[]): void {
  const entries = Object.entries(obj).filter(([, v]) => v !== null)
  const tables = entries.filter(([, v]) => isObj(v) && Object.keys(v).length > 0)
  const plain = entries.filter(([, v]) => !(isObj(v) && Object.keys(v).length > 0))
  if (path.length > 0 && (plain.length > 0 || tables.length === 0)) {
    if (out.length > 0) out.push('')
    out.push(`[${path.map(tomlKey).join('.')}]`)
  }
  for (const [k, v] of plain) out.push(`${tomlKey(k)} = ${tomlValue(v)}`)
  for (const [k, v] of tables) if (isObj(v)) tomlTable([...path, k], v, out)
}

/** The request body as a TOML file (`null` values left out: the API's default). */
export function toToml(body: Obj): string {
  const out: string[] = []
  tomlTable([], body, out)
  return `${out.join('\n')}\n`
}

/** A word for a POSIX shell: as it is when safe, else single-quoted. */
export function shellWord(text: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`
}

/** What `--set x=<text>` must say for the CLI to read `value`: the CLI reads the text as
 * JSON when it parses, as plain text otherwise, so a string that would parse is quoted. */
export function setText(value: Json): string {
  if (typeof value !== 'string') return JSON.stringify(value)
  let parses = true
  try {
    JSON.parse(value)
  } catch {
    parses = false
  }
  // Python's JSON reader also takes NaN and Infinity; leading/trailing space is JSON's too
  return parses || /^\s*-?(NaN|Infinity)\s*$/.test(value) ? JSON.stringify(value) : value
}

/** The leaves of `body` by dotted path (an empty object or any array is one leaf). */
export function leaves(body: Obj, prefix = ''): [string, Json][] {
  const out: [string, Json][] = []
  for (const [k, v] of Object.entries(body)) {
    const path = prefix ? `${prefix}.${k}` : k
    if (isObj(v) && Object.keys(v).length > 0) out.push(...leaves(v, path))
    else out.push([path, v])
  }
  return out
}

/** The CLI's own flags for these fields (`model-trainer runs train --help`). */
const FLAGS: Record<string, string> = {
  name: '--name',
  notes: '--notes',
  baseline_run_id: '--baseline',
  'model.family': '--family',
  'model.size': '--size',
  'data.tokenizer_id': '--tokenizer',
  'data.corpus_path': '--corpus',
  'trainer.max_steps': '--max-steps',
}

function atPath(obj: Obj, path: string): Json | undefined {
  let node: Json | undefined = obj
  for (const part of path.split('.')) node = isObj(node) ? node[part] : undefined
  return node
}

/** `model-trainer runs train` with the flags and the `--set`s that make `body`: the flags
 * for what has one, then each field whose value differs from `defaults` (what the API
 * fills in when a field is left out). */
export function cliCommand(body: Obj, defaults: Obj): string {
  const words = ['model-trainer', 'runs', 'train']
  const sets: string[] = []
  for (const [path, value] of leaves(body)) {
    const flag = FLAGS[path]
    if (path === 'tags' && Array.isArray(value)) {
      for (const tag of value) words.push('--tag', shellWord(String(tag)))
      continue
    }
    if (flag !== undefined && value !== null) {
      words.push(flag, shellWord(typeof value === 'string' ? value : JSON.stringify(value)))
      continue
    }
    const dflt = atPath(defaults, path)
    if (value === null && (dflt === undefined || dflt === null)) continue
    if (dflt !== undefined && JSON.stringify(dflt) === JSON.stringify(value)) continue
    sets.push('--set', shellWord(`${path}=${setText(value)}`))
  }
  return [...words, ...sets].join(' ')
}

/** The command that reads the TOML file. */
export const CONFIG_COMMAND = 'model-trainer runs train --config run.toml --follow'
