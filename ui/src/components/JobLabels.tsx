import { useState, type FormEvent } from 'react'
import type { LabelsPatch } from '../api/contract'
import { asApiError, type ApiError } from '../api/errors'
import { labelsPatch, labelsProblem, parseTags, type JobLabelValues } from '../lib/labels'
import { ErrorNotice } from './States'

/** The tags of a run or tokenizer as chips. */
export function TagChips({ tags }: { tags: readonly string[] }) {
  if (tags.length === 0) return null
  return (
    <ul className="tags" aria-label="Tags">
      {tags.map((t) => (
        <li key={t} className="tag">
          {t}
        </li>
      ))}
    </ul>
  )
}

/** A job's tags (as chips) and notes, edited in place with `save` (its `PATCH`): the name
 * is the page's title, edited here too. `noun` names the job in the form ("tokenizer"). */
export function JobLabels({
  id,
  noun,
  labels,
  save,
  onSaved,
}: {
  id: string
  noun: string
  labels: JobLabelValues
  save: (patch: LabelsPatch) => Promise<unknown>
  onSaved: () => void
}) {
  const [editing, setEditing] = useState(false)
  const tags = labels.tags ?? []
  const notes = labels.notes ?? ''
  return (
    <div className="run-labels">
      {editing ? (
        <LabelsForm id={id} noun={noun} labels={labels} save={save} onClose={() => setEditing(false)} onSaved={onSaved} />
      ) : (
        <>
          <TagChips tags={tags} />
          {notes ? <p className="run-notes">{notes}</p> : null}
          <button type="button" className="button small" onClick={() => setEditing(true)}>
            {labels.name || tags.length > 0 || notes ? 'Edit labels' : 'Add a name, tags or notes'}
          </button>
        </>
      )}
    </div>
  )
}

function LabelsForm({
  id,
  noun,
  labels,
  save,
  onClose,
  onSaved,
}: {
  id: string
  noun: string
  labels: JobLabelValues
  save: (patch: LabelsPatch) => Promise<unknown>
  onClose: () => void
  onSaved: () => void
}) {
  // The labels as the form opened: what is sent is the change from these, even when the job's
  // labels are fetched again while the form is open.
  const [opened] = useState(labels)
  const [name, setName] = useState(labels.name ?? '')
  const [tagsText, setTagsText] = useState((labels.tags ?? []).join(', '))
  const [notes, setNotes] = useState(labels.notes ?? '')
  const [busy, setBusy] = useState(false)
  const [failure, setFailure] = useState<ApiError | undefined>(undefined)
  const tags = parseTags(tagsText)
  const problem = labelsProblem(name, tags, notes)
  const submit = async (e: FormEvent): Promise<void> => {
    e.preventDefault()
    if (problem) return
    const patch = labelsPatch(opened, name, tags, notes)
    if (patch === null) {
      onClose()
      return
    }
    setBusy(true)
    setFailure(undefined)
    try {
      await save(patch)
      onSaved()
      onClose()
    } catch (err) {
      setFailure(asApiError(err))
    } finally {
      setBusy(false)
    }
  }
  const field = `labels-${id}`
  const title = `${noun.charAt(0).toUpperCase()}${noun.slice(1)} labels`
  return (
    <form className="form labels-form" onSubmit={(e) => void submit(e)} aria-label={title}>
      <div className="field">
        <label htmlFor={`${field}-name`}>Name</label>
        {/* maxLength counts UTF-16 units, not characters: a bound well above 120 characters
            (an emoji is two units), the exact limit being said by `labelsProblem`. */}
        <input id={`${field}-name`} value={name} maxLength={480} onChange={(e) => setName(e.target.value)} placeholder="No name (shown by its id)" />
      </div>
      <div className="field">
        <label htmlFor={`${field}-tags`}>Tags</label>
        <input id={`${field}-tags`} value={tagsText} onChange={(e) => setTagsText(e.target.value)} aria-describedby={`${field}-tags-hint`} />
        <p id={`${field}-tags-hint`} className="hint">
          Separated by commas or spaces; letters, digits, - _ . : (up to 16).
        </p>
      </div>
      <div className="field">
        <label htmlFor={`${field}-notes`}>Notes</label>
        <textarea id={`${field}-notes`} rows={3} value={notes} onChange={(e) => setNotes(e.target.value)} />
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
