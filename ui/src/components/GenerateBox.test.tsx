import { act, render, screen } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { apiFetch, jsonResponse } from '../test/fakes'
import { GenerateBox } from './GenerateBox'

let calls: unknown[] = []
let busy = true

beforeEach(() => {
  calls = []
  busy = true
  vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'] })
  const { fetchImpl } = apiFetch({
    'POST /runs/run-1/generate': async (req) => {
      calls.push(await req.json())
      if (busy) {
        return new Response(
          JSON.stringify({
            code: 'SERVER_BUSY',
            message: 'generation: 10 requests are running or waiting, the most this server takes on; try again in about 3 s',
            request_id: 'req-9',
          }),
          { status: 503, headers: { 'content-type': 'application/json', 'Retry-After': '3' } },
        )
      }
      return jsonResponse(200, { run_id: 'run-1', prompt: 'ROMEO:', text: ' What light', ids: [1, 2, 3], count: 3 })
    },
  })
  vi.stubGlobal('fetch', fetchImpl)
})
afterEach(() => {
  vi.useRealTimers()
  vi.unstubAllGlobals()
})

describe('GenerateBox', () => {
  it('sends the prompt with the schema defaults', async () => {
    busy = false
    const user = userEvent.setup({ advanceTimers: (ms) => vi.advanceTimersByTime(ms) })
    render(<GenerateBox runId="run-1" />)
    await user.type(screen.getByLabelText('Prompt'), 'ROMEO:')
    await user.click(screen.getByRole('button', { name: 'Generate' }))
    expect(await screen.findByText(/What light/)).toBeTruthy()
    expect(calls).toEqual([{ prompt: 'ROMEO:', max_new_tokens: 64, temperature: 0.8, top_k: 40, seed: 0 }])
    expect(screen.getByText('3 new tokens')).toBeTruthy()
  })

  it('on 503 SERVER_BUSY says when to try again, counts down, then retries', async () => {
    const user = userEvent.setup({ advanceTimers: (ms) => vi.advanceTimersByTime(ms) })
    render(<GenerateBox runId="run-1" />)
    await user.type(screen.getByLabelText('Prompt'), 'ROMEO:')
    await user.click(screen.getByRole('button', { name: 'Generate' }))
    const notice = await screen.findByText('The server is busy')
    const box = notice.closest('.notice') as HTMLElement
    expect(box.getAttribute('role')).toBe('status') // announced, not an alarm
    expect(box.textContent).toContain('Try again in 3 s.')
    const retry = screen.getByRole('button', { name: 'Try again (3 s)' })
    expect(retry).toHaveProperty('disabled', true)

    await act(() => vi.advanceTimersByTimeAsync(1000))
    expect(box.textContent).toContain('Try again in 2 s.')
    await act(() => vi.advanceTimersByTimeAsync(2000))
    expect(box.textContent).toContain('You can try again now.')
    busy = false
    await user.click(screen.getByRole('button', { name: 'Try again' }))
    expect(await screen.findByText(/What light/)).toBeTruthy()
    expect(screen.queryByText('The server is busy')).toBeNull()
    expect(calls).toHaveLength(2)
  })

  it('checks the settings against the schema before sending', async () => {
    busy = false
    const user = userEvent.setup({ advanceTimers: (ms) => vi.advanceTimersByTime(ms) })
    render(<GenerateBox runId="run-1" />)
    const temperature = screen.getByLabelText(/^Temperature/)
    await user.clear(temperature)
    await user.type(temperature, '11')
    await user.click(screen.getByRole('button', { name: 'Generate' }))
    expect(temperature.getAttribute('aria-invalid')).toBe('true')
    expect(screen.getByText('must be at most 10')).toBeTruthy()
    expect(calls).toHaveLength(0)
  })
})
