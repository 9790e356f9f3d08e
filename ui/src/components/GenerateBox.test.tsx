import { act, render, screen } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { apiKey } from '../api/apiKey'
import { apiFetch, flush } from '../test/fakes'
import { GenerateBox } from './GenerateBox'

/** One streamed answer the test writes event by event. */
interface Stream {
  headers: Headers
  body: unknown
  aborted: boolean
  event(name: string, data: unknown): void
  end(): void
}

let streams: Stream[] = []
let busy = false

function streamed(req: Request, body: unknown): Response {
  let controller: ReadableStreamDefaultController<Uint8Array> | undefined
  const stream: Stream = {
    headers: req.headers,
    body,
    aborted: false,
    event: (name, data) =>
      controller?.enqueue(new TextEncoder().encode(`event: ${name}\r\ndata: ${JSON.stringify(data)}\r\n\r\n`)),
    end: () => controller?.close(),
  }
  req.signal.addEventListener('abort', () => {
    stream.aborted = true
    controller?.error(new DOMException('aborted', 'AbortError'))
  })
  streams.push(stream)
  const readable = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c
    },
  })
  return new Response(readable, { status: 200, headers: { 'content-type': 'text/event-stream' } })
}

beforeEach(() => {
  streams = []
  busy = false
  apiKey.reset()
  vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'] })
  const { fetchImpl } = apiFetch({
    'POST /runs/run-1/generate': async (req) => {
      const body: unknown = await req.json()
      if (busy) {
        streams.push({ headers: req.headers, body, aborted: false, event: () => {}, end: () => {} })
        return new Response(
          JSON.stringify({
            code: 'SERVER_BUSY',
            message: 'generation: 10 requests are running or waiting, the most this server takes on; try again in about 3 s',
            request_id: 'req-9',
          }),
          { status: 503, headers: { 'content-type': 'application/json', 'Retry-After': '3' } },
        )
      }
      return streamed(req, body)
    },
  })
  vi.stubGlobal('fetch', fetchImpl)
})
afterEach(() => {
  vi.useRealTimers()
  vi.unstubAllGlobals()
  apiKey.reset()
})

const DONE = { run_id: 'run-1', prompt: 'ROMEO:', text: ' What light', ids: [1, 2, 3], count: 3 }

async function start(prompt = 'ROMEO:') {
  const user = userEvent.setup({ advanceTimers: (ms) => vi.advanceTimersByTime(ms) })
  render(<GenerateBox runId="run-1" />)
  await user.type(screen.getByLabelText('Prompt'), prompt)
  await user.click(screen.getByRole('button', { name: 'Generate' }))
  await act(() => flush())
  return user
}

function shown(): string {
  return document.querySelector('.generated pre')?.textContent ?? ''
}

describe('GenerateBox', () => {
  it('streams the text as it is made, with the schema defaults and the API key', async () => {
    apiKey.save('k3y')
    await start()
    const [call] = streams
    expect(call?.body).toEqual({ prompt: 'ROMEO:', max_new_tokens: 64, temperature: 0.8, top_k: 40, seed: 0 })
    expect(call?.headers.get('accept')).toBe('text/event-stream')
    expect(call?.headers.get('x-api-key')).toBe('k3y')
    expect(screen.getByText('Waiting for the first token…')).toBeTruthy()
    expect(screen.getByRole('button', { name: 'Generating…' })).toHaveProperty('disabled', true)

    await act(async () => {
      call?.event('token', { text: ' What', ids: [1, 2] })
      await flush()
    })
    expect(shown()).toBe('ROMEO: What')
    expect(screen.getByText('2 new tokens so far…')).toBeTruthy()
    await act(async () => {
      call?.event('token', { text: ' light', ids: [3] })
      call?.event('done', DONE)
      call?.end()
      await flush()
    })
    expect(shown()).toBe('ROMEO: What light')
    expect(screen.getByText('3 new tokens')).toBeTruthy()
    expect(screen.queryByRole('button', { name: 'Stop' })).toBeNull()
    expect(screen.getByRole('button', { name: 'Generate' })).toHaveProperty('disabled', false)
  })

  it('Stop aborts the stream and keeps the text made so far', async () => {
    const user = await start()
    await act(async () => {
      streams[0]?.event('token', { text: ' What', ids: [1] })
      await flush()
    })
    await user.click(screen.getByRole('button', { name: 'Stop' }))
    await act(() => flush())
    expect(streams[0]?.aborted).toBe(true)
    expect(shown()).toBe('ROMEO: What')
    expect(screen.getByText('Stopped after 1 new tokens')).toBeTruthy()
    expect(screen.queryByRole('alert')).toBeNull()
    expect(screen.getByRole('button', { name: 'Generate' })).toHaveProperty('disabled', false)
  })

  it('shows an error event midway with its code, keeping the text so far', async () => {
    await start()
    await act(async () => {
      streams[0]?.event('token', { text: ' What', ids: [1] })
      streams[0]?.event('error', { code: 'DATA_INVALID', message: 'the model scores are NaN', request_id: 'req-7' })
      await flush()
    })
    const alert = screen.getByRole('alert')
    expect(alert.textContent).toContain('Generation failed midway')
    expect(alert.querySelector('.error-code')?.textContent).toBe('DATA_INVALID')
    expect(alert.textContent).toContain('request req-7')
    expect(shown()).toBe('ROMEO: What')
    expect(screen.getByText('1 new tokens before it failed')).toBeTruthy()
  })

  it('a stream that ends before it is done is an error, not a result', async () => {
    await start()
    await act(async () => {
      streams[0]?.end()
      await flush()
    })
    expect(screen.getByRole('alert').querySelector('.error-code')?.textContent).toBe('STREAM_ENDED')
  })

  it('on 503 SERVER_BUSY says when to try again, counts down, then retries', async () => {
    busy = true
    const user = await start()
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
    await act(async () => {
      await flush()
      streams[1]?.event('done', DONE)
      await flush()
    })
    expect(shown()).toBe('ROMEO: What light')
    expect(screen.queryByText('The server is busy')).toBeNull()
    expect(streams).toHaveLength(2)
  })

  it('checks the settings against the schema before sending', async () => {
    const user = userEvent.setup({ advanceTimers: (ms) => vi.advanceTimersByTime(ms) })
    render(<GenerateBox runId="run-1" />)
    const temperature = screen.getByLabelText(/^Temperature/)
    await user.clear(temperature)
    await user.type(temperature, '11')
    await user.click(screen.getByRole('button', { name: 'Generate' }))
    expect(temperature.getAttribute('aria-invalid')).toBe('true')
    expect(screen.getByText('must be at most 10')).toBeTruthy()
    expect(streams).toHaveLength(0)
  })

  it("clears a field's error when that field is edited, and only that one", async () => {
    const user = userEvent.setup({ advanceTimers: (ms) => vi.advanceTimersByTime(ms) })
    render(<GenerateBox runId="run-1" />)
    const temperature = screen.getByLabelText(/^Temperature/)
    const topK = screen.getByLabelText(/^Top k/i)
    await user.clear(temperature)
    await user.type(temperature, '11')
    await user.clear(topK)
    await user.type(topK, '1.5')
    await user.click(screen.getByRole('button', { name: 'Generate' }))
    expect(temperature.getAttribute('aria-invalid')).toBe('true')
    expect(topK.getAttribute('aria-invalid')).toBe('true')

    await user.type(screen.getByLabelText('Prompt'), 'ROMEO:') // not a setting: both stay
    expect(temperature.getAttribute('aria-invalid')).toBe('true')
    await user.type(temperature, '{Backspace}')
    expect(temperature.getAttribute('aria-invalid')).toBeNull()
    expect(screen.queryByText('must be at most 10')).toBeNull()
    expect(topK.getAttribute('aria-invalid')).toBe('true')
  })

  it('has a prompt placeholder that reads as a hint, not as a value', () => {
    render(<GenerateBox runId="run-1" />)
    const prompt = screen.getByLabelText('Prompt')
    expect(prompt.getAttribute('placeholder')).toBe('Empty: starts from the beginning of text')
    expect((prompt as HTMLTextAreaElement).value).toBe('')
  })
})
