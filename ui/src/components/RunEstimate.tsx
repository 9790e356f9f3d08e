import type { ApiError } from '../api/errors'
import type { RunEstimatePublic } from '../api/types'
import { formatBytes } from '../lib/download'
import { formatCount, formatNumber } from '../lib/format'

/** The API's estimate of the run the form describes: parameters, FLOPs per token, memory
 * against the budget it is judged by, and whether a live worker can take it (or why not). */
export function RunEstimate({
  estimate,
  error,
  pending,
  incomplete,
}: {
  estimate: RunEstimatePublic | undefined
  error: ApiError | undefined
  pending: boolean
  /** Why there is nothing to estimate yet (the form lacks a field), if so. */
  incomplete?: string | undefined
}) {
  if (incomplete !== undefined || (!estimate && !error)) {
    return (
      <div className="estimate" role="status" aria-live="polite" aria-busy={pending}>
        <span className="muted">Parameters:</span> <strong data-testid="parameter-estimate">{pending ? 'estimating…' : '—'}</strong>
        <p className="hint">{incomplete ?? 'The API estimates the run as the form changes.'}</p>
      </div>
    )
  }
  if (!estimate) {
    return (
      <div className="estimate" role="status" aria-live="polite" aria-busy={pending}>
        <span className="muted">Parameters:</span> <strong data-testid="parameter-estimate">estimate unavailable</strong>
        <p className="hint" data-testid="estimate-error">
          {error?.code}: {error?.message}
        </p>
      </div>
    )
  }
  const { memory, budget } = estimate
  const share = budget.budget_bytes > 0 ? Math.min(1, memory.total_bytes / budget.budget_bytes) : 1
  const where = budget.worker ? `${budget.device} of ${budget.worker}` : `${budget.device} of this machine`
  return (
    <div className={`estimate${estimate.fits ? '' : ' estimate-refused'}`} role="status" aria-live="polite" aria-busy={pending}>
      <dl className="facts">
        <dt>Parameters</dt>
        <dd>
          <strong data-testid="parameter-estimate">{formatNumber(estimate.parameters)}</strong>
        </dd>
        <dt>FLOPs per token</dt>
        <dd data-testid="flops-estimate">{formatCount(estimate.flops_per_token)}</dd>
        <dt>Tokens per step</dt>
        <dd>{formatNumber(estimate.tokens_per_step)}</dd>
        <dt>Memory per step</dt>
        <dd data-testid="memory-estimate">
          {formatBytes(memory.total_bytes)} of {formatBytes(budget.budget_bytes)}{' '}
          <span className="muted small">
            ({Math.round(budget.memory_fraction * 100)}% of {formatBytes(budget.device_memory_bytes)}, {where})
          </span>
          <meter min={0} max={1} value={share} high={0.9} aria-label="memory against the budget" />
        </dd>
      </dl>
      <p className="hint">
        state {formatBytes(memory.state_bytes)} · activations {formatBytes(memory.activation_bytes)} · process{' '}
        {formatBytes(memory.overhead_bytes)}
      </p>
      {estimate.fits ? (
        <p className="estimate-fit" data-testid="estimate-fit">
          Fits: a live worker can take it.
        </p>
      ) : (
        <p className="estimate-fit" data-testid="estimate-fit">
          <strong>Does not fit</strong> <code className="error-code">{estimate.code}</code> {estimate.reason}
        </p>
      )}
    </div>
  )
}
