import { useEffect, useState } from 'react'
import type { ApiError } from '../api/errors'

/** 503 `SERVER_BUSY`: the API's pool for this is full. Says when to try again (its
 * `Retry-After`), counting down, and offers the retry once that time has come. */
export function BusyNotice({ error, what, onRetry }: { error: ApiError; what: string; onRetry: () => void }) {
  const wait = Math.max(0, error.retryAfterS ?? 0)
  const [left, setLeft] = useState(wait)
  useEffect(() => {
    if (wait <= 0) return undefined
    const until = Date.now() + wait * 1000
    const timer = setInterval(() => {
      const s = Math.max(0, Math.ceil((until - Date.now()) / 1000))
      setLeft(s)
      if (s === 0) clearInterval(timer)
    }, 250)
    return () => clearInterval(timer)
  }, [wait, error])
  return (
    <div className="notice notice-busy" role="status" aria-live="polite">
      <strong>The server is busy</strong> <code>{error.code}</code>
      <p>
        Every {what} slot is taken right now. {left > 0 ? `Try again in ${left} s.` : 'You can try again now.'}
      </p>
      <p className="muted small">{error.message}</p>
      <button type="button" className="button" disabled={left > 0} onClick={onRetry}>
        {left > 0 ? `Try again (${left} s)` : 'Try again'}
      </button>
    </div>
  )
}
