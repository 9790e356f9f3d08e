import { useEffect, useState, type FormEvent } from 'react'
import { apiKey } from '../api/apiKey'

/** Asks for the API key (shown on a 401, or from the header's key button). */
export function ApiKeyPrompt() {
  const [state, setState] = useState(apiKey.state())
  useEffect(() => apiKey.subscribe(setState), [])
  return state.needed ? <KeyDialog hadKey={state.key !== null} /> : null
}

function KeyDialog({ hadKey }: { hadKey: boolean }) {
  const [value, setValue] = useState(() => apiKey.get() ?? '')
  useEffect(() => {
    const onKey = (e: KeyboardEvent): void => {
      if (e.key === 'Escape') apiKey.dismiss()
    }
    document.addEventListener('keydown', onKey)
    return () => document.removeEventListener('keydown', onKey)
  }, [])
  const submit = (e: FormEvent): void => {
    e.preventDefault()
    apiKey.save(value)
  }
  return (
    <div className="overlay">
      <form
        className="dialog"
        role="dialog"
        aria-modal="true"
        aria-labelledby="api-key-title"
        onSubmit={submit}
      >
        <h2 id="api-key-title">API key</h2>
        <p>
          {hadKey ? 'The API did not accept the stored key, or you asked to change it.' : 'This API needs a key (its SECURITY__API_KEY).'}{' '}
          It is kept in this browser and sent as <code>X-Api-Key</code>. Leave it empty to clear it.
        </p>
        <label className="field">
          <span>Key</span>
          <input
            // the dialog opens because the user must type here
            // oxlint-disable-next-line jsx-a11y/no-autofocus
            autoFocus
            type="password"
            autoComplete="off"
            value={value}
            onChange={(e) => setValue(e.target.value)}
          />
        </label>
        <div className="actions">
          <button type="submit" className="button primary">
            Save
          </button>
          <button type="button" className="button" onClick={() => apiKey.dismiss()}>
            Cancel
          </button>
        </div>
      </form>
    </div>
  )
}
