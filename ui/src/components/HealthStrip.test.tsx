import { act, render, screen } from '@testing-library/react'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { apiKey } from '../api/apiKey'
import type { Health } from '../api/types'
import { apiFetch, jsonResponse } from '../test/fakes'
import { clockTime, healthView, workersText } from '../lib/health'
import { HealthStrip } from './HealthStrip'

afterEach(() => {
  apiKey.reset()
  vi.unstubAllGlobals()
})

const READY: Health = {
  status: 'ready',
  redis: true,
  workers: 2,
  reason: null,
  capabilities: { cpu: 2, cuda: 0 },
  live_workers: [
    { name: 'box.1', serves: ['cpu'], devices: ['cpu'] },
    { name: 'box.2', serves: ['cpu'], devices: ['cpu'] },
  ],
}

describe('HealthStrip', () => {
  it('counts the live workers by the capability they serve, each worker in the tooltip', async () => {
    const { fetchImpl } = apiFetch({ 'GET /readyz': () => jsonResponse(200, READY) })
    vi.stubGlobal('fetch', fetchImpl)
    render(<HealthStrip intervalMs={60_000} />)
    expect(await screen.findByText('Ready: queue up, 2 workers live · cpu 2 · cuda 0')).toBeTruthy()
    expect(screen.getByRole('status').getAttribute('title')).toBe('box.1: serves cpu\nbox.2: serves cpu')
  })

  it('counts a worker that serves both queues under both', () => {
    const gpu = { ...READY, workers: 1, capabilities: { cpu: 1, cuda: 1 } }
    expect(workersText(gpu)).toBe('1 worker live · cpu 1 · cuda 1')
  })

  it('shows the bare count from an API that does not report capabilities', () => {
    expect(workersText({ status: 'ready', redis: true, workers: 3, reason: null })).toBe('3 workers live')
  })

  it('turns red at once when the API stops answering, whatever it said before', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] })
    let alive = true
    const { fetchImpl } = apiFetch({
      'GET /readyz': () => {
        if (!alive) throw new TypeError('Failed to fetch')
        return jsonResponse(200, READY)
      },
    })
    vi.stubGlobal('fetch', fetchImpl)
    try {
      render(<HealthStrip intervalMs={2000} />)
      await act(() => vi.advanceTimersByTimeAsync(10))
      expect(screen.getByRole('status').textContent).toMatch(/^Ready/)
      alive = false
      const died = Date.now() + 2000
      await act(() => vi.advanceTimersByTimeAsync(2010))
      const strip = screen.getByRole('status')
      expect(strip.dataset['tone']).toBe('bad')
      expect(strip.textContent).toBe(`API unreachable since ${clockTime(died)}`)
      // the time it started failing stays put while it keeps failing
      await act(() => vi.advanceTimersByTimeAsync(6000))
      expect(screen.getByRole('status').textContent).toBe(`API unreachable since ${clockTime(died)}`)
    } finally {
      vi.useRealTimers()
    }
  })

  it('counts an API that does not answer within the timeout as unreachable', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] })
    // never answers; gives up when the request is aborted
    const hang = (input: RequestInfo | URL): Promise<Response> =>
      new Promise((_, reject) => {
        const signal = input instanceof Request ? input.signal : undefined
        signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')))
      })
    vi.stubGlobal('fetch', hang)
    try {
      render(<HealthStrip intervalMs={2000} timeoutMs={3000} />)
      await act(() => vi.advanceTimersByTimeAsync(1000))
      expect(screen.getByRole('status').dataset['tone']).toBe('unknown')
      await act(() => vi.advanceTimersByTimeAsync(2100))
      expect(screen.getByRole('status').textContent).toMatch(/^API unreachable since \d\d:\d\d:\d\d$/)
      expect(screen.getByRole('status').getAttribute('title')).toContain('no answer within 3 s')
    } finally {
      vi.useRealTimers()
    }
  })

  it('marks an answer older than the poll interval as stale', () => {
    const okAt = new Date(2025, 0, 1, 14, 3, 7).getTime()
    expect(healthView({ health: READY, okAt }, okAt + 1500, 2000).tone).toBe('ok')
    const stale = healthView({ health: READY, okAt }, okAt + 10_000, 2000)
    expect(stale.tone).toBe('stale')
    expect(stale.text).toBe('Ready: queue up, 2 workers live · cpu 2 · cuda 0 (as of 14:03:07, no answer since)')
    expect(healthView({ health: READY, okAt, error: { status: 503, code: 'NOT_READY', message: 'no worker is live' } }, okAt, 2000)).toEqual({
      tone: 'bad',
      text: 'Not ready: no worker is live',
    })
  })
})
