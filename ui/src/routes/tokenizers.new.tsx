import { useMemo, useState, type FormEvent } from 'react'
import { api, unwrap } from '../api/client'
import { ApiError, asApiError } from '../api/errors'
import type { Json } from '../api/types'
import { useApi } from '../api/useApi'
import { BackendOptions } from '../components/BackendOptions'
import { CorpusField } from '../components/CorpusField'
import { TextField } from '../components/FormField'
import { SchemaForm } from '../components/SchemaForm'
import { ErrorNotice, Loading } from '../components/States'
import { usable } from '../lib/backends'
import { collect, fieldErrors, fieldsOf, initialValues, type RawValues } from '../lib/schemaForm'
import { navigate } from '../router/router'
import {
  TOKENIZER_DEFAULTS,
  TOP_FIELDS,
  buildTokenizerRequest,
  type TokenizerForm,
  type TopField,
} from '../lib/tokenizerForm'

/** Train a tokenizer: method (with its own options, a form built from its JSON schema),
 * vocabulary, corpus, holdout and seed. */
export function NewTokenizerPage() {
  const backends = useApi('backends', (signal) => unwrap(api.GET('/backends', { signal })))
  const tokenizers = useApi('tokenizers', (signal) => unwrap(api.GET('/tokenizers', { signal })))
  const tokenizerBackends = useMemo(
    // A method that only registers tokenizers made elsewhere (hf) is not offered
    () => (backends.data?.data ?? []).filter((b) => b.kind === 'tokenizer' && b.trains !== false),
    [backends.data],
  )
  const [form, setForm] = useState<TokenizerForm>({
    method: '',
    vocab_size: '8000',
    min_frequency: String(TOKENIZER_DEFAULTS.min_frequency),
    corpus_path: '',
    holdout_fraction: String(TOKENIZER_DEFAULTS.holdout_fraction),
    seed: String(TOKENIZER_DEFAULTS.seed),
  })
  const [options, setOptions] = useState<RawValues>({})
  const [errors, setErrors] = useState<Record<string, string>>({})
  const [failure, setFailure] = useState<ApiError | undefined>(undefined)
  const [submitting, setSubmitting] = useState(false)

  const method = form.method || tokenizerBackends.find(usable)?.name || ''
  const backend = tokenizerBackends.find((b) => b.name === method)
  const schema = (backend?.options_schema ?? undefined) as Json | undefined
  const optionFields = useMemo(() => fieldsOf(schema), [schema])
  const corpora = useMemo(
    () => [...new Set((tokenizers.data?.data ?? []).map((t) => t.config.corpus_path))].sort(),
    [tokenizers.data],
  )

  const chooseMethod = (name: string): void => {
    const chosen = tokenizerBackends.find((b) => b.name === name)
    setForm((f) => ({ ...f, method: name }))
    setOptions(initialValues(fieldsOf((chosen?.options_schema ?? undefined) as Json | undefined)))
    setErrors({})
  }
  /** Editing a field clears what was said of it. */
  const forget = (keys: string[]): void =>
    setErrors((e) => (keys.some((k) => k in e) ? Object.fromEntries(Object.entries(e).filter(([k]) => !keys.includes(k))) : e))
  const set = (key: keyof TokenizerForm) => (value: string): void => {
    forget([key])
    setForm((f) => ({ ...f, [key]: value }))
  }
  const changeOptions = (next: RawValues): void => {
    forget(Object.keys(next).filter((k) => next[k] !== shownOptions[k]).map((k) => `options.${k}`))
    setOptions(next)
  }

  const submit = async (e: FormEvent): Promise<void> => {
    e.preventDefault()
    setFailure(undefined)
    const rawOptions = Object.keys(options).length > 0 ? options : initialValues(optionFields)
    const opts = collect(optionFields, rawOptions)
    const built = buildTokenizerRequest({ ...form, method }, opts.value)
    const optionErrors = Object.fromEntries(Object.entries(opts.errors).map(([k, v]) => [`options.${k}`, v]))
    const all = { ...built.errors, ...optionErrors }
    setErrors(all)
    if (!built.body || Object.keys(all).length > 0) return
    setSubmitting(true)
    try {
      const queued = await unwrap(api.POST('/tokenizers/train', { body: built.body }))
      navigate(`/tokenizers/${encodeURIComponent(queued.tokenizer_id)}`)
    } catch (err) {
      const apiErr = asApiError(err)
      const known = [...TOP_FIELDS, ...optionFields.map((f) => `options.${f.name}`)]
      const byField = apiErr.status === 422 || apiErr.status === 400 || apiErr.status === 404
        ? fieldErrors(apiErr.message, known)
        : { '': apiErr.message }
      const { '': general, ...rest } = byField
      setErrors(rest)
      if (general !== undefined || Object.keys(rest).length === 0) setFailure(apiErr)
      else setFailure(undefined)
    } finally {
      setSubmitting(false)
    }
  }

  const optionErrors = Object.fromEntries(
    Object.entries(errors)
      .filter(([k]) => k.startsWith('options.'))
      .map(([k, v]) => [k.slice('options.'.length), v]),
  )
  const shownOptions = Object.keys(options).length > 0 ? options : initialValues(optionFields)

  return (
    <div className="page narrow">
      <h1>New tokenizer</h1>
      {backends.error ? <ErrorNotice error={backends.error} title="Methods could not be loaded" onRetry={backends.refetch} /> : null}
      {backends.loading ? <Loading what="tokenizer methods" /> : null}
      <form className="form" noValidate onSubmit={(e) => void submit(e)} aria-busy={submitting}>
        <TextField id="tok-method" label="Method" error={errors['method']}>
          <select
            id="tok-method"
            value={method}
            onChange={(e) => chooseMethod(e.target.value)}
            aria-invalid={errors['method'] ? true : undefined}
            aria-describedby={errors['method'] ? 'tok-method-error' : 'tok-method-hint'}
          >
            {tokenizerBackends.length === 0 ? <option value="">—</option> : null}
            <BackendOptions backends={tokenizerBackends} />
          </select>
          <p id="tok-method-hint" className="hint">
            {backend ? `${backend.distribution} ${backend.version}` : 'Installed tokenizer plugins'}
          </p>
        </TextField>
        <fieldset className="options">
          <legend>{method ? `${method} options` : 'Options'}</legend>
          <SchemaForm
            schema={schema}
            values={shownOptions}
            onChange={changeOptions}
            errors={optionErrors}
            idPrefix="tok-opt"
            disabled={submitting}
          />
        </fieldset>
        <NumberInput id="tok-vocab" label="Vocabulary size" required field="vocab_size" value={form.vocab_size} onChange={set('vocab_size')} error={errors['vocab_size']} min={2} step={1} hint="The largest vocabulary to build." />
        <NumberInput id="tok-minfreq" label="Minimum frequency" field="min_frequency" value={form.min_frequency} onChange={set('min_frequency')} error={errors['min_frequency']} min={1} step={1} hint={`Default ${TOKENIZER_DEFAULTS.min_frequency}.`} />
        <CorpusField
          id="tok-corpus"
          value={form.corpus_path}
          onChange={set('corpus_path')}
          error={errors['corpus_path']}
          suggestions={corpora}
          disabled={submitting}
        />
        <NumberInput id="tok-holdout" label="Holdout fraction" field="holdout_fraction" value={form.holdout_fraction} onChange={set('holdout_fraction')} error={errors['holdout_fraction']} min={0} max={0.5} step="any" hint={`Share of lines kept aside for the stats (0 to 0.5; default ${TOKENIZER_DEFAULTS.holdout_fraction}).`} />
        <NumberInput id="tok-seed" label="Seed" field="seed" value={form.seed} onChange={set('seed')} error={errors['seed']} min={0} step={1} hint={`Decides the holdout split (default ${TOKENIZER_DEFAULTS.seed}).`} />
        {failure ? <ErrorNotice error={failure} title="The tokenizer was not queued" /> : null}
        <div className="actions">
          <button type="submit" className="button primary" disabled={submitting || !method}>
            {submitting ? 'Queuing…' : 'Train tokenizer'}
          </button>
        </div>
      </form>
    </div>
  )
}

function NumberInput({
  id,
  label,
  field,
  value,
  onChange,
  error,
  hint,
  required = false,
  min,
  max,
  step,
}: {
  id: string
  label: string
  field: TopField
  value: string
  onChange: (value: string) => void
  error: string | undefined
  hint: string
  required?: boolean
  min?: number
  max?: number
  step: number | 'any'
}) {
  return (
    <TextField id={id} label={label} required={required} error={error}>
      <input
        id={id}
        name={field}
        type="number"
        inputMode={step === 1 ? 'numeric' : 'decimal'}
        value={value}
        min={min}
        max={max}
        step={step}
        onChange={(e) => onChange(e.target.value)}
        aria-invalid={error ? true : undefined}
        aria-describedby={error ? `${id}-error` : `${id}-hint`}
      />
      <p id={`${id}-hint`} className="hint">
        {hint}
      </p>
    </TextField>
  )
}
