import { useEffect, useRef, useState, type FormEvent } from 'react'
import { asApiError, type ApiError } from '../api/errors'
import type { GeneratePublic, GenerateRequest } from '../api/types'
import { componentSchema } from '../lib/apiSchema'
import { clearEditedErrors } from '../lib/formErrors'
import { streamGenerate } from '../lib/generateStream'
import { collect, fieldErrors, fieldsOf, initialValues, withDefaults, type RawValues } from '../lib/schemaForm'
import { BusyNotice } from './BusyNotice'
import { SchemaForm } from './SchemaForm'
import { ErrorNotice } from './States'

const SCHEMA = componentSchema('GenerateRequest')
const SETTINGS = ['max_new_tokens', 'temperature', 'top_k', 'seed'] as const
const FIELDS = fieldsOf(SCHEMA).filter((f) => (SETTINGS as readonly string[]).includes(f.name))

/** What the box shows of one generation: the text so far and how it ended. */
interface Output {
  prompt: string
  text: string
  tokens: number
  state: 'streaming' | 'done' | 'stopped' | 'failed'
}

/** Sample from a run's exported model: a prompt and the sampling settings (defaults from
 * the API's schema). The text appears as the model makes it (streamed); Stop ends it (the
 * server stops too); 503 `SERVER_BUSY` says when to try again. */
export function GenerateBox({ runId }: { runId: string }) {
  const [prompt, setPrompt] = useState('')
  const [values, setValues] = useState<RawValues>(() => initialValues(FIELDS))
  const [errors, setErrors] = useState<Record<string, string>>({})
  const [output, setOutput] = useState<Output | undefined>(undefined)
  const [failure, setFailure] = useState<ApiError | undefined>(undefined)
  const [attempt, setAttempt] = useState(0)
  const running = useRef<AbortController | null>(null)
  const busy = output?.state === 'streaming'

  useEffect(() => () => running.current?.abort(), []) // leaving the page stops it

  const finish = (state: Output['state'], done?: GeneratePublic): void =>
    setOutput((o) =>
      o === undefined ? o : done ? { ...o, text: done.text, tokens: done.count, state } : { ...o, state },
    )

  const generate = async (): Promise<void> => {
    const checked = collect(FIELDS, values)
    setErrors(checked.errors)
    if (Object.keys(checked.errors).length > 0) return
    // checked against the GenerateRequest schema's own fields
    const body = { ...withDefaults(FIELDS, checked.value), prompt } as unknown as GenerateRequest
    running.current?.abort()
    const controller = new AbortController()
    running.current = controller
    setFailure(undefined)
    setAttempt((n) => n + 1)
    setOutput({ prompt, text: '', tokens: 0, state: 'streaming' })
    try {
      const done = await streamGenerate(runId, body, {
        signal: controller.signal,
        onToken: (t) => setOutput((o) => (o ? { ...o, text: o.text + t.text, tokens: o.tokens + t.ids.length } : o)),
      })
      finish('done', done)
    } catch (err) {
      if (controller.signal.aborted) {
        if (running.current === controller) finish('stopped')
        return
      }
      finish('failed')
      const e = asApiError(err)
      const { '': general, ...byField } = e.status === 422 ? fieldErrors(e.message, SETTINGS) : { '': e.message }
      setErrors(byField)
      if (general !== undefined || Object.keys(byField).length === 0) setFailure(e)
    } finally {
      if (running.current === controller) running.current = null
    }
  }
  const submit = (e: FormEvent): void => {
    e.preventDefault()
    void generate()
  }
  const stop = (): void => running.current?.abort()
  /** Set the settings; an edited field loses its error. */
  const change = (next: RawValues): void => {
    setErrors((e) => clearEditedErrors(e, values, next))
    setValues(next)
  }

  return (
    <form className="form generate" noValidate onSubmit={submit} aria-busy={busy}>
      <div className="field">
        <label htmlFor="gen-prompt">Prompt</label>
        <textarea
          id="gen-prompt"
          rows={3}
          value={prompt}
          placeholder="Empty: starts from the beginning of text"
          onChange={(e) => setPrompt(e.target.value)}
          aria-describedby="gen-prompt-hint"
        />
        <p id="gen-prompt-hint" className="hint">
          Empty: the model starts from the tokenizer's beginning of text. The same seed gives the same text.
        </p>
      </div>
      <div className="settings-grid">
        <SchemaForm schema={SCHEMA} only={SETTINGS} values={values} onChange={change} errors={errors} idPrefix="gen" disabled={busy} />
      </div>
      <div className="actions">
        <button type="submit" className="button primary" disabled={busy}>
          {busy ? 'Generating…' : 'Generate'}
        </button>
        {busy ? (
          <button type="button" className="button" onClick={stop}>
            Stop
          </button>
        ) : null}
      </div>
      {failure?.code === 'SERVER_BUSY' ? (
        <BusyNotice key={attempt} error={failure} what="generation" onRetry={() => void generate()} />
      ) : failure ? (
        <ErrorNotice error={failure} title={output && output.text ? 'Generation failed midway' : 'Nothing generated'} />
      ) : null}
      {output && (output.text || output.state !== 'failed') ? <Generated output={output} /> : null}
    </form>
  )
}

function Generated({ output }: { output: Output }) {
  const streaming = output.state === 'streaming'
  return (
    <div className="generated">
      <pre className={streaming ? 'sample streaming' : 'sample'} aria-live="polite" aria-busy={streaming}>
        {output.prompt ? <span className="sample-prompt">{output.prompt}</span> : null}
        {output.text}
        {streaming ? <span className="stream-cursor" aria-hidden="true" /> : null}
      </pre>
      <p className="muted small" role="status">
        {streaming
          ? output.tokens > 0
            ? `${output.tokens} new tokens so far…`
            : 'Waiting for the first token…'
          : output.state === 'stopped'
            ? `Stopped after ${output.tokens} new tokens`
            : output.state === 'failed'
              ? `${output.tokens} new tokens before it failed`
              : `${output.tokens} new tokens`}
      </p>
    </div>
  )
}
