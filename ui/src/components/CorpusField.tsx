import { useRef, useState, type ReactNode } from 'react'
import { describedBy } from '../lib/a11y'
import { CorpusBrowser } from './CorpusBrowser'
import { TextField } from './FormField'

/** The corpus path (a file or folder under the API's CORPUS_ROOT): typed, with
 * suggestions from what earlier jobs read, or picked from the corpus folder with sizes. */
export function CorpusField({
  id,
  value,
  onChange,
  error,
  suggestions,
  disabled = false,
  note,
  changed = false,
}: {
  id: string
  value: string
  onChange: (value: string) => void
  error: string | undefined
  suggestions: readonly (string | undefined)[]
  disabled?: boolean
  /** Under the input (e.g. "changed from the cloned run's …"). */
  note?: ReactNode
  changed?: boolean
}) {
  const [browsing, setBrowsing] = useState(false)
  const input = useRef<HTMLInputElement>(null)
  const unique = [...new Set(suggestions.filter((s): s is string => typeof s === 'string' && s !== ''))]
  const close = (): void => {
    setBrowsing(false)
    input.current?.focus()
  }
  return (
    <TextField id={id} label="Corpus" required error={error} note={note} changed={changed}>
      <div className="corpus-input">
        <input
          ref={input}
          id={id}
          type="text"
          list={`${id}-list`}
          value={value}
          placeholder={`e.g. ${unique[0] ?? 'shakespeare.txt'}`}
          disabled={disabled}
          onChange={(e) => onChange(e.target.value)}
          aria-invalid={error ? true : undefined}
          aria-describedby={describedBy(id, error)}
        />
        <button
          type="button"
          className="button"
          aria-expanded={browsing}
          aria-controls={`${id}-browser`}
          disabled={disabled}
          onClick={() => setBrowsing((b) => !b)}
        >
          Browse…
        </button>
      </div>
      <datalist id={`${id}-list`}>
        {unique.map((c) => (
          <option key={c} value={c}>
            {c}
          </option>
        ))}
      </datalist>
      <p id={`${id}-hint`} className="hint">
        A file or folder under the API&apos;s CORPUS_ROOT: text, JSON Lines, JSON, CSV, Parquet or a
        save_to_disk folder.
      </p>
      <div id={`${id}-browser`}>
        {browsing ? (
          <CorpusBrowser
            onChoose={(path) => {
              onChange(path)
              close()
            }}
            onClose={close}
          />
        ) : null}
      </div>
    </TextField>
  )
}
