import { api, unwrap } from '../api/client'
import { useApi } from '../api/useApi'
import { workersText, workersTitle } from '../lib/health'

/** Workers and queue at a glance, from `/readyz` (503 carries the reason). */
export function HealthStrip({ intervalMs = 2000 }: { intervalMs?: number }) {
  const ready = useApi('readyz', (signal) => unwrap(api.GET('/readyz', { signal })), {
    intervalMs,
  })
  let tone = 'unknown'
  let text = 'Checking the queue and workers…'
  let title: string | undefined
  if (ready.data) {
    tone = 'ok'
    text = `Ready: queue up, ${workersText(ready.data)}`
    title = workersTitle(ready.data)
  } else if (ready.error) {
    tone = ready.error.status === 401 ? 'unknown' : 'bad'
    text =
      ready.error.code === 'NOT_READY' || ready.error.code === 'QUEUE_UNAVAILABLE'
        ? `Not ready: ${ready.error.message}`
        : `${ready.error.code}: ${ready.error.message}`
  }
  return (
    <div className={`health health-${tone}`} role="status" aria-live="polite" title={title}>
      <span className="health-dot" aria-hidden="true" />
      <span>{text}</span>
    </div>
  )
}
