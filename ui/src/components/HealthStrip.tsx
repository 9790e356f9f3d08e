import { useEffect, useState } from 'react'
import { apiKey } from '../api/apiKey'
import { api, unwrap } from '../api/client'
import { ApiError, asApiError, isAbort } from '../api/errors'
import { healthView, type HealthSeen } from '../lib/health'
import { useNow } from '../lib/useNow'

/** One `/readyz` call that gives up after `timeoutMs`: an API that stopped answering (a
 * dead process behind a proxy, a hung host) counts as unreachable then, not after the
 * browser's own minutes-long timeout. */
async function readyz(outer: AbortSignal, timeoutMs: number) {
  const controller = new AbortController()
  const stop = (): void => controller.abort()
  outer.addEventListener('abort', stop)
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    controller.abort()
  }, timeoutMs)
  try {
    return await unwrap(api.GET('/readyz', { signal: controller.signal }))
  } catch (err) {
    if (timedOut) {
      throw new ApiError(0, { code: 'NETWORK_ERROR', message: `no answer within ${timeoutMs / 1000} s`, request_id: '' })
    }
    throw err
  } finally {
    clearTimeout(timer)
    outer.removeEventListener('abort', stop)
  }
}

/** Workers and queue at a glance, from `/readyz` (503 carries the reason). A failed or
 * timed-out call turns it red at once ("API unreachable since …"); an answer older than
 * the poll interval is marked stale. */
export function HealthStrip({ intervalMs = 2000, timeoutMs = 5000 }: { intervalMs?: number; timeoutMs?: number }) {
  const [seen, setSeen] = useState<HealthSeen>({})
  const [tick, setTick] = useState(0)
  const now = useNow(1000)
  useEffect(() => apiKey.onChange(() => setTick((t) => t + 1)), [])
  useEffect(() => {
    const controller = new AbortController()
    let timer: ReturnType<typeof setTimeout> | undefined
    let stopped = false
    const poll = async (): Promise<void> => {
      try {
        const health = await readyz(controller.signal, timeoutMs)
        if (stopped) return
        setSeen({ health, okAt: Date.now() })
      } catch (err) {
        if (stopped || isAbort(err)) return
        const error = asApiError(err)
        setSeen((s) => ({ ...s, error, failingSince: s.error ? (s.failingSince ?? Date.now()) : Date.now() }))
      }
      if (!stopped) timer = setTimeout(() => void poll(), intervalMs)
    }
    void poll()
    return () => {
      stopped = true
      controller.abort()
      if (timer !== undefined) clearTimeout(timer)
    }
  }, [intervalMs, timeoutMs, tick])
  const view = healthView(seen, Math.max(now, seen.okAt ?? 0), intervalMs)
  return (
    <div className={`health health-${view.tone}`} role="status" aria-live="polite" title={view.title} data-tone={view.tone}>
      <span className="health-dot" aria-hidden="true" />
      <span>{view.text}</span>
    </div>
  )
}
