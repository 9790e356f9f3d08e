import type { ReactNode } from 'react'

/** A labelled form field with its error under it (`<id>-error`, for `aria-describedby`);
 * `note` goes under the input (e.g. "changed from the cloned run's …"), and `changed`
 * marks the field as differing from what the form started from. */
export function TextField({
  id,
  label,
  required = false,
  error,
  children,
  note,
  changed = false,
}: {
  id: string
  label: string
  required?: boolean
  error: string | undefined
  children: ReactNode
  note?: ReactNode
  changed?: boolean
}) {
  return (
    <div className={changed ? 'field field-changed' : 'field'}>
      <label htmlFor={id}>
        {label}
        {required ? <span aria-hidden="true"> *</span> : null}
      </label>
      {children}
      {note}
      {error ? (
        <p id={`${id}-error`} className="field-error" role="alert">
          {error}
        </p>
      ) : null}
    </div>
  )
}
