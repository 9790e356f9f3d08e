import { render, screen, waitFor, within } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { LabelsPatch, TokenizerView } from '../api/contract'
import { MODEL_BACKENDS, tokenizer } from '../test/fixtures'
import { apiFetch, jsonResponse } from '../test/fakes'
import { HomePage } from './index'
import { TokenizerPage } from './tokenizers.$tokenizerId'

// The tag filter waits for typing to rest before it asks: its waits are long (as long as a busy
// machine needs, no longer), so a test may take more than the default 5 s there.
vi.setConfig({ testTimeout: 30_000 })

function labelled(id: string, name: string | null, tags: string[], notes: string | null = null): TokenizerView {
  return { ...tokenizer(id, 300, 'story.txt'), name, notes, tags }
}

/** `view` with `patch` applied as the API applies it: a field left out stays, tags change by
 * `add_tags` / `remove_tags` (compared without case). */
function patched(view: TokenizerView, patch: LabelsPatch): TokenizerView {
  const gone = new Set(patch.remove_tags.map((t) => t.toLowerCase()))
  const kept = view.tags.filter((t) => !gone.has(t.toLowerCase()))
  for (const t of patch.add_tags) {
    if (!gone.has(t.toLowerCase()) && !kept.some((k) => k.toLowerCase() === t.toLowerCase())) kept.push(t)
  }
  return {
    ...view,
    name: 'name' in patch ? (patch.name ?? null) : view.name,
    notes: 'notes' in patch ? (patch.notes ?? null) : view.notes,
    tags: patch.tags ?? kept,
  }
}

const ALL = [labelled('tok-a', 'small bpe', ['base', 'fast']), labelled('tok-b', null, ['sweep'])]

let tokQueries: URLSearchParams[] = []
let patches: unknown[] = []
let current: TokenizerView = labelled('tok-a', 'small bpe', ['base'], 'first try')

beforeEach(() => {
  tokQueries = []
  patches = []
  current = labelled('tok-a', 'small bpe', ['base'], 'first try')
  window.location.hash = '#/'
  const { fetchImpl } = apiFetch({
    'GET /runs': () => jsonResponse(200, { data: [], count: 0 }),
    'GET /tokenizers': (req) => {
      const query = new URL(req.url).searchParams
      tokQueries.push(query)
      const tag = query.get('tag')
      const data = tag ? ALL.filter((t) => t.tags.some((x) => x.toLowerCase() === tag.toLowerCase())) : ALL
      return jsonResponse(200, { data, count: data.length })
    },
    'GET /tokenizers/tok-a': () => jsonResponse(200, current),
    'PATCH /tokenizers/tok-a': async (req) => {
      const patch = (await req.json()) as LabelsPatch
      patches.push(patch)
      current = patched(current, patch)
      return jsonResponse(200, current)
    },
    'GET /artifacts/tokenizers/tok-a': () => jsonResponse(200, { kind: 'tokenizers', id: 'tok-a', files: [], count: 0 }),
    'GET /backends': () => jsonResponse(200, MODEL_BACKENDS),
    'GET /readyz': () => jsonResponse(200, { status: 'ok', redis: true, workers: 1, live_workers: [] }),
    'GET /workers': () => jsonResponse(200, { data: [], count: 0 }),
  })
  vi.stubGlobal('fetch', fetchImpl)
})
afterEach(() => {
  vi.unstubAllGlobals()
  window.location.hash = ''
})

describe('The tokenizers list', () => {
  it('shows each tokenizer by name (else id) with its tags, and filters by a tag', async () => {
    const user = userEvent.setup()
    render(<HomePage />)
    const named = await screen.findByRole('link', { name: 'small bpe' })
    const row = named.closest('tr') as HTMLElement
    expect(row.textContent).toContain('tok-a')
    expect(screen.getByRole('link', { name: 'tok-b' })).toBeTruthy()
    await user.click(within(row).getByRole('button', { name: 'Show tokenizers tagged fast' }))
    await waitFor(() => expect(screen.queryByRole('link', { name: 'tok-b' })).toBeNull(), { timeout: 10_000 })
    expect(tokQueries.at(-1)?.get('tag')).toBe('fast')
    expect(screen.getByLabelText('Tokenizer tag')).toHaveProperty('value', 'fast')

    const field = screen.getByLabelText('Tokenizer tag')
    await user.clear(field)
    await user.type(field, 'SWEEP')
    // The filter is sent once typing rests (a debounce): wait as long as a busy machine needs.
    await waitFor(() => expect(tokQueries.at(-1)?.get('tag')).toBe('SWEEP'), { timeout: 10_000 })
    expect(await screen.findByRole('link', { name: 'tok-b' }, { timeout: 10_000 })).toBeTruthy()
    expect(screen.queryByRole('link', { name: 'small bpe' })).toBeNull()

    await user.clear(field)
    await user.type(field, 'nothing')
    await user.click(await screen.findByRole('button', { name: 'Show all tokenizers' }, { timeout: 10_000 }))
    expect(await screen.findByRole('link', { name: 'small bpe' }, { timeout: 10_000 })).toBeTruthy()
    expect(tokQueries.at(-1)?.get('tag')).toBeNull()
  })
})

describe('A tokenizer page', () => {
  it('shows the name, tags and notes, and edits them', async () => {
    const user = userEvent.setup()
    window.location.hash = '#/tokenizers/tok-a'
    render(<TokenizerPage tokenizerId="tok-a" />)
    const title = await screen.findByRole('heading', { level: 1 })
    expect(title.textContent).toBe('small bpe tok-a')
    expect(within(screen.getByRole('list', { name: 'Tags' })).getByText('base')).toBeTruthy()
    expect(screen.getByText('first try')).toBeTruthy()

    await user.click(screen.getByRole('button', { name: 'Edit labels' }))
    const form = screen.getByRole('form', { name: 'Tokenizer labels' })
    const tags = within(form).getByLabelText('Tags')
    await user.clear(tags)
    await user.type(tags, 'base, Fast, fast')
    await user.clear(within(form).getByLabelText('Name'))
    await user.type(within(form).getByLabelText('Name'), '  renamed ')
    await user.clear(within(form).getByLabelText('Notes'))
    await user.click(within(form).getByRole('button', { name: 'Save labels' }))
    await waitFor(() => expect(patches).toHaveLength(1))
    // Only what changed, tags as an addition: a tag added elsewhere meanwhile stays.
    expect(patches[0]).toEqual({ name: 'renamed', notes: null, add_tags: ['Fast'], remove_tags: [] })
    await waitFor(() => expect(screen.getByRole('heading', { level: 1 }).textContent).toBe('renamed tok-a'))
    expect(screen.queryByRole('form', { name: 'Tokenizer labels' })).toBeNull()
    expect(within(screen.getByRole('list', { name: 'Tags' })).getAllByRole('listitem').map((t) => t.textContent)).toEqual(['base', 'Fast'])
    expect(screen.queryByText('first try')).toBeNull()
  })

  it('refuses a malformed tag before asking the API', async () => {
    const user = userEvent.setup()
    render(<TokenizerPage tokenizerId="tok-a" />)
    await user.click(await screen.findByRole('button', { name: 'Edit labels' }))
    const form = screen.getByRole('form', { name: 'Tokenizer labels' })
    await user.type(within(form).getByLabelText('Tags'), ', café')
    expect(within(form).getByRole('alert').textContent).toContain("tags: 'café'")
    expect(within(form).getByRole('button', { name: 'Save labels' })).toHaveProperty('disabled', true)
    expect(patches).toEqual([])
  })
})
