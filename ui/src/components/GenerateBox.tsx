import { useState, type FormEvent } from 'react'
import { api, unwrap } from '../api/client'
import { asApiError, type ApiError } from '../api/errors'
import type { GeneratePublic, GenerateRequest } from '../api/types'
import { componentSchema } from '../lib/apiSchema'
import { collect, fieldErrors, fieldsOf, initialValues, withDefaults, type RawValues } from '../lib/schemaForm'
import { BusyNotice } from './BusyNotice'
import { SchemaForm } from './SchemaForm'
import { ErrorNotice } from './States'

const SCHEMA = componentSchema('GenerateRequest')
const SETTINGS = ['max_new_tokens', 'temperature', 'top_k', 'seed'] as const
const FIELDS = fieldsOf(SCHEMA).filter((f) => (SETTINGS as readonly string[]).includes(f.name))

/** Sample from a run's exported model: a prompt and the sampling settings (defaults from
 * the API's schema); 503 `SERVER_BUSY` says when to try again. */
export function GenerateBox({ runId }: { runId: string }) {
  const [prompt, setPrompt] = useState('')
  const [values, setValues] = useState<RawValues>(() => initialValues(FIELDS))
  const [errors, setErrors] = useState<Record<string, string>>({})
  const [busy, setBusy] = useState(false)
  const [result, setResult] = useState<GeneratePublic | undefined>(undefined)
  const [failure, setFailure] = useState<ApiError | undefined>(undefined)
  const [attempt, setAttempt] = useState(0)

  const generate = async (): Promise<void> => {
    const checked = collect(FIELDS, values)
    setErrors(checked.errors)
    if (Object.keys(checked.errors).length > 0) return
    // checked against the GenerateRequest schema's own fields
    const body = { ...withDefaults(FIELDS, checked.value), prompt } as unknown as GenerateRequest
    setBusy(true)
    setFailure(undefined)
    setAttempt((n) => n + 1)
    try {
      setResult(await unwrap(api.POST('/runs/{run_id}/generate', { params: { path: { run_id: runId } }, body })))
    } catch (err) {
      const e = asApiError(err)
      const { '': general, ...byField } = e.status === 422 ? fieldErrors(e.message, SETTINGS) : { '': e.message }
      setErrors(byField)
      if (general !== undefined || Object.keys(byField).length === 0) setFailure(e)
    } finally {
      setBusy(false)
    }
  }
  const submit = (e: FormEvent): void => {
    e.preventDefault()
    void generate()
  }

  return (
    <form className="form generate" noValidate onSubmit={submit} aria-busy={busy}>
      <div className="field">
        <label htmlFor="gen-prompt">Prompt</label>
        <textarea
          id="gen-prompt"
          rows={3}
          value={prompt}
          placeholder="ROMEO:"
          onChange={(e) => setPrompt(e.target.value)}
          aria-describedby="gen-prompt-hint"
        />
        <p id="gen-prompt-hint" className="hint">
          Empty: the model starts from nothing. The same seed gives the same text.
        </p>
      </div>
      <div className="settings-grid">
        <SchemaForm schema={SCHEMA} only={SETTINGS} values={values} onChange={setValues} errors={errors} idPrefix="gen" disabled={busy} />
      </div>
      <div className="actions">
        <button type="submit" className="button primary" disabled={busy}>
          {busy ? 'Generating…' : 'Generate'}
        </button>
      </div>
      {failure?.code === 'SERVER_BUSY' ? (
        <BusyNotice key={attempt} error={failure} what="generation" onRetry={() => void generate()} />
      ) : failure ? (
        <ErrorNotice error={failure} title="Nothing generated" />
      ) : null}
      {result ? (
        <div className="generated" aria-live="polite">
          <pre className="sample">
            {result.prompt ? <span className="sample-prompt">{result.prompt}</span> : null}
            {result.text}
          </pre>
          <p className="muted small">{result.count} new tokens</p>
        </div>
      ) : null}
    </form>
  )
}
