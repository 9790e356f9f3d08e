import { percent } from '../lib/format'

export function ProgressBar({ step, max, label }: { step: number; max: number; label?: string }) {
  const pct = percent(step, max)
  return (
    <div className="progress">
      <div
        className="progress-track"
        role="progressbar"
        aria-label={label ?? 'progress'}
        aria-valuemin={0}
        aria-valuemax={max > 0 ? max : 100}
        aria-valuenow={max > 0 ? step : 0}
      >
        <div className="progress-fill" style={{ width: `${pct}%` }} />
      </div>
      <span className="progress-text">
        {max > 0 ? `${step.toLocaleString('en')} / ${max.toLocaleString('en')}` : '—'}
      </span>
    </div>
  )
}
