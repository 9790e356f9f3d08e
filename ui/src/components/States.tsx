import type { ReactNode } from 'react'
import type { ApiError } from '../api/errors'

/** An API error as the user sees it: its code, its message and the request id. */
export function ErrorNotice({
  error,
  title,
  onRetry,
}: {
  error: ApiError
  title?: string
  onRetry?: () => void
}) {
  return (
    <div className="notice notice-error" role="alert">
      <strong>{title ?? 'Something went wrong'}</strong>{' '}
      <code className="error-code">{error.code}</code>
      <p className="error-message">{error.message}</p>
      {error.request_id ? <p className="muted small">request {error.request_id}</p> : null}
      {onRetry ? (
        <button type="button" className="button" onClick={onRetry}>
          Try again
        </button>
      ) : null}
    </div>
  )
}

export function Loading({ what }: { what: string }) {
  return (
    <p className="muted" role="status" aria-live="polite">
      Loading {what}…
    </p>
  )
}

export function Empty({ children }: { children: ReactNode }) {
  return <div className="empty">{children}</div>
}
