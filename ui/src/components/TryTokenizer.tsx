import { useState, type FormEvent } from 'react'
import { api, unwrap } from '../api/client'
import { asApiError, type ApiError } from '../api/errors'
import type { EncodePublic } from '../api/types'
import { formatNumber } from '../lib/format'
import { BusyNotice } from './BusyNotice'
import { ErrorNotice } from './States'
import { TokenPieces } from './TokenPieces'

/** Try a completed tokenizer: encode some text (`POST /tokenizers/{id}/encode`) and see
 * its tokens as coloured pieces with their ids. */
export function TryTokenizer({ tokenizerId }: { tokenizerId: string }) {
  const [text, setText] = useState('To be, or not to be, that is the question:\n')
  const [result, setResult] = useState<{ text: string; answer: EncodePublic } | undefined>(undefined)
  const [failure, setFailure] = useState<ApiError | undefined>(undefined)
  const [busy, setBusy] = useState(false)
  const [attempt, setAttempt] = useState(0)

  const encode = async (): Promise<void> => {
    setBusy(true)
    setFailure(undefined)
    setAttempt((n) => n + 1)
    try {
      const answer = await unwrap(
        api.POST('/tokenizers/{tokenizer_id}/encode', { params: { path: { tokenizer_id: tokenizerId } }, body: { text } }),
      )
      setResult({ text, answer })
    } catch (err) {
      setFailure(asApiError(err))
    } finally {
      setBusy(false)
    }
  }
  const submit = (e: FormEvent): void => {
    e.preventDefault()
    void encode()
  }
  const chars = result ? [...result.text].length : 0
  return (
    <div className="try-it">
      <form className="form" onSubmit={submit} aria-busy={busy}>
        <div className="field">
          <label htmlFor="try-text">Text</label>
          <textarea
            id="try-text"
            rows={3}
            value={text}
            onChange={(e) => setText(e.target.value)}
            onKeyDown={(e) => {
              if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) submit(e)
            }}
            aria-describedby="try-text-hint"
          />
          <p id="try-text-hint" className="hint">
            Ctrl+Enter encodes too.
          </p>
        </div>
        <div className="actions">
          <button type="submit" className="button primary" disabled={busy}>
            {busy ? 'Encoding…' : 'Encode'}
          </button>
        </div>
      </form>
      {failure?.code === 'SERVER_BUSY' ? (
        <BusyNotice key={attempt} error={failure} what="encoding" onRetry={() => void encode()} />
      ) : failure ? (
        <ErrorNotice error={failure} title="Not encoded" />
      ) : null}
      {result ? (
        <div className="encoded">
          <p className="muted small">
            {formatNumber(result.answer.count)} tokens for {formatNumber(chars)} characters
            {chars > 0 ? ` (${formatNumber(result.answer.count / chars)} per character)` : ''}
          </p>
          <TokenPieces tokens={result.answer.tokens} ids={result.answer.ids} />
          <details>
            <summary>Ids</summary>
            <pre className="json">{result.answer.ids.join(' ')}</pre>
          </details>
        </div>
      ) : null}
    </div>
  )
}
