import { render, screen } from '@testing-library/react'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { apiKey } from '../api/apiKey'
import type { Health } from '../api/types'
import { apiFetch, jsonResponse } from '../test/fakes'
import { workersText } from '../lib/health'
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
})
