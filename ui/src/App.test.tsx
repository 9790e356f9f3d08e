import { render, screen, waitFor, within } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { App } from './App'
import { apiKey } from './api/apiKey'
import { apiFetch, jsonResponse } from './test/fakes'
import { finishedRun } from './test/fixtures'

const UNAUTHORIZED = { code: 'UNAUTHORIZED', message: 'X-Api-Key is missing or wrong', request_id: 'r' }

beforeEach(() => {
  apiKey.reset()
  window.location.hash = '#/'
})
afterEach(() => {
  vi.unstubAllGlobals()
})

describe('App', () => {
  it('shows empty lists and a ready health strip', async () => {
    const { fetchImpl } = apiFetch({
      'GET /runs': () => jsonResponse(200, { data: [], count: 0 }),
      'GET /tokenizers': () => jsonResponse(200, { data: [], count: 0 }),
      'GET /readyz': () => jsonResponse(200, { status: 'ready', redis: true, workers: 1, reason: null }),
    })
    vi.stubGlobal('fetch', fetchImpl)
    render(<App />)
    expect(await screen.findByText(/No training runs yet/)).toBeTruthy()
    expect(screen.getByText(/No tokenizers yet/)).toBeTruthy()
    expect(await screen.findByText('Ready: queue up, 1 worker live')).toBeTruthy()
  })

  it('shows an API error with its code, and a health strip that says why it is not ready', async () => {
    const { fetchImpl } = apiFetch({
      'GET /runs': () => jsonResponse(503, { code: 'QUEUE_UNAVAILABLE', message: 'Redis does not answer', request_id: 'q1' }),
      'GET /tokenizers': () => jsonResponse(200, { data: [], count: 0 }),
      'GET /readyz': () =>
        jsonResponse(503, { code: 'NOT_READY', message: 'no live worker: start one with `model-trainer worker`', request_id: 'q2' }),
    })
    vi.stubGlobal('fetch', fetchImpl)
    render(<App />)
    const alert = await screen.findByRole('alert')
    expect(within(alert).getByText('QUEUE_UNAVAILABLE')).toBeTruthy()
    expect(within(alert).getByText('Redis does not answer')).toBeTruthy()
    expect(await screen.findByText(/Not ready: no live worker/)).toBeTruthy()
  })

  it('asks for the API key on a 401 and sends it from then on', async () => {
    const user = userEvent.setup()
    const { fetchImpl, requests } = apiFetch({
      'GET /runs': (req) =>
        req.headers.get('X-Api-Key') === 'good' ? jsonResponse(200, { data: [], count: 0 }) : jsonResponse(401, UNAUTHORIZED),
      'GET /tokenizers': (req) =>
        req.headers.get('X-Api-Key') === 'good' ? jsonResponse(200, { data: [], count: 0 }) : jsonResponse(401, UNAUTHORIZED),
      'GET /readyz': () => jsonResponse(200, { status: 'ready', redis: true, workers: 1, reason: null }),
    })
    vi.stubGlobal('fetch', fetchImpl)
    render(<App />)
    const dialog = await screen.findByRole('dialog', { name: 'API key' })
    const input = within(dialog).getByLabelText('Key')
    expect(document.activeElement).toBe(input)
    await user.type(input, 'good')
    await user.click(within(dialog).getByRole('button', { name: 'Save' }))
    expect(await screen.findByText(/No training runs yet/)).toBeTruthy()
    expect(screen.queryByRole('dialog')).toBeNull()
    expect(localStorage.getItem('model-trainer.api-key')).toBe('good')
    await waitFor(() => expect(requests.at(-1)?.headers.get('X-Api-Key')).toBe('good'))
  })

  it('routes by hash and shows not found for unknown pages', async () => {
    vi.stubGlobal('fetch', apiFetch({}).fetchImpl)
    window.location.hash = '#/nowhere'
    render(<App />)
    expect(screen.getByRole('heading', { name: 'Not found' })).toBeTruthy()
  })

  it('shows not found for a link with a malformed escape, and goes on working', async () => {
    const { fetchImpl } = apiFetch({
      'GET /runs': () => jsonResponse(200, { data: [], count: 0 }),
      'GET /tokenizers': () => jsonResponse(200, { data: [], count: 0 }),
      'GET /readyz': () => jsonResponse(200, { status: 'ready', redis: true, workers: 1, reason: null }),
    })
    vi.stubGlobal('fetch', fetchImpl)
    window.location.hash = '#/runs/%E0%A4%A'
    render(<App />)
    expect(screen.getByRole('heading', { name: 'Not found' })).toBeTruthy()
    expect(screen.getByRole('navigation', { name: 'Main' })).toBeTruthy()
    window.location.hash = '#/'
    window.dispatchEvent(new HashChangeEvent('hashchange'))
    expect(await screen.findByText(/No training runs yet/)).toBeTruthy()
  })

  it('picks runs to compare from the runs table', async () => {
    const user = userEvent.setup()
    const { fetchImpl } = apiFetch({
      'GET /runs': () => jsonResponse(200, { data: [finishedRun('run-1'), finishedRun('run-2'), finishedRun('run-3')], count: 3 }),
      'GET /tokenizers': () => jsonResponse(200, { data: [], count: 0 }),
      'GET /readyz': () => jsonResponse(200, { status: 'ready', redis: true, workers: 1, reason: null }),
    })
    vi.stubGlobal('fetch', fetchImpl)
    render(<App />)
    await user.click(await screen.findByLabelText('Compare run-1'))
    expect(screen.queryByRole('link', { name: /^Compare \d runs$/ })).toBeNull() // two at least
    await user.click(screen.getByLabelText('Compare run-3'))
    expect(screen.getByRole('link', { name: 'Compare 2 runs' }).getAttribute('href')).toBe('#/compare?runs=run-1,run-3')
    // the page's button and the menu's link
    expect(screen.getAllByRole('link', { name: 'New run' }).map((a) => a.getAttribute('href'))).toEqual(['#/runs/new', '#/runs/new'])
  })
})
