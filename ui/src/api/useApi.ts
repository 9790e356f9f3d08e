import { useCallback, useEffect, useRef, useState } from 'react'
import { apiKey } from './apiKey'
import { ApiError, asApiError, isAbort } from './errors'

export interface ApiState<T> {
  /** The last data fetched (kept while a refetch runs or after a failed poll). */
  data: T | undefined
  /** The last call's error, cleared by the next success. */
  error: ApiError | undefined
  /** True until the first answer (data or error) arrives. */
  loading: boolean
  /** Fetch again now. */
  refetch: () => void
}

export interface ApiOptions<T> {
  /** Poll every this many ms while the page is visible (off when undefined or 0); a
   * function decides from the data (e.g. slower once a run has ended). */
  intervalMs?: number | undefined | ((data: T | undefined) => number | undefined)
  /** Fetch again (keeping the data shown) whenever this value changes. */
  refreshOn?: unknown
}

interface Slot<T> {
  key: string
  data: T | undefined
  error: ApiError | undefined
  answered: boolean
}

/** One pattern for every read: loading, error, data, refetch and optional polling.
 * `fetcher` gets an AbortSignal; it runs again when `key` changes (the data of the old key
 * is not shown for the new one), when the API key changes, on `refetch()`, when
 * `refreshOn` changes and every `intervalMs`. Calls never overlap. */
export function useApi<T>(
  key: string,
  fetcher: (signal: AbortSignal) => Promise<T>,
  options: ApiOptions<T> = {},
): ApiState<T> {
  const { intervalMs, refreshOn } = options
  const [slot, setSlot] = useState<Slot<T>>({ key, data: undefined, error: undefined, answered: false })
  const [tick, setTick] = useState(0)
  const fetcherRef = useRef(fetcher)
  const intervalRef = useRef(intervalMs)
  const dataRef = useRef<T | undefined>(undefined)
  useEffect(() => {
    fetcherRef.current = fetcher
    intervalRef.current = intervalMs
  })

  const refetch = useCallback(() => setTick((t) => t + 1), [])

  // A new API key: fetch again.
  useEffect(() => apiKey.onChange(refetch), [refetch])

  useEffect(() => {
    const controller = new AbortController()
    let timer: ReturnType<typeof setTimeout> | undefined
    let stopped = false
    const every = (): number | undefined => {
      const i = intervalRef.current
      return typeof i === 'function' ? i(dataRef.current) : i
    }
    const schedule = (): void => {
      const ms = every()
      if (!stopped && ms) timer = setTimeout(() => void run(), ms)
    }
    async function run(): Promise<void> {
      if (typeof document !== 'undefined' && document.hidden && every()) {
        schedule() // hidden tab: skip this poll, keep the timer
        return
      }
      try {
        const value = await fetcherRef.current(controller.signal)
        if (stopped) return
        dataRef.current = value
        setSlot({ key, data: value, error: undefined, answered: true })
      } catch (err) {
        if (stopped || isAbort(err)) return
        const error = asApiError(err)
        setSlot((s) => (s.key === key ? { ...s, error, answered: true } : { key, data: undefined, error, answered: true }))
      }
      schedule()
    }
    void run()
    return () => {
      stopped = true
      controller.abort()
      if (timer !== undefined) clearTimeout(timer)
    }
  }, [key, tick, refreshOn])

  const current = slot.key === key
  return {
    data: current ? slot.data : undefined,
    error: current ? slot.error : undefined,
    loading: !current || !slot.answered,
    refetch,
  }
}
