import { act, render, screen } from '@testing-library/react'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { apiKey } from './apiKey'
import { ApiError } from './errors'
import { useApi } from './useApi'

function Probe({ fetcher, intervalMs }: { fetcher: () => Promise<string>; intervalMs?: number }) {
  const s = useApi('probe', fetcher, { intervalMs })
  return (
    <p data-testid="probe">
      {s.loading ? 'loading' : 'done'}|{s.data ?? '-'}|{s.error?.code ?? '-'}
    </p>
  )
}

const text = (): string => screen.getByTestId('probe').textContent ?? ''

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
  apiKey.reset()
})
afterEach(() => {
  vi.useRealTimers()
})

describe('useApi', () => {
  it('loads, polls, keeps the data through a failed poll and clears the error after', async () => {
    let n = 0
    const fetcher = vi.fn<() => Promise<string>>(async () => {
      n += 1
      if (n === 2) throw new ApiError(503, { code: 'QUEUE_UNAVAILABLE', message: 'down', request_id: '' })
      return `v${n}`
    })
    render(<Probe fetcher={fetcher} intervalMs={2000} />)
    expect(text()).toBe('loading|-|-')
    await act(() => vi.advanceTimersByTimeAsync(0))
    expect(text()).toBe('done|v1|-')
    await act(() => vi.advanceTimersByTimeAsync(2000))
    expect(text()).toBe('done|v1|QUEUE_UNAVAILABLE')
    await act(() => vi.advanceTimersByTimeAsync(2000))
    expect(text()).toBe('done|v3|-')
    expect(fetcher).toHaveBeenCalledTimes(3)
  })

  it('fetches again when the API key changes', async () => {
    const fetcher = vi.fn<() => Promise<string>>(async () => 'x')
    render(<Probe fetcher={fetcher} />)
    await act(() => vi.advanceTimersByTimeAsync(0))
    expect(fetcher).toHaveBeenCalledTimes(1)
    act(() => apiKey.require())
    act(() => apiKey.dismiss())
    await act(() => vi.advanceTimersByTimeAsync(0))
    expect(fetcher).toHaveBeenCalledTimes(1) // prompts alone change nothing
    act(() => apiKey.save('k'))
    await act(() => vi.advanceTimersByTimeAsync(0))
    expect(fetcher).toHaveBeenCalledTimes(2)
  })
})
