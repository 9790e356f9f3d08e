import { act, render, screen, within } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { beforeEach, describe, expect, it } from 'vitest'
import { FakeEventSource } from '../test/fakes'
import { LogView } from './LogView'

const line = (level: string, event: string): string =>
  JSON.stringify({ timestamp: '2025-01-01T10:00:00Z', level, event, service: 'worker' })

beforeEach(() => {
  FakeEventSource.instances = []
})

function lines(): string[] {
  return within(screen.getByTestId('log-lines'))
    .queryAllByText(/./, { selector: '.log-event' })
    .map((e) => e.textContent ?? '')
}

describe('LogView', () => {
  it('shows streamed lines once each, and filters them by level', async () => {
    const user = userEvent.setup()
    render(<LogView runId="run-1" ended={false} eventSource={(url) => new FakeEventSource(url)} />)
    const es = FakeEventSource.instances[0]
    expect(es?.url).toMatch(/\/runs\/run-1\/logs\/stream$/)
    act(() => {
      es?.open()
      es?.emit(1, line('info', 'run_started'))
      es?.emit(2, line('debug', 'batch_ready'))
      es?.emit(3, line('warning', 'slow_step'))
      es?.fail(false) // dropped; the browser resumes and replays line 3
      es?.open()
      es?.emit(3, line('warning', 'slow_step'))
      es?.emit(4, line('error', 'oops'))
    })
    expect(screen.getByRole('status').textContent).toContain('live')
    expect(lines()).toEqual(['run_started', 'slow_step', 'oops']) // debug hidden by default
    await user.selectOptions(screen.getByLabelText('Level'), 'debug')
    expect(lines()).toEqual(['run_started', 'batch_ready', 'slow_step', 'oops'])
    await user.selectOptions(screen.getByLabelText('Level'), 'warning')
    expect(lines()).toEqual(['slow_step', 'oops'])
    expect(screen.getByText('2 of 4 lines')).toBeTruthy()
  })

  it('says when the log has ended', () => {
    render(<LogView runId="run-2" ended={true} eventSource={(url) => new FakeEventSource(url)} />)
    act(() => {
      FakeEventSource.instances[0]?.fail(false)
    })
    expect(screen.getByRole('status').textContent).toContain('ended')
    expect(screen.getByText('No log lines.')).toBeTruthy()
  })

  it('prints the numbers of a record to 4 significant digits', () => {
    render(<LogView runId="run-3" ended={false} eventSource={(url) => new FakeEventSource(url)} />)
    const record = { timestamp: '2025-01-01T10:00:00Z', level: 'info', event: 'train_progress', step: 120, loss: 2.456789123456789, lr: 0.0003 - 1e-19 }
    act(() => {
      FakeEventSource.instances[0]?.open()
      FakeEventSource.instances[0]?.emit(1, JSON.stringify(record))
    })
    expect(screen.getByText(/step=120/).textContent).toBe(' step=120 loss=2.457 lr=3e-4')
  })
})
