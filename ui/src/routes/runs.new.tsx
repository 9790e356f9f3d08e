import { useEffect, useMemo, useRef, useState, type FormEvent, type ReactNode } from 'react'
import { api, unwrap } from '../api/client'
import { ApiError, asApiError } from '../api/errors'
import type { BackendPublic, Json, ModelSize, RunPublic, TokenizerPublic } from '../api/types'
import { useApi } from '../api/useApi'
import { useRunEstimate } from '../api/useEstimate'
import { BackendOptions } from '../components/BackendOptions'
import { CopyBlock } from '../components/CopyBlock'
import { CorpusField } from '../components/CorpusField'
import { TextField } from '../components/FormField'
import { describedBy } from '../lib/a11y'
import { RunEstimate } from '../components/RunEstimate'
import { ResetToCloned, SchemaForm } from '../components/SchemaForm'
import { ErrorNotice, Loading } from '../components/States'
import { formatNumber } from '../lib/format'
import { CONFIG_COMMAND, cliCommand, toToml } from '../lib/runCommand'
import {
  ADVANCED_TRAINER_FIELDS,
  API_DEFAULTS,
  BASIC_KEYS,
  BASIC_TRAINER_FIELDS,
  DATA_FIELDS,
  DATA_SCHEMA,
  LORA_SCHEMA,
  MAX_NAME,
  MODEL_FIELDS,
  MODEL_SCHEMA,
  REFUSAL_CODES,
  SHAPE_FIELDS,
  TRAINER_SCHEMA,
  TUNED_MODEL_FIELDS,
  applyPreset,
  buildRunRequest,
  changedKeys,
  clearedErrors,
  defaultForm,
  errorsUnder,
  flatForm,
  formFromConfig,
  knownFields,
  presetChoice,
  tokensPerStep,
  withKey,
  withStart,
  type FinetuneForm,
  type RunForm,
  type StartKind,
} from '../lib/runForm'
import { fieldErrors, fieldsOf, initialValues, type RawValues } from '../lib/schemaForm'
import { Link } from '../router/Link'
import { navigate } from '../router/router'

function optionsSchema(b: BackendPublic | undefined): Json | undefined {
  return (b?.options_schema ?? undefined) as Json | undefined
}

/** The options a named size sets (JSON, as the generated types cannot say). */
function sizeOptions(size: ModelSize | undefined): { [key: string]: Json } | undefined {
  return size?.options as { [key: string]: Json } | undefined
}

const STARTS: { kind: StartKind; label: string }[] = [
  { kind: 'scratch', label: 'Scratch (random weights)' },
  { kind: 'run', label: 'An earlier run' },
  { kind: 'path', label: 'A folder under MODELS_ROOT' },
]

function plural(n: number, one: string): string {
  return `${n} ${one}${n === 1 ? '' : 's'}`
}

/** Start a training run. Up front: name, tags, model family and size, tokenizer, corpus,
 * steps, batch, learning rate and device; under "Advanced" everything else (notes, the
 * baseline run, the start from weights and fine-tuning, the shape, the family's options,
 * the split, the other trainer settings), with a count of what differs from the defaults.
 * A preset, `?from=<run_id>` to start from a run's config (clone: what differs from it is
 * marked, with a reset), and the same run as a CLI command and a TOML file. */
export function NewRunPage({ from }: { from?: string | undefined }) {
  const backends = useApi('backends', (signal) => unwrap(api.GET('/backends', { signal })))
  const tokenizers = useApi('tokenizers:100', (signal) =>
    unwrap(api.GET('/tokenizers', { params: { query: { limit: 100 } }, signal })),
  )
  const corpusRoot = useApi('corpus:root', (signal) => unwrap(api.GET('/corpus', { params: { query: {} }, signal })))
  const source = useApi(`clone:${from ?? ''}`, (signal) =>
    from ? unwrap(api.GET('/runs/{run_id}', { params: { path: { run_id: from } }, signal })) : Promise.resolve(null),
  )
  const families = useMemo(() => (backends.data?.data ?? []).filter((b) => b.kind === 'model'), [backends.data])
  const completed = useMemo(
    () => (tokenizers.data?.data ?? []).filter((t) => t.status === 'completed'),
    [tokenizers.data],
  )
  const [form, setForm] = useState<RunForm>(defaultForm)
  const [advancedOpen, setAdvancedOpen] = useState(false)
  const fromWeights = form.start !== 'scratch'
  // Runs: to start from, or as the baseline; read once either is shown.
  const wantRuns = form.start === 'run' || advancedOpen || form.baseline_run_id !== ''
  const runs = useApi(wantRuns ? 'runs:start' : 'runs:none', (signal) =>
    wantRuns ? unwrap(api.GET('/runs', { params: { query: { limit: 100 } }, signal })) : Promise.resolve(null),
  )
  const completedRuns = useMemo(() => (runs.data?.data ?? []).filter((r) => r.status === 'completed'), [runs.data])

  const [cloned, setCloned] = useState<{ run: RunPublic; form: RunForm } | null>(null)
  const [errors, setErrors] = useState<Record<string, string>>({})
  const [refusal, setRefusal] = useState<ApiError | undefined>(undefined)
  const [failure, setFailure] = useState<ApiError | undefined>(undefined)
  const [submitting, setSubmitting] = useState(false)
  const [attempt, setAttempt] = useState(0)
  const formRef = useRef<HTMLFormElement>(null)
  const refusalRef = useRef<HTMLDivElement>(null)

  // Cloning: once the run and the plugins are known, the run's config becomes the form
  // (with "Advanced" open when the run set anything there).
  if (source.data && backends.data && cloned?.run.run_id !== source.data.run_id) {
    const family = families.find((b) => b.name === source.data?.config.model.family)
    const start = formFromConfig(source.data.config, fieldsOf(optionsSchema(family)))
    setCloned({ run: source.data, form: start })
    setForm(start)
    if (changedKeys(defaultForm(), start).some((k) => !BASIC_KEYS.has(k) && !k.startsWith('options.'))) setAdvancedOpen(true)
  }

  const backend = families.find((b) => b.name === form.family)
  const optionFields = useMemo(() => fieldsOf(optionsSchema(backend)), [backend])
  // From scratch a tokenizer is needed (the first completed one until chosen); from
  // weights none is (theirs).
  const tokenizerId = fromWeights ? form.tokenizer_id : form.tokenizer_id || completed[0]?.tokenizer_id || ''
  const tokenizer: TokenizerPublic | undefined = completed.find((t) => t.tokenizer_id === tokenizerId)
  const sizes = backend?.sizes ?? null
  const named = sizes?.[form.size]
  // Untouched options start from the size's own (the form sends what it shows).
  const sizeDefaults = initialValues(optionFields, sizeOptions(named))
  const shownOptions = Object.keys(form.options).length > 0 ? form.options : sizeDefaults
  const shown: RunForm = { ...form, tokenizer_id: tokenizerId, options: shownOptions }
  const choice = presetChoice(completed, corpusRoot.data?.data ?? [])

  // After a refused or invalid submit: take the keyboard to what needs attention.
  useEffect(() => {
    if (attempt === 0) return
    if (refusalRef.current) refusalRef.current.focus()
    else {
      const invalid = formRef.current?.querySelector<HTMLElement>('[aria-invalid="true"]')
      // a field under "Advanced" is opened first
      const details = invalid?.closest('details')
      if (details && !details.open) details.open = true // its toggle event keeps the state
      invalid?.focus()
    }
  }, [attempt])

  /** Set the form; what the change edits loses its error. */
  const change = (next: RunForm): void => {
    setErrors((e) => clearedErrors(e, form, next))
    setForm(next)
  }
  const update = (patch: Partial<RunForm>): void => change({ ...form, ...patch })
  const updateFinetune = (patch: Partial<FinetuneForm>): void => update({ finetune: { ...form.finetune, ...patch } })
  const chooseStart = (start: StartKind): void => {
    setForm((f) => withStart(f, start))
    setErrors({})
  }
  const chooseFamily = (name: string): void => {
    const next = families.find((b) => b.name === name)
    const names = Object.keys(next?.sizes ?? {})
    update({ family: name, size: names.includes(form.size) ? form.size : (names[0] ?? form.size), options: {} })
  }
  const chooseTokenizer = (id: string): void => {
    const t = completed.find((x) => x.tokenizer_id === id)
    update({ tokenizer_id: id, corpus_path: form.corpus_path || (t?.config.corpus_path ?? '') })
  }
  const preset = (): void => {
    if (!choice) return
    setForm((f) => applyPreset(f, choice))
    setErrors({})
    setRefusal(undefined)
    setFailure(undefined)
  }

  const submit = async (e: FormEvent): Promise<void> => {
    e.preventDefault()
    setFailure(undefined)
    setRefusal(undefined)
    const built = buildRunRequest(shown, optionFields, sizes)
    setErrors(built.errors)
    if (!built.body) {
      setAttempt((n) => n + 1)
      return
    }
    setSubmitting(true)
    try {
      const queued = await unwrap(api.POST('/runs/train', { body: built.body }))
      navigate(`/runs/${encodeURIComponent(queued.run_id)}`)
      return
    } catch (err) {
      const apiErr = asApiError(err)
      if (REFUSAL_CODES.has(apiErr.code)) {
        setRefusal(apiErr)
      } else if ([400, 404, 409, 422].includes(apiErr.status)) {
        const { '': general, ...byField } = fieldErrors(apiErr.message, knownFields(optionFields))
        setErrors(byField)
        if (general !== undefined || Object.keys(byField).length === 0) setFailure(apiErr)
      } else {
        setFailure(apiErr)
      }
      setAttempt((n) => n + 1)
    } finally {
      setSubmitting(false)
    }
  }

  // What the API would make of the form as it stands, estimated as it changes.
  const current = buildRunRequest(shown, optionFields, sizes)
  const estimate = useRunEstimate(current.body)
  const incomplete = current.body ? undefined : `Set ${Object.keys(current.errors).slice(0, 3).join(', ')} for an estimate.`

  const placeholders: Record<string, string> = {}
  if (fromWeights) for (const f of TUNED_MODEL_FIELDS) placeholders[f] = 'from the weights'
  else if (named) for (const f of SHAPE_FIELDS) placeholders[f] = `default ${named[f]} (${form.size})`
  const weights = fromWeights && !estimate.pending ? estimate.data?.architecture : undefined
  const perStep = tokensPerStep(form)
  const loading = backends.loading || tokenizers.loading || (from !== undefined && source.loading)
  const advancedChanged = changedKeys({ ...defaultForm(), options: sizeDefaults }, shown).filter(
    (k) => !BASIC_KEYS.has(k) && !(fromWeights && k === 'tokenizer_id'),
  )
  // Cloning: what differs from the cloned run, field by field, with a reset.
  const clonedFlat = cloned ? flatForm({ ...cloned.form, options: Object.keys(cloned.form.options).length > 0 ? cloned.form.options : sizeDefaults }) : undefined
  const shownFlat = flatForm(shown)
  const resetNote = (key: string, label: string): ReactNode => {
    if (!clonedFlat || (clonedFlat[key] ?? '') === (shownFlat[key] ?? '')) return null
    const was = clonedFlat[key] ?? ''
    const text = typeof was === 'boolean' ? (was ? 'on' : 'off') : was === '' ? 'empty' : was
    return <ResetToCloned label={label} value={text} onReset={() => change(withKey(form, key, was))} />
  }
  const marks = (key: string, label: string): { note: ReactNode; changed: boolean } => ({
    note: resetNote(key, label),
    changed: clonedFlat !== undefined && (clonedFlat[key] ?? '') !== (shownFlat[key] ?? ''),
  })
  const clonedCount = clonedFlat
    ? Object.keys({ ...clonedFlat, ...shownFlat }).filter((k) => (clonedFlat[k] ?? '') !== (shownFlat[k] ?? '')).length
    : 0
  const sectionBaseline = (section: 'model' | 'data' | 'trainer'): RawValues | undefined => cloned?.form[section]

  return (
    <div className="page narrow">
      <h1>New training run</h1>
      <div className="actions preset">
        <button type="button" className="button" onClick={preset} disabled={submitting || !choice}>
          Quick Shakespeare
        </button>
        <span className="muted small" data-testid="preset-hint">
          {choice ? (
            `nano GPT-2, 2,000 steps of 12 × 64 tokens on ${choice.corpus_path} with ${choice.tokenizer_id}: minutes on a CPU`
          ) : tokenizers.loading || corpusRoot.loading ? (
            'Looking for a corpus and a tokenizer trained on it…'
          ) : (
            <>
              Needs a corpus file and a completed tokenizer trained on it: <Link to="/tokenizers/new">train one first</Link>.
            </>
          )}
        </span>
      </div>
      {cloned ? (
        <p className="notice">
          Starting from the config of <Link to={`/runs/${encodeURIComponent(cloned.run.run_id)}`}>{cloned.run.run_id}</Link>: change
          what you want to try and start it.{' '}
          {clonedCount > 0 ? <strong data-testid="clone-changes">{plural(clonedCount, 'setting')} changed from it (marked below).</strong> : null}
        </p>
      ) : null}
      {source.error ? <ErrorNotice error={source.error} title={`The run ${from ?? ''} could not be loaded`} onRetry={source.refetch} /> : null}
      {backends.error ? <ErrorNotice error={backends.error} title="Model families could not be loaded" onRetry={backends.refetch} /> : null}
      {tokenizers.error ? <ErrorNotice error={tokenizers.error} title="Tokenizers could not be loaded" onRetry={tokenizers.refetch} /> : null}
      {loading ? <Loading what="the form" /> : null}
      <form ref={formRef} className="form" noValidate onSubmit={(e) => void submit(e)} aria-busy={submitting}>
        <fieldset className="options">
          <legend>Run</legend>
          <div className="schema-form">
            <TextField id="run-name" label="Name" error={errors['name']} {...marks('name', 'Name')}>
              <input
                id="run-name"
                type="text"
                value={form.name}
                maxLength={MAX_NAME}
                disabled={submitting}
                placeholder="optional, e.g. shakespeare lr 3e-4"
                onChange={(e) => update({ name: e.target.value })}
                aria-invalid={errors['name'] ? true : undefined}
                aria-describedby={describedBy('run-name', errors['name'])}
              />
              <p id="run-name-hint" className="hint">Shown in lists instead of the run&apos;s id; can be changed later.</p>
            </TextField>
            <TextField id="run-tags" label="Tags" error={errors['tags']} {...marks('tags', 'Tags')}>
              <input
                id="run-tags"
                type="text"
                value={form.tags}
                disabled={submitting}
                spellCheck={false}
                placeholder="optional, e.g. baseline, lr-sweep"
                onChange={(e) => update({ tags: e.target.value })}
                aria-invalid={errors['tags'] ? true : undefined}
                aria-describedby={describedBy('run-tags', errors['tags'])}
              />
              <p id="run-tags-hint" className="hint">Comma-separated; letters, digits, - _ . : (up to 16). Filter the runs list by them.</p>
            </TextField>
          </div>
        </fieldset>
        <fieldset className="options">
          <legend>Model</legend>
          <div className="schema-form">
            {fromWeights ? (
              <p id="run-weights-hint" className="hint" data-testid="from-weights">
                Family, size, shape and options: from the weights
                {weights
                  ? ` (${weights.family}, ${weights.n_layer} layers, ${weights.n_head} heads, ${weights.n_embd} wide, context ${weights.max_seq_len})`
                  : ''}
                . Context length and dropout may change under Advanced; empty keeps the weights&apos; own.
              </p>
            ) : (
              <>
                <TextField id="run-family" label="Family" required error={errors['model.family']} {...marks('family', 'Family')}>
                  <select
                    id="run-family"
                    value={form.family}
                    onChange={(e) => chooseFamily(e.target.value)}
                    aria-invalid={errors['model.family'] ? true : undefined}
                    aria-describedby={describedBy('run-family', errors['model.family'])}
                  >
                    {backend === undefined ? <option value={form.family}>{form.family || '—'}</option> : null}
                    <BackendOptions backends={families} />
                  </select>
                  <p id="run-family-hint" className="hint">
                    {backend ? `${backend.distribution} ${backend.version}` : 'Installed model plugins'}
                  </p>
                </TextField>
                <TextField id="run-size" label="Size" required error={errors['model.size']} {...marks('size', 'Size')}>
                  <select
                    id="run-size"
                    value={form.size}
                    onChange={(e) => update({ size: e.target.value })}
                    aria-invalid={errors['model.size'] ? true : undefined}
                    aria-describedby={describedBy('run-size', errors['model.size'])}
                  >
                    {named === undefined ? <option value={form.size}>{form.size || '—'}</option> : null}
                    {Object.entries(sizes ?? {}).map(([name, s]) => (
                      <option key={name} value={name}>
                        {name} — {s.n_layer} layers, {s.n_head} heads, {s.n_embd} wide
                      </option>
                    ))}
                  </select>
                  <p id="run-size-hint" className="hint">
                    Layers, heads and width can be overridden under Advanced.
                  </p>
                </TextField>
              </>
            )}
          </div>
        </fieldset>
        <fieldset className="options">
          <legend>Data</legend>
          <div className="schema-form">
            <TextField id="run-tokenizer" label="Tokenizer" required={!fromWeights} error={errors['data.tokenizer_id']} {...marks('tokenizer_id', 'Tokenizer')}>
              <select
                id="run-tokenizer"
                value={tokenizerId}
                onChange={(e) => chooseTokenizer(e.target.value)}
                aria-invalid={errors['data.tokenizer_id'] ? true : undefined}
                aria-describedby={describedBy('run-tokenizer', errors['data.tokenizer_id'])}
              >
                {fromWeights ? <option value="">the weights' own</option> : null}
                {completed.length === 0 && !tokenizerId && !fromWeights ? <option value="">no completed tokenizer</option> : null}
                {tokenizerId && !tokenizer ? <option value={tokenizerId}>{tokenizerId} (not completed or gone)</option> : null}
                {completed.map((t) => (
                  <option key={t.tokenizer_id} value={t.tokenizer_id}>
                    {t.tokenizer_id} — {t.method}, {formatNumber(t.stats?.vocab_size)} tokens, {t.config.corpus_path}
                  </option>
                ))}
              </select>
              <p id="run-tokenizer-hint" className="hint">
                {fromWeights ? (
                  "Optional: the weights bring their tokenizer. Leave it to use theirs; a different one is refused."
                ) : completed.length === 0 && !tokenizers.loading ? (
                  <>
                    Completed tokenizers only. <Link to="/tokenizers/new">Train one first</Link>.
                  </>
                ) : (
                  'Completed tokenizers only; the vocabulary size comes from it.'
                )}
              </p>
            </TextField>
            <CorpusField
              id="run-corpus"
              value={form.corpus_path}
              onChange={(corpus_path) => update({ corpus_path })}
              error={errors['data.corpus_path']}
              suggestions={[tokenizer?.config.corpus_path, ...completed.map((t) => t.config.corpus_path)]}
              disabled={submitting}
              {...marks('corpus_path', 'Corpus')}
            />
          </div>
        </fieldset>
        <fieldset className="options">
          <legend>Training</legend>
          <SchemaForm
            schema={TRAINER_SCHEMA}
            only={BASIC_TRAINER_FIELDS}
            values={form.trainer}
            onChange={(trainer) => update({ trainer })}
            errors={errorsUnder(errors, 'trainer')}
            idPrefix="run-trainer"
            disabled={submitting}
            baseline={sectionBaseline('trainer')}
          />
          {errors['trainer'] ? (
            <p className="field-error" role="alert">
              {errors['trainer']}
            </p>
          ) : null}
        </fieldset>
        <RunEstimate estimate={estimate.data} error={estimate.error} pending={estimate.pending} incomplete={incomplete} />
        <details className="advanced" open={advancedOpen} onToggle={(e) => setAdvancedOpen(e.currentTarget.open)}>
          <summary>
            Advanced settings{' '}
            <span className="muted small" data-testid="advanced-count">
              ({advancedChanged.length === 0 ? 'all defaults' : `${plural(advancedChanged.length, 'setting')} changed`})
            </span>
          </summary>
          <fieldset className="options">
            <legend>Notes and baseline</legend>
            <div className="schema-form">
              <TextField id="run-notes" label="Notes" error={errors['notes']} {...marks('notes', 'Notes')}>
                <textarea
                  id="run-notes"
                  rows={3}
                  value={form.notes}
                  disabled={submitting}
                  placeholder="optional: what this run tries"
                  onChange={(e) => update({ notes: e.target.value })}
                  aria-invalid={errors['notes'] ? true : undefined}
                  aria-describedby={describedBy('run-notes', errors['notes'])}
                />
                <p id="run-notes-hint" className="hint">Free text kept with the run.</p>
              </TextField>
              <BaselineField
                value={form.baseline_run_id}
                onChange={(baseline_run_id) => update({ baseline_run_id })}
                runs={completedRuns}
                loading={runs.loading}
                error={errors['baseline_run_id']}
                disabled={submitting}
                {...marks('baseline_run_id', 'Compare evaluations against')}
              />
            </div>
          </fieldset>
          <fieldset className="options">
            <legend>Weights</legend>
            <div className="schema-form">
              <TextField id="run-start" label="Start from" error={undefined} {...marks('start', 'Start from')}>
                <select
                  id="run-start"
                  value={form.start}
                  onChange={(e) => chooseStart(e.target.value as StartKind)}
                  disabled={submitting}
                  aria-describedby="run-start-hint"
                >
                  {STARTS.map(({ kind, label }) => (
                    <option key={kind} value={kind}>
                      {label}
                    </option>
                  ))}
                </select>
                <p id="run-start-hint" className="hint">
                  {fromWeights
                    ? 'Fine-tune weights people already have: they fix the family, the shape and the tokenizer.'
                    : 'A new model of the family and size above, trained from random weights.'}
                </p>
              </TextField>
              {form.start === 'run' ? (
                <StartRunField
                  value={form.start_run}
                  onChange={(start_run) => update({ start_run })}
                  runs={completedRuns}
                  loading={runs.loading}
                  error={errors['model.init_from.run_id'] ?? errors['model.init_from']}
                  disabled={submitting}
                />
              ) : null}
              {runs.error && wantRuns ? (
                <ErrorNotice error={runs.error} title="Runs could not be loaded" onRetry={runs.refetch} />
              ) : null}
              {form.start === 'path' ? (
                <TextField
                  id="run-start-path"
                  label="Folder"
                  required
                  error={errors['model.init_from.path'] ?? errors['model.init_from']}
                >
                  <input
                    id="run-start-path"
                    type="text"
                    value={form.start_path}
                    maxLength={1024}
                    spellCheck={false}
                    disabled={submitting}
                    placeholder="e.g. gpt2"
                    onChange={(e) => update({ start_path: e.target.value })}
                    aria-invalid={errors['model.init_from.path'] || errors['model.init_from'] ? true : undefined}
                    aria-describedby={describedBy('run-start-path', errors['model.init_from.path'] ?? errors['model.init_from'])}
                  />
                  <p id="run-start-path-hint" className="hint">
                    A Hugging Face model folder (config.json, the weights, tokenizer.json), relative to MODELS_ROOT.
                  </p>
                </TextField>
              ) : null}
              {fromWeights ? (
                <FinetuneFields value={form.finetune} onChange={updateFinetune} errors={errors} disabled={submitting} />
              ) : null}
            </div>
          </fieldset>
          <fieldset className="options">
            <legend>Model shape</legend>
            <SchemaForm
              schema={MODEL_SCHEMA}
              only={fromWeights ? TUNED_MODEL_FIELDS : MODEL_FIELDS}
              values={form.model}
              onChange={(model) => update({ model })}
              errors={errorsUnder(errors, 'model')}
              placeholders={placeholders}
              idPrefix="run-model"
              disabled={submitting}
              baseline={sectionBaseline('model')}
            />
            {errors['model'] ? (
              <p id="run-model-error" className="field-error" role="alert">
                {errors['model']}
              </p>
            ) : null}
          </fieldset>
          {fromWeights ? null : (
            <fieldset className="options">
              <legend>{form.family ? `${form.family} options` : 'Options'}</legend>
              <SchemaForm
                schema={optionsSchema(backend)}
                values={shownOptions}
                onChange={(options: RawValues) => update({ options })}
                errors={errorsUnder(errors, 'model.options')}
                idPrefix="run-opt"
                disabled={submitting}
              />
            </fieldset>
          )}
          <fieldset className="options">
            <legend>Data split and records</legend>
            <SchemaForm
              schema={DATA_SCHEMA}
              only={DATA_FIELDS}
              values={form.data}
              onChange={(data) => update({ data })}
              errors={errorsUnder(errors, 'data')}
              idPrefix="run-data"
              disabled={submitting}
              baseline={sectionBaseline('data')}
            />
          </fieldset>
          <fieldset className="options">
            <legend>Trainer</legend>
            <SchemaForm
              schema={TRAINER_SCHEMA}
              only={ADVANCED_TRAINER_FIELDS}
              values={form.trainer}
              onChange={(trainer) => update({ trainer })}
              errors={errorsUnder(errors, 'trainer')}
              idPrefix="run-trainer"
              disabled={submitting}
              baseline={sectionBaseline('trainer')}
            />
            <p className="hint">
              Tokens per step (batch size × gradient accumulation steps × context length):{' '}
              {perStep === undefined ? '—' : formatNumber(perStep)}
            </p>
          </fieldset>
        </details>
        {refusal ? (
          <div ref={refusalRef} className="notice notice-error refusal" role="alert" tabIndex={-1}>
            <strong>The API refused this run</strong> <code className="error-code">{refusal.code}</code>
            <p className="error-message">{refusal.message}</p>
            {refusal.request_id ? <p className="muted small">request {refusal.request_id}</p> : null}
          </div>
        ) : null}
        {failure ? <ErrorNotice error={failure} title="The run was not queued" /> : null}
        <div className="actions">
          <button type="submit" className="button primary" disabled={submitting || loading}>
            {submitting ? 'Queuing…' : 'Start training'}
          </button>
        </div>
      </form>
      <CommandLine body={current.body} missing={Object.keys(current.errors)} />
    </div>
  )
}

/** The same run from the command line: a TOML file with the command that reads it, and
 * one command with flags. */
function CommandLine({ body, missing }: { body: object | undefined; missing: string[] }) {
  const [open, setOpen] = useState(false)
  const json = body as { [key: string]: Json } | undefined
  return (
    <details className="command-line" open={open} onToggle={(e) => setOpen(e.currentTarget.open)}>
      <summary>The same run from the command line</summary>
      {!open ? null : json ? (
        <>
          <p className="hint">Save the file as run.toml, then run:</p>
          <CopyBlock label="Command for run.toml" text={CONFIG_COMMAND} testId="cli-config-command" />
          <CopyBlock label="run.toml" text={toToml(json)} testId="run-toml" />
          <p className="hint">Or in one line, with the flags and what differs from the API&apos;s defaults:</p>
          <CopyBlock label="Command" text={cliCommand(json, API_DEFAULTS)} testId="cli-command" />
        </>
      ) : (
        <p className="muted small">Complete the form first ({missing.slice(0, 3).join(', ')}).</p>
      )}
    </details>
  )
}

/** The run whose evaluations this one's are compared against (regressions are flagged). */
function BaselineField({
  value,
  onChange,
  runs,
  loading,
  error,
  disabled,
  note,
  changed,
}: {
  value: string
  onChange: (runId: string) => void
  runs: RunPublic[]
  loading: boolean
  error: string | undefined
  disabled: boolean
  note: ReactNode
  changed: boolean
}) {
  const known = runs.some((r) => r.run_id === value)
  return (
    <TextField id="run-baseline" label="Compare evaluations against" error={error} note={note} changed={changed}>
      <select
        id="run-baseline"
        value={value}
        disabled={disabled}
        onChange={(e) => onChange(e.target.value)}
        aria-invalid={error ? true : undefined}
        aria-describedby={describedBy('run-baseline', error)}
      >
        <option value="">{loading ? 'loading runs…' : 'no baseline'}</option>
        {value && !known ? <option value={value}>{value}</option> : null}
        {runs.map((r) => (
          <option key={r.run_id} value={r.run_id}>
            {runTitle(r)} — {r.config.model.family} {r.config.model.size}, best val {formatNumber(r.metrics.best_val_loss)}
          </option>
        ))}
      </select>
      <p id="run-baseline-hint" className="hint">
        Optional: a completed run; this run&apos;s evaluations flag figures worse than its.
      </p>
    </TextField>
  )
}

function runTitle(r: RunPublic): string {
  return r.name ? `${r.name} (${r.run_id})` : r.run_id
}

/** The completed run whose export to start from. */
function StartRunField({
  value,
  onChange,
  runs,
  loading,
  error,
  disabled,
}: {
  value: string
  onChange: (runId: string) => void
  runs: RunPublic[]
  loading: boolean
  error: string | undefined
  disabled: boolean
}) {
  const known = runs.some((r) => r.run_id === value)
  return (
    <TextField id="run-start-run" label="Earlier run" required error={error}>
      <select
        id="run-start-run"
        value={value}
        disabled={disabled}
        onChange={(e) => onChange(e.target.value)}
        aria-invalid={error ? true : undefined}
        aria-describedby={describedBy('run-start-run', error)}
      >
        <option value="">{loading ? 'loading runs…' : 'choose…'}</option>
        {value && !known && !loading ? <option value={value}>{value} (not completed or gone)</option> : null}
        {value && !known && loading ? <option value={value}>{value}</option> : null}
        {runs.map((r) => (
          <option key={r.run_id} value={r.run_id}>
            {r.run_id} — {r.config.model.family}
            {r.finetune ? ` fine-tune (${r.finetune.method})` : ` ${r.config.model.size}`}, best val{' '}
            {formatNumber(r.metrics.best_val_loss)}, {r.config.data.corpus_path}
          </option>
        ))}
      </select>
      <p id="run-start-run-hint" className="hint">
        {runs.length === 0 && !loading
          ? 'No completed run yet: completed runs only, their exported model is the start.'
          : 'Completed runs only: the run\'s exported model is the start.'}
      </p>
    </TextField>
  )
}

/** How a run that starts from weights trains: every weight, or LoRA's adapters. */
function FinetuneFields({
  value,
  onChange,
  errors,
  disabled,
}: {
  value: FinetuneForm
  onChange: (patch: Partial<FinetuneForm>) => void
  errors: Record<string, string>
  disabled: boolean
}) {
  const methodError = errors['finetune.method'] ?? errors['finetune']
  const modulesError = errors['finetune.target_modules']
  const adapterError = errors['finetune.export_adapter']
  return (
    <>
      <TextField id="run-finetune-method" label="Fine-tune method" error={methodError}>
        <select
          id="run-finetune-method"
          value={value.method}
          disabled={disabled}
          onChange={(e) => onChange({ method: e.target.value === 'lora' ? 'lora' : 'full' })}
          aria-invalid={methodError ? true : undefined}
          aria-describedby={describedBy('run-finetune-method', methodError)}
        >
          <option value="full">Full (every weight)</option>
          <option value="lora">LoRA (low-rank adapters)</option>
        </select>
        <p id="run-finetune-method-hint" className="hint">
          {value.method === 'lora'
            ? 'Adapters train beside the frozen weights; the export merges them in.'
            : 'Every weight trains.'}
        </p>
      </TextField>
      {value.method === 'lora' ? (
        <>
          <SchemaForm
            schema={LORA_SCHEMA}
            values={value.lora}
            onChange={(lora) => onChange({ lora })}
            errors={errorsUnder(errors, 'finetune')}
            idPrefix="run-lora"
            disabled={disabled}
          />
          <TextField id="run-lora-target_modules" label="Target modules" error={modulesError}>
            <input
              id="run-lora-target_modules"
              type="text"
              value={value.target_modules}
              spellCheck={false}
              disabled={disabled}
              placeholder="the family's default"
              onChange={(e) => onChange({ target_modules: e.target.value })}
              aria-invalid={modulesError ? true : undefined}
              aria-describedby={describedBy('run-lora-target_modules', modulesError)}
            />
            <p id="run-lora-target_modules-hint" className="hint">
              Module names, comma-separated (e.g. c_attn, c_proj); empty: the family's default.
            </p>
          </TextField>
          <div className="field field-check">
            <label htmlFor="run-lora-export_adapter">Also export the adapter</label>
            <input
              id="run-lora-export_adapter"
              type="checkbox"
              checked={value.export_adapter}
              disabled={disabled}
              onChange={(e) => onChange({ export_adapter: e.target.checked })}
              aria-invalid={adapterError ? true : undefined}
              aria-describedby={describedBy('run-lora-export_adapter', adapterError)}
            />
            <p id="run-lora-export_adapter-hint" className="hint">
              Besides the merged model, the adapters alone (PeftModel.from_pretrained).
            </p>
            {adapterError ? (
              <p id="run-lora-export_adapter-error" className="field-error" role="alert">
                {adapterError}
              </p>
            ) : null}
          </div>
        </>
      ) : null}
    </>
  )
}
