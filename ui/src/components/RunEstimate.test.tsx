import { render, screen } from '@testing-library/react'
import { describe, expect, it } from 'vitest'
import { ApiError } from '../api/errors'
import type { RunEstimatePublic } from '../api/types'
import { formatCount, formatMfu } from '../lib/format'
import { RunEstimate } from './RunEstimate'

const GIB = 1024 ** 3

function estimate(patch: Partial<RunEstimatePublic> = {}): RunEstimatePublic {
  return {
    family: 'llama',
    architecture: { family: 'llama', n_layer: 4, n_head: 4, n_embd: 128, max_seq_len: 256, vocab_size: 4096, dropout: 0, options: {} },
    parameters: 1_234_567,
    flops_per_token: 7_400_000_000,
    tokens_per_step: 3072,
    memory: { state_bytes: 2 * GIB, activation_bytes: GIB, overhead_bytes: GIB / 2, total_bytes: 3.5 * GIB },
    budget: { worker: 'box.42', device: 'cpu', device_name: 'x86_64', device_memory_bytes: 10 * GIB, memory_fraction: 0.8, budget_bytes: 8 * GIB },
    fits: true,
    code: null,
    reason: null,
    ...patch,
  }
}

describe('RunEstimate', () => {
  it('shows parameters, FLOPs per token and memory against the budget of the worker judged', () => {
    render(<RunEstimate estimate={estimate()} error={undefined} pending={false} />)
    expect(screen.getByTestId('parameter-estimate').textContent).toBe('1,234,567')
    expect(screen.getByTestId('flops-estimate').textContent).toBe('7.4 G')
    const memory = screen.getByTestId('memory-estimate').textContent ?? ''
    expect(memory).toContain('3.50 GB of 8.00 GB')
    expect(memory).toContain('80% of 10.00 GB, cpu of box.42')
    expect(screen.getByRole('meter', { name: 'memory against the budget' })).toHaveProperty('value', 3.5 / 8)
    expect(screen.getByTestId('estimate-fit').textContent).toBe('Fits: a live worker can take it.')
  })

  it('says why a run does not fit, and when no worker is live', () => {
    const refused = estimate({ fits: false, code: 'MEMORY_LIMIT_EXCEEDED', reason: 'one step would need about 31.0 GiB' })
    const { rerender } = render(<RunEstimate estimate={refused} error={undefined} pending={false} />)
    const fit = screen.getByTestId('estimate-fit').textContent ?? ''
    expect(fit).toContain('Does not fit')
    expect(fit).toContain('MEMORY_LIMIT_EXCEEDED')
    expect(fit).toContain('31.0 GiB')
    const idle = estimate({ fits: false, code: 'NO_LIVE_WORKER', reason: 'no worker is live', budget: { ...estimate().budget, worker: null } })
    rerender(<RunEstimate estimate={idle} error={undefined} pending={false} />)
    expect(screen.getByTestId('memory-estimate').textContent).toContain('cpu of this machine')
    expect(screen.getByTestId('estimate-fit').textContent).toContain('NO_LIVE_WORKER')
  })

  it("shows the API's error for a body it cannot estimate, and a hint while the form is incomplete", () => {
    const error = new ApiError(422, { code: 'CONFIG_INVALID', message: "model.size: unknown size 'galactic'", request_id: 'r' })
    const { rerender } = render(<RunEstimate estimate={undefined} error={error} pending={false} />)
    expect(screen.getByTestId('parameter-estimate').textContent).toBe('estimate unavailable')
    expect(screen.getByTestId('estimate-error').textContent).toBe("CONFIG_INVALID: model.size: unknown size 'galactic'")
    rerender(<RunEstimate estimate={undefined} error={undefined} pending={false} incomplete="Set data.corpus_path for an estimate." />)
    expect(screen.getByTestId('parameter-estimate').textContent).toBe('—')
    expect(screen.getByText('Set data.corpus_path for an estimate.')).toBeTruthy()
  })

  it('writes big counts short, and MFU as a percentage', () => {
    expect(formatCount(950)).toBe('950')
    expect(formatCount(8_100_000)).toBe('8.1 M')
    expect(formatCount(2.5e12)).toBe('2.5 T')
    expect(formatMfu(0.4321)).toBe('43%')
    expect(formatMfu(0.0123)).toBe('1.2%')
    expect(formatMfu(0.00042)).toBe('0.042%')
    expect(formatMfu(null)).toBe('—')
  })
})
