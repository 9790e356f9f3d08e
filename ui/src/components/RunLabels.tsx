import { useState, type FormEvent } from 'react'
import { runCalls, type RunLabelsPatch, type RunView } from '../api/contract'
import { asApiError, type ApiError } from '../api/errors'
import { ErrorNotice } from './States'

const TAG = /^[A-Za-z0-9_.:-]{1,40}$/

/** "a, b c,A" -> ['a', 'b', 'c'] (split on commas and spaces; each once, compared
 * without case, kept as first typed). */
function parseTags(text: string): string[] {
  const seen = new Set<string>()
  const out: string[] = []
  for (const t of text.split(/[\s,]+/)) {
    if (t && !seen.has(t.toLowerCase())) {
      seen.add(t.toLowerCase())
      out.push(t)
    }
  }
  return out
}

/** What the API would refuse, said before asking it. */
function labelsProblem(name: string, tags: readonly string[], notes: string): string {
  if (name.trim().length > 120) return 'name: at most 120 characters'
  if (notes.length > 10_000) return 'notes: at most 10,000 characters'
  if (tags.length > 16) return 'tags: at most 16'
  const bad = tags.find((t) => !TAG.test(t))
  return bad === undefined ? '' : `tags: '${bad}' may hold only letters, digits, -, _, . and : (up to 40)`
}

/** A run's tags (as chips) and notes, edited in place (`PATCH /runs/{id}`). The name is the
 * page's title; it is edited here too. */
export function RunLabels({ run, onSaved }: { run: RunView; onSaved: () => void }) {
  const [editing, setEditing] = useState(false)
  const tags = run.tags ?? []
  const notes = run.notes ?? ''
  return (
    <div className="run-labels">
      {editing ? (
        <LabelsForm run={run} onClose={() => setEditing(false)} onSaved={onSaved} />
      ) : (
        <>
          {tags.length > 0 ? (
            <ul className="tags" aria-label="Tags">
              {tags.map((t) => (
                <li key={t} className="tag">
                  {t}
                </li>
              ))}
            </ul>
          ) : null}
          {notes ? <p className="run-notes">{notes}</p> : null}
          <button type="button" className="button small" onClick={() => setEditing(true)}>
            {run.name || tags.length > 0 || notes ? 'Edit labels' : 'Add a name, tags or notes'}
          </button>
        </>
      )}
    </div>
  )
}

function LabelsForm({ run, onClose, onSaved }: { run: RunView; onClose: () => void; onSaved: () => void }) {
  const [name, setName] = useState(run.name ?? '')
  const [tagsText, setTagsText] = useState((run.tags ?? []).join(', '))
  const [notes, setNotes] = useState(run.notes ?? '')
  const [busy, setBusy] = useState(false)
  const [failure, setFailure] = useState<ApiError | undefined>(undefined)
  const tags = parseTags(tagsText)
  const problem = labelsProblem(name, tags, notes)
  const submit = async (e: FormEvent): Promise<void> => {
    e.preventDefault()
    if (problem) return
    setBusy(true)
    setFailure(undefined)
    const patch: RunLabelsPatch = {
      name: name.trim() || null,
      tags,
      notes: notes.trim() ? notes : null,
      add_tags: [],
      remove_tags: [],
    }
    try {
      await runCalls.label(run.run_id, patch)
      onSaved()
      onClose()
    } catch (err) {
      setFailure(asApiError(err))
    } finally {
      setBusy(false)
    }
  }
  const id = `labels-${run.run_id}`
  return (
    <form className="form labels-form" onSubmit={(e) => void submit(e)} aria-label="Run labels">
      <div className="field">
        <label htmlFor={`${id}-name`}>Name</label>
        <input id={`${id}-name`} value={name} maxLength={120} onChange={(e) => setName(e.target.value)} placeholder={run.run_id} />
      </div>
      <div className="field">
        <label htmlFor={`${id}-tags`}>Tags</label>
        <input id={`${id}-tags`} value={tagsText} onChange={(e) => setTagsText(e.target.value)} aria-describedby={`${id}-tags-hint`} />
        <p id={`${id}-tags-hint`} className="hint">
          Separated by commas or spaces; letters, digits, - _ . : (up to 16).
        </p>
      </div>
      <div className="field">
        <label htmlFor={`${id}-notes`}>Notes</label>
        <textarea id={`${id}-notes`} rows={3} value={notes} onChange={(e) => setNotes(e.target.value)} />
      </div>
      {problem ? (
        <p className="field-error" role="alert">
          {problem}
        </p>
      ) : null}
      {failure ? <ErrorNotice error={failure} title="Labels not saved" /> : null}
      <div className="actions">
        <button type="submit" className="button primary" disabled={busy || !!problem}>
          Save labels
        </button>
        <button type="button" className="button" onClick={onClose}>
          Cancel
        </button>
      </div>
    </form>
  )
}
