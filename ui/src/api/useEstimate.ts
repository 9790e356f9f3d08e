import { useEffect, useState } from 'react'
import { api, unwrap } from './client'
import { ApiError, asApiError, isAbort } from './errors'
import type { RunConfig, RunEstimatePublic } from './types'

/** How long the form must rest before it is estimated (typing sends one call, not many). */
export const ESTIMATE_DELAY_MS = 300

export interface EstimateState {
  /** The API's estimate of the body last sent (kept while the next one is on its way). */
  data: RunEstimatePublic | undefined
  /** Why the body could not be estimated (the API's 4xx, or a network failure). */
  error: ApiError | undefined
  /** A newer body waits for its estimate. */
  pending: boolean
}

/** `POST /runs/estimate` for `body`, once it has not changed for `delayMs`; a newer body
 * cancels the call for an older one. No body (the form is not complete): no estimate. */
export function useRunEstimate(body: RunConfig | undefined, delayMs = ESTIMATE_DELAY_MS): EstimateState {
  const key = body === undefined ? '' : JSON.stringify(body)
  const [state, setState] = useState<EstimateState & { key: string }>({
    key: '',
    data: undefined,
    error: undefined,
    pending: false,
  })
  useEffect(() => {
    if (!key) return
    const controller = new AbortController()
    const timer = setTimeout(() => {
      const sent = JSON.parse(key) as RunConfig
      unwrap(api.POST('/runs/estimate', { body: sent, signal: controller.signal }))
        .then((data) => setState({ key, data, error: undefined, pending: false }))
        .catch((err: unknown) => {
          if (isAbort(err)) return
          setState({ key, data: undefined, error: asApiError(err), pending: false })
        })
    }, delayMs)
    return () => {
      clearTimeout(timer)
      controller.abort()
    }
  }, [key, delayMs])
  if (!key) return { data: undefined, error: undefined, pending: false }
  return { data: state.data, error: state.error, pending: state.key !== key }
}
