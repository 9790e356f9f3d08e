import { useEffect, useRef, useState, type ReactNode } from 'react'
import { ApiError, asApiError } from '../api/errors'
import { ErrorNotice } from './States'

/** "Delete X?": a modal question with the action's own button and Cancel (focused, and
 * Escape). The action runs in it: while it runs both wait; a refusal (a 409 naming what
 * still needs the thing) shows inside, and the dialog stays for the user to read it. */
export function ConfirmDialog({
  title,
  children,
  confirmLabel,
  onConfirm,
  onClose,
}: {
  title: string
  children: ReactNode
  confirmLabel: string
  /** Resolves when done (the dialog then closes), throws an ApiError to show. */
  onConfirm: () => Promise<void>
  onClose: () => void
}) {
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<ApiError | undefined>(undefined)
  const cancelRef = useRef<HTMLButtonElement>(null)
  useEffect(() => {
    cancelRef.current?.focus()
    const onKey = (e: KeyboardEvent): void => {
      if (e.key === 'Escape') onClose()
    }
    document.addEventListener('keydown', onKey)
    return () => document.removeEventListener('keydown', onKey)
  }, [onClose])
  const confirm = async (): Promise<void> => {
    setBusy(true)
    setError(undefined)
    try {
      await onConfirm()
      onClose()
    } catch (err) {
      setError(asApiError(err))
      setBusy(false)
    }
  }
  return (
    <div className="overlay">
      <div className="dialog" role="alertdialog" aria-modal="true" aria-labelledby="confirm-title" aria-describedby="confirm-body">
        <h2 id="confirm-title">{title}</h2>
        <div id="confirm-body">{children}</div>
        {error ? <ErrorNotice error={error} title={`Not done: ${error.status === 409 ? 'still in use' : 'the API refused'}`} /> : null}
        <div className="actions">
          <button type="button" className="button danger" disabled={busy} onClick={() => void confirm()}>
            {busy ? 'Working…' : confirmLabel}
          </button>
          <button ref={cancelRef} type="button" className="button" onClick={onClose}>
            {error ? 'Close' : 'Cancel'}
          </button>
        </div>
      </div>
    </div>
  )
}
