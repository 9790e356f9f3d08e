import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import type { Json } from '../api/types'
import { cliCommand, setText, shellWord, toToml } from './runCommand'

type Obj = { [key: string]: Json }

/** The config the CLI's own end-to-end test writes and trains from (server/tests/e2e/test_cli.py). */
const CLI_EXAMPLE: Obj = {
  model: { size: 'nano', max_seq_len: 32 },
  data: { tokenizer_id: 'tok-1', corpus_path: 'story.txt' },
  trainer: { max_steps: 500, batch_size: 4, eval_interval: 20, eval_steps: 2, checkpoint_interval: 20 },
}

/** A body with what the form sends: labels, nulls (left out), floats, an empty and a
 * filled object, text that needs escaping. */
const FULL: Obj = {
  name: 'lr "sweep" \\ 1',
  notes: 'line one\nline two\ttabbed',
  tags: ['baseline', 'lr:3e-4'],
  model: { family: 'gpt_neox', size: 'nano', n_layer: null, max_seq_len: 64, dropout: 0.1, options: { rotary_pct: 0.25 } },
  data: { tokenizer_id: 'tok-1', corpus_path: 'demo/a b.txt', text_field: null, holdout_fraction: 0.1 },
  trainer: { max_steps: 2000, learning_rate: 1e-3, min_lr: 1e-7, device: 'auto', compile: 'auto' },
}

/** The TOML this writer writes, read back: `key = value` lines under `[a.b]` tables, with
 * strings, numbers, booleans, arrays and inline tables (values are JSON-compatible). */
function readToml(text: string): Obj {
  const root: Obj = {}
  let table = root
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue
    const header = /^\[([A-Za-z0-9_.-]+)\]$/.exec(line)
    if (header) {
      table = root
      for (const part of (header[1] ?? '').split('.')) {
        const next = table[part] ?? {}
        table[part] = next
        table = next as Obj
      }
      continue
    }
    const at = line.indexOf(' = ')
    table[line.slice(0, at)] = JSON.parse(
      line
        .slice(at + 3)
        .replace(/([{,]\s*)([A-Za-z0-9_-]+) = /g, '$1"$2": '),
    ) as Json
  }
  return root
}

function withoutNulls(value: Json): Json {
  if (Array.isArray(value)) return value.map(withoutNulls)
  if (value === null || typeof value !== 'object') return value
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null).map(([k, v]) => [k, withoutNulls(v)]))
}

const PYTHON = join(process.cwd(), '..', '.venv', 'bin', 'python')

describe('the run as a TOML file for --config', () => {
  it('writes the CLI test\'s own config as that test writes it', () => {
    expect(toToml(CLI_EXAMPLE)).toBe(
      [
        '[model]', 'size = "nano"', 'max_seq_len = 32', '',
        '[data]', 'tokenizer_id = "tok-1"', 'corpus_path = "story.txt"', '',
        '[trainer]', 'max_steps = 500', 'batch_size = 4', 'eval_interval = 20', 'eval_steps = 2', 'checkpoint_interval = 20',
        '',
      ].join('\n'),
    )
  })

  it('reads back as the same request body (nulls left to the API)', () => {
    const toml = toToml(FULL)
    expect(toml.startsWith('name = ')).toBe(true) // top-level keys before any table
    expect(toml).toContain('[model.options]\nrotary_pct = 0.25')
    expect(toml).toContain('min_lr = 1e-7')
    expect(readToml(toml)).toEqual(withoutNulls(FULL))
    expect(readToml(toToml(CLI_EXAMPLE))).toEqual(CLI_EXAMPLE)
  })

  it.skipIf(!existsSync(PYTHON))("reads back the same through the CLI's own config reader", () => {
    const script = [
      'import json, sys',
      'from model_trainer.cli.toml_reader import read_toml',
      'print(json.dumps(read_toml(sys.stdin.read())))',
    ].join('\n')
    for (const body of [FULL, CLI_EXAMPLE]) {
      const out = execFileSync(PYTHON, ['-c', script], { input: toToml(body), encoding: 'utf8', cwd: join(process.cwd(), '..') })
      expect(JSON.parse(out)).toEqual(withoutNulls(body))
    }
  }, 60_000)
})

describe('the run as one command line', () => {
  it('uses the flags the CLI has, then --set for what differs from the defaults', () => {
    const defaults: Obj = { model: { max_seq_len: 256, dropout: 0, options: {} }, trainer: { device: 'auto', compile: 'auto', learning_rate: 1e-3 } }
    expect(cliCommand(FULL, defaults)).toBe(
      `model-trainer runs train --name 'lr "sweep" \\ 1' --notes 'line one\nline two\ttabbed' --tag baseline --tag lr:3e-4 ` +
        "--family gpt_neox --size nano --tokenizer tok-1 --corpus 'demo/a b.txt' --max-steps 2000 " +
        '--set model.max_seq_len=64 --set model.dropout=0.1 --set model.options.rotary_pct=0.25 --set data.holdout_fraction=0.1 --set trainer.min_lr=1e-7',
    )
  })

  it.skipIf(!existsSync(PYTHON))("makes the same body through the CLI's own flag and --set reader", () => {
    const defaults: Obj = { trainer: { device: 'auto', compile: 'auto' } }
    const script = [
      'import json, shlex, sys',
      'from model_trainer.cli.config_file import build_body, given',
      'words = shlex.split(sys.stdin.read())[3:]',
      "flags = {'--name': 'name', '--notes': 'notes', '--baseline': 'baseline_run_id', '--family': 'model.family', '--size': 'model.size', '--tokenizer': 'data.tokenizer_id', '--corpus': 'data.corpus_path', '--max-steps': 'trainer.max_steps'}",
      'fields, sets = {}, []',
      'for flag, value in zip(words[::2], words[1::2]):',
      "    if flag == '--set': sets.append(value)",
      "    elif flag == '--tag': fields.setdefault('tags', []).append(value)",
      "    else: fields[flags[flag]] = int(value) if flag == '--max-steps' else value",
      'print(json.dumps(build_body(None, sets, given(*fields.items()))))',
    ].join('\n')
    const out = execFileSync(PYTHON, ['-c', script], { input: cliCommand(FULL, defaults), encoding: 'utf8', cwd: join(process.cwd(), '..') })
    const { trainer, ...rest } = withoutNulls(FULL) as Obj
    const { device: _d, compile: _c, ...sent } = trainer as Obj
    expect(JSON.parse(out)).toEqual({ ...rest, trainer: sent })
  }, 60_000)

  it('quotes a text value the CLI would read as JSON', () => {
    expect(setText('nano')).toBe('nano')
    expect(setText('500')).toBe('"500"')
    expect(setText('true')).toBe('"true"')
    expect(setText('NaN')).toBe('"NaN"')
    expect(setText(500)).toBe('500')
    expect(shellWord("it's")).toBe(`'it'\\''s'`)
    expect(shellWord('tok-1')).toBe('tok-1')
  })
})
