import { useEffect, useMemo, useRef, useState, type FormEvent } from 'react'
import { api, unwrap } from '../api/client'
import { ApiError, asApiError } from '../api/errors'
import type { BackendPublic, Json, ModelSize, RunPublic, TokenizerPublic } from '../api/types'
import { useApi } from '../api/useApi'
import { useRunEstimate } from '../api/useEstimate'
import { BackendOptions } from '../components/BackendOptions'
import { CorpusField } from '../components/CorpusField'
import { TextField } from '../components/FormField'
import { describedBy } from '../lib/a11y'
import { RunEstimate } from '../components/RunEstimate'
import { SchemaForm } from '../components/SchemaForm'
import { ErrorNotice, Loading } from '../components/States'
import { formatNumber } from '../lib/format'
import {
  DATA_FIELDS,
  DATA_SCHEMA,
  MODEL_FIELDS,
  MODEL_SCHEMA,
  REFUSAL_CODES,
  SHAPE_FIELDS,
  TRAINER_SCHEMA,
  applyPreset,
  buildRunRequest,
  defaultForm,
  errorsUnder,
  formFromConfig,
  knownFields,
  tokensPerStep,
  type RunForm,
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

/** Start a training run: model family and size (with overrides and the family's own
 * options), tokenizer and corpus, trainer settings with the API's defaults; a preset, and
 * `?from=<run_id>` to start from a run's config (clone). */
export function NewRunPage({ from }: { from?: string | undefined }) {
  const backends = useApi('backends', (signal) => unwrap(api.GET('/backends', { signal })))
  const tokenizers = useApi('tokenizers:100', (signal) =>
    unwrap(api.GET('/tokenizers', { params: { query: { limit: 100 } }, signal })),
  )
  const source = useApi(`clone:${from ?? ''}`, (signal) =>
    from ? unwrap(api.GET('/runs/{run_id}', { params: { path: { run_id: from } }, signal })) : Promise.resolve(null),
  )
  const families = useMemo(() => (backends.data?.data ?? []).filter((b) => b.kind === 'model'), [backends.data])
  const completed = useMemo(
    () => (tokenizers.data?.data ?? []).filter((t) => t.status === 'completed'),
    [tokenizers.data],
  )

  const [form, setForm] = useState<RunForm>(defaultForm)
  const [cloned, setCloned] = useState<{ run: RunPublic; form: RunForm } | null>(null)
  const [errors, setErrors] = useState<Record<string, string>>({})
  const [refusal, setRefusal] = useState<ApiError | undefined>(undefined)
  const [failure, setFailure] = useState<ApiError | undefined>(undefined)
  const [submitting, setSubmitting] = useState(false)
  const [attempt, setAttempt] = useState(0)
  const formRef = useRef<HTMLFormElement>(null)
  const refusalRef = useRef<HTMLDivElement>(null)

  // Cloning: once the run and the plugins are known, the run's config becomes the form.
  if (source.data && backends.data && cloned?.run.run_id !== source.data.run_id) {
    const family = families.find((b) => b.name === source.data?.config.model.family)
    const start = formFromConfig(source.data.config, fieldsOf(optionsSchema(family)))
    setCloned({ run: source.data, form: start })
    setForm(start)
  }

  const backend = families.find((b) => b.name === form.family)
  const optionFields = useMemo(() => fieldsOf(optionsSchema(backend)), [backend])
  const tokenizerId = form.tokenizer_id || completed[0]?.tokenizer_id || ''
  const tokenizer: TokenizerPublic | undefined = completed.find((t) => t.tokenizer_id === tokenizerId)
  const sizes = backend?.sizes ?? null
  const named = sizes?.[form.size]
  // Untouched options start from the size's own (the form sends what it shows).
  const shownOptions =
    Object.keys(form.options).length > 0 ? form.options : initialValues(optionFields, sizeOptions(named))

  // After a refused or invalid submit: take the keyboard to what needs attention.
  useEffect(() => {
    if (attempt === 0) return
    if (refusalRef.current) refusalRef.current.focus()
    else formRef.current?.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus()
  }, [attempt])

  const update = (patch: Partial<RunForm>): void => setForm((f) => ({ ...f, ...patch }))
  const chooseFamily = (name: string): void => {
    const next = families.find((b) => b.name === name)
    const names = Object.keys(next?.sizes ?? {})
    setForm((f) => ({ ...f, family: name, size: names.includes(f.size) ? f.size : (names[0] ?? f.size), options: {} }))
  }
  const chooseTokenizer = (id: string): void => {
    const t = completed.find((x) => x.tokenizer_id === id)
    setForm((f) => ({ ...f, tokenizer_id: id, corpus_path: f.corpus_path || (t?.config.corpus_path ?? '') }))
  }
  const preset = (): void => {
    // a tokenizer trained on the preset's corpus, when there is one
    const onCorpus = completed.find((t) => t.config.corpus_path === 'shakespeare.txt')
    setForm((f) => applyPreset({ ...f, tokenizer_id: onCorpus?.tokenizer_id ?? f.tokenizer_id }))
    setErrors({})
    setRefusal(undefined)
    setFailure(undefined)
  }

  const submit = async (e: FormEvent): Promise<void> => {
    e.preventDefault()
    setFailure(undefined)
    setRefusal(undefined)
    const built = buildRunRequest({ ...form, tokenizer_id: tokenizerId, options: shownOptions }, optionFields, sizes)
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
  const current = buildRunRequest({ ...form, tokenizer_id: tokenizerId, options: shownOptions }, optionFields, sizes)
  const estimate = useRunEstimate(current.body)
  const incomplete = current.body ? undefined : `Set ${Object.keys(current.errors).slice(0, 3).join(', ')} for an estimate.`

  const placeholders: Record<string, string> = {}
  if (named) for (const f of SHAPE_FIELDS) placeholders[f] = `${named[f]} (${form.size})`
  const perStep = tokensPerStep(form)
  const loading = backends.loading || tokenizers.loading || (from !== undefined && source.loading)

  return (
    <div className="page narrow">
      <h1>New training run</h1>
      <div className="actions">
        <button type="button" className="button" onClick={preset} disabled={submitting}>
          Quick Shakespeare
        </button>
        <span className="muted small">nano GPT-2 on shakespeare.txt, 2,000 steps of 12 × 64 tokens</span>
      </div>
      {cloned ? (
        <p className="notice">
          Starting from the config of <Link to={`/runs/${encodeURIComponent(cloned.run.run_id)}`}>{cloned.run.run_id}</Link>: change
          what you want to try and start it.
        </p>
      ) : null}
      {source.error ? <ErrorNotice error={source.error} title={`The run ${from ?? ''} could not be loaded`} onRetry={source.refetch} /> : null}
      {backends.error ? <ErrorNotice error={backends.error} title="Model families could not be loaded" onRetry={backends.refetch} /> : null}
      {tokenizers.error ? <ErrorNotice error={tokenizers.error} title="Tokenizers could not be loaded" onRetry={tokenizers.refetch} /> : null}
      {loading ? <Loading what="the form" /> : null}
      <form ref={formRef} className="form" noValidate onSubmit={(e) => void submit(e)} aria-busy={submitting}>
        <fieldset className="options">
          <legend>Model</legend>
          <div className="schema-form">
            <TextField id="run-family" label="Family" required error={errors['model.family']}>
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
            <TextField id="run-size" label="Size" required error={errors['model.size']}>
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
                The fields below override the size; empty ones keep its values.
              </p>
            </TextField>
            <SchemaForm
              schema={MODEL_SCHEMA}
              only={MODEL_FIELDS}
              values={form.model}
              onChange={(model) => update({ model })}
              errors={errorsUnder(errors, 'model')}
              placeholders={placeholders}
              idPrefix="run-model"
              disabled={submitting}
            />
            {errors['model'] ? (
              <p id="run-model-error" className="field-error" role="alert">
                {errors['model']}
              </p>
            ) : null}
            <RunEstimate estimate={estimate.data} error={estimate.error} pending={estimate.pending} incomplete={incomplete} />
          </div>
        </fieldset>
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
        <fieldset className="options">
          <legend>Data</legend>
          <div className="schema-form">
            <TextField id="run-tokenizer" label="Tokenizer" required error={errors['data.tokenizer_id']}>
              <select
                id="run-tokenizer"
                value={tokenizerId}
                onChange={(e) => chooseTokenizer(e.target.value)}
                aria-invalid={errors['data.tokenizer_id'] ? true : undefined}
                aria-describedby={describedBy('run-tokenizer', errors['data.tokenizer_id'])}
              >
                {completed.length === 0 && !tokenizerId ? <option value="">no completed tokenizer</option> : null}
                {tokenizerId && !tokenizer ? <option value={tokenizerId}>{tokenizerId} (not completed or gone)</option> : null}
                {completed.map((t) => (
                  <option key={t.tokenizer_id} value={t.tokenizer_id}>
                    {t.tokenizer_id} — {t.method}, {formatNumber(t.stats?.vocab_size)} tokens, {t.config.corpus_path}
                  </option>
                ))}
              </select>
              <p id="run-tokenizer-hint" className="hint">
                {completed.length === 0 && !tokenizers.loading ? (
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
            />
            <SchemaForm
              schema={DATA_SCHEMA}
              only={DATA_FIELDS}
              values={form.data}
              onChange={(data) => update({ data })}
              errors={errorsUnder(errors, 'data')}
              idPrefix="run-data"
              disabled={submitting}
            />
          </div>
        </fieldset>
        <fieldset className="options">
          <legend>Trainer</legend>
          <SchemaForm
            schema={TRAINER_SCHEMA}
            values={form.trainer}
            onChange={(trainer) => update({ trainer })}
            errors={errorsUnder(errors, 'trainer')}
            idPrefix="run-trainer"
            disabled={submitting}
          />
          {errors['trainer'] ? (
            <p className="field-error" role="alert">
              {errors['trainer']}
            </p>
          ) : null}
          <p className="hint">
            Tokens per step (batch size × grad accum steps × max seq len): {perStep === undefined ? '—' : formatNumber(perStep)}
          </p>
        </fieldset>
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
    </div>
  )
}
