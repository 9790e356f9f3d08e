import { render, screen, within } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { apiFetch, jsonResponse } from '../test/fakes'
import { CorpusBrowser } from './CorpusBrowser'

const COLUMNS = ['question', 'answer', 'id']

beforeEach(() => {
  const entry = (name: string, kind: 'file' | 'folder', extra: object) => ({
    name, path: `qa/${name}`, kind, bytes: 2048, files: 1, columns: [], ...extra,
  })
  const { fetchImpl } = apiFetch({
    'GET /corpus': () => {
      const data = [
        entry('saved', 'folder', { format: 'saved_dataset', columns: COLUMNS, rows: 240 }),
        entry('broken.parquet', 'file', { format: 'parquet', problem: "corpus file 'qa/broken.parquet' is not a readable Parquet file" }),
        entry('rows.jsonl', 'file', { format: 'jsonl', columns: COLUMNS }),
        entry('rows.parquet', 'file', { format: 'parquet', columns: COLUMNS, rows: 1 }),
        entry('notes.txt', 'file', { format: 'text' }),
      ]
      return jsonResponse(200, { path: 'qa', bytes: 10_240, files: 5, data, count: data.length, skipped: [] })
    },
  })
  vi.stubGlobal('fetch', fetchImpl)
})
afterEach(() => {
  vi.unstubAllGlobals()
})

describe('CorpusBrowser', () => {
  it('shows structured files with their format, rows and columns; a saved dataset is chosen whole', async () => {
    const user = userEvent.setup()
    const chosen: string[] = []
    render(<CorpusBrowser onChoose={(path) => chosen.push(path)} onClose={() => undefined} />)
    const browser = await screen.findByRole('group', { name: 'Corpus folder' })
    const line = async (name: string) => (await within(browser).findByRole('button', { name: `Choose ${name}` })).parentElement?.textContent
    expect(await line('saved')).toBe('saved/ 2.0 kB, saved dataset, 240 rows, columns: question, answer, id')
    expect(await line('rows.jsonl')).toBe('rows.jsonl 2.0 kB, JSON Lines, columns: question, answer, id')
    expect(await line('rows.parquet')).toBe('rows.parquet 2.0 kB, Parquet, 1 row, columns: question, answer, id')
    expect(await line('notes.txt')).toBe('notes.txt 2.0 kB')
    expect(await line('broken.parquet')).toContain("is not a readable Parquet file")
    await user.click(within(browser).getByRole('button', { name: 'Choose saved' }))
    expect(chosen).toEqual(['qa/saved'])
  })
})
