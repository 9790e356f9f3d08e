import { render, screen, waitFor, within } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { describe, expect, it, vi } from 'vitest'
import type { LabelsPatch } from '../api/contract'
import type { JobLabelValues } from '../lib/labels'
import { JobLabels } from './JobLabels'

const OPENED: JobLabelValues = { name: 'baseline', notes: 'first try', tags: ['bpe', 'small'] }

/** The form opened on `labels`; `sent` holds each patch as it went over the wire (JSON). */
async function opened(labels: JobLabelValues = OPENED) {
  const user = userEvent.setup()
  const sent: unknown[] = []
  const save = vi.fn<(patch: LabelsPatch) => Promise<unknown>>(async (patch) => {
    sent.push(JSON.parse(JSON.stringify(patch)) as unknown)
    return patch
  })
  const onSaved = vi.fn<() => void>()
  const view = render(<JobLabels id="run-1" noun="run" labels={labels} save={save} onSaved={onSaved} />)
  await user.click(screen.getByRole('button', { name: 'Edit labels' }))
  const form = screen.getByRole('form', { name: 'Run labels' })
  return { user, sent, save, onSaved, view, form }
}

describe('JobLabels', () => {
  it('sends only the notes when only the notes changed', async () => {
    const { user, sent, onSaved, form } = await opened()
    await user.clear(within(form).getByLabelText('Notes'))
    await user.type(within(form).getByLabelText('Notes'), 'second try')
    await user.click(within(form).getByRole('button', { name: 'Save labels' }))
    await waitFor(() => expect(sent).toEqual([{ notes: 'second try', add_tags: [], remove_tags: [] }]))
    expect(onSaved).toHaveBeenCalledTimes(1)
    expect(screen.queryByRole('form', { name: 'Run labels' })).toBeNull()
  })

  it('sends a tag typed as an addition, never the whole list', async () => {
    const { user, sent, form } = await opened()
    await user.type(within(form).getByLabelText('Tags'), ', sweep')
    await user.click(within(form).getByRole('button', { name: 'Save labels' }))
    await waitFor(() => expect(sent).toEqual([{ add_tags: ['sweep'], remove_tags: [] }]))
  })

  it('sends a tag taken out as a removal', async () => {
    const { user, sent, form } = await opened()
    await user.clear(within(form).getByLabelText('Tags'))
    await user.type(within(form).getByLabelText('Tags'), 'bpe')
    await user.click(within(form).getByRole('button', { name: 'Save labels' }))
    await waitFor(() => expect(sent).toEqual([{ add_tags: [], remove_tags: ['small'] }]))
  })

  it('sends the name alone when renamed, and null when it is cleared', async () => {
    const first = await opened()
    await first.user.clear(within(first.form).getByLabelText('Name'))
    await first.user.type(within(first.form).getByLabelText('Name'), ' lr sweep ')
    await first.user.click(within(first.form).getByRole('button', { name: 'Save labels' }))
    await waitFor(() => expect(first.sent).toEqual([{ name: 'lr sweep', add_tags: [], remove_tags: [] }]))
    first.view.unmount()

    const second = await opened()
    await second.user.clear(within(second.form).getByLabelText('Name'))
    await second.user.click(within(second.form).getByRole('button', { name: 'Save labels' }))
    await waitFor(() => expect(second.sent).toEqual([{ name: null, add_tags: [], remove_tags: [] }]))
  })

  it('closes without asking the API when nothing changed', async () => {
    const { user, save, onSaved, form } = await opened()
    await user.type(within(form).getByLabelText('Tags'), ', BPE') // the same tag in another case
    await user.click(within(form).getByRole('button', { name: 'Save labels' }))
    expect(screen.queryByRole('form', { name: 'Run labels' })).toBeNull()
    expect(save).not.toHaveBeenCalled()
    expect(onSaved).not.toHaveBeenCalled()
  })

  it('compares with the labels the form opened with, not ones fetched since', async () => {
    const { user, sent, save, onSaved, view, form } = await opened()
    // Someone tagged and renamed the run meanwhile; the page fetched it again.
    const fetched = { ...OPENED, name: 'renamed elsewhere', tags: ['bpe', 'small', 'cli'] }
    view.rerender(<JobLabels id="run-1" noun="run" labels={fetched} save={save} onSaved={onSaved} />)
    await user.clear(within(form).getByLabelText('Notes'))
    await user.type(within(form).getByLabelText('Notes'), 'more')
    await user.click(within(form).getByRole('button', { name: 'Save labels' }))
    await waitFor(() => expect(sent).toEqual([{ notes: 'more', add_tags: [], remove_tags: [] }]))
  })
})
