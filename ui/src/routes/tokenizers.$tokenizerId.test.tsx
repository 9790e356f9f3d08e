import { render, screen, waitFor, within } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { tokenizer } from '../test/fixtures'
import { apiFetch, jsonResponse } from '../test/fakes'
import { TokenizerPage } from './tokenizers.$tokenizerId'

let encoded: unknown[] = []

beforeEach(() => {
  encoded = []
  const { fetchImpl } = apiFetch({
    'GET /tokenizers/tok-a': () => jsonResponse(200, tokenizer('tok-a', 4096, 'shakespeare.txt')),
    'GET /artifacts/tokenizers/tok-a': () => jsonResponse(200, { kind: 'tokenizers', id: 'tok-a', files: [], count: 0 }),
    'GET /artifacts/tokenizers/tok-a/download': (req) =>
      new URL(req.url).searchParams.get('path') === 'manifest.json'
        ? new Response('{"tokenizer_id":"tok-a","versions":{"tokenizers":"0.23.3"}}', { status: 200, headers: { 'content-type': 'application/octet-stream' } })
        : jsonResponse(404, { code: 'NOT_FOUND', message: 'no such file', request_id: 'r' }),
    'POST /tokenizers/tok-a/encode': async (req) => {
      encoded.push(await req.json())
      return jsonResponse(200, { tokenizer_id: 'tok-a', ids: [2514, 307, 11], tokens: ['To', 'Ġbe', ','], count: 3 })
    },
  })
  vi.stubGlobal('fetch', fetchImpl)
})
afterEach(() => {
  vi.unstubAllGlobals()
})

describe('Tokenizer details', () => {
  it('encodes text in the try-it box and shows the pieces', async () => {
    const user = userEvent.setup()
    render(<TokenizerPage tokenizerId="tok-a" />)
    const text = await screen.findByLabelText('Text')
    await user.clear(text)
    await user.type(text, 'To be,')
    await user.click(screen.getByRole('button', { name: 'Encode' }))
    const group = await screen.findByRole('group', { name: /^Tokens \(3\)/ })
    expect(within(group).getAllByRole('button').map((b) => b.textContent)).toEqual(['To', 'Ġbe', ','])
    expect(encoded).toEqual([{ text: 'To be,' }])
    expect(screen.getByText(/3 tokens for 6 characters/)).toBeTruthy()
  })

  it('shows the manifest pretty-printed when opened', async () => {
    const user = userEvent.setup()
    render(<TokenizerPage tokenizerId="tok-a" />)
    await user.click(await screen.findByText('Manifest (manifest.json)'))
    await waitFor(() =>
      expect(screen.getByLabelText('manifest.json').textContent).toBe(
        JSON.stringify({ tokenizer_id: 'tok-a', versions: { tokenizers: '0.23.3' } }, null, 2),
      ),
    )
  })
})

describe('Deleting a tokenizer', () => {
  it('asks first, and names the runs that still use it when the API refuses', async () => {
    const { fetchImpl } = apiFetch({
      'GET /tokenizers/tok-a': () => jsonResponse(200, tokenizer('tok-a', 4096, 'shakespeare.txt')),
      'GET /artifacts/tokenizers/tok-a': () => jsonResponse(200, { kind: 'tokenizers', id: 'tok-a', files: [], count: 0 }),
      'DELETE /tokenizers/tok-a': () =>
        jsonResponse(409, { code: 'TOKENIZER_IN_USE', message: 'tok-a is used by runs run-1, run-2: delete them first', request_id: 'r' }),
    })
    vi.stubGlobal('fetch', fetchImpl)
    const user = userEvent.setup()
    render(<TokenizerPage tokenizerId="tok-a" />)
    await user.click(await screen.findByRole('button', { name: 'Delete' }))
    const dialog = screen.getByRole('alertdialog', { name: 'Delete tok-a?' })
    await user.click(within(dialog).getByRole('button', { name: 'Delete tokenizer' }))
    expect(await within(dialog).findByText('tok-a is used by runs run-1, run-2: delete them first')).toBeTruthy()
    expect(within(dialog).getByText('TOKENIZER_IN_USE')).toBeTruthy()
    await user.click(within(dialog).getByRole('button', { name: 'Close' }))
    expect(screen.queryByRole('alertdialog')).toBeNull()
  })

  it('shows its place in the queue while it waits, and offers no delete', async () => {
    const { fetchImpl } = apiFetch({
      'GET /tokenizers/tok-a': () =>
        jsonResponse(200, { ...tokenizer('tok-a', 4096, 'shakespeare.txt', 'queued'), queue: { position: 3, ahead: 2, waiting_for: 'a free worker (1 live, busy with run-x)' } }),
      'GET /artifacts/tokenizers/tok-a': () => jsonResponse(200, { kind: 'tokenizers', id: 'tok-a', files: [], count: 0 }),
    })
    vi.stubGlobal('fetch', fetchImpl)
    render(<TokenizerPage tokenizerId="tok-a" />)
    expect((await screen.findByTestId('queue-place')).textContent).toBe('3rd in line (2 ahead), waiting for a free worker (1 live, busy with run-x)')
    expect(screen.queryByRole('button', { name: 'Delete' })).toBeNull()
  })
})
