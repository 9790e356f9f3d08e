import { useId } from 'react'
import { X_LABELS, type ChartSettings, type XAxis } from '../lib/chartData'

const AXES: { value: XAxis; label: string }[] = [
  { value: 'step', label: 'step' },
  { value: 'time', label: 'wall time' },
  { value: 'tokens', label: 'tokens seen' },
]

/** Smoothing (an exponential moving average, as TensorBoard's), log scale for loss, and
 * what the x axis counts. Axes no record can place are offered but disabled. */
export function ChartControls({
  settings,
  onChange,
  available,
}: {
  settings: ChartSettings
  onChange: (patch: Partial<ChartSettings>) => void
  available: Record<XAxis, boolean>
}) {
  const id = useId()
  return (
    <fieldset className="chart-controls">
      <legend className="visually-hidden">Chart settings</legend>
      <label className="inline chart-smoothing" htmlFor={`${id}-smooth`}>
        Smoothing
        <input
          id={`${id}-smooth`}
          type="range"
          min={0}
          max={0.99}
          step={0.01}
          value={settings.smoothing}
          onChange={(e) => onChange({ smoothing: Number(e.target.value) })}
        />
        <output htmlFor={`${id}-smooth`} className="small">
          {settings.smoothing.toFixed(2)}
        </output>
      </label>
      <label className="inline">
        <input type="checkbox" checked={settings.logScale} onChange={(e) => onChange({ logScale: e.target.checked })} /> log scale
        (loss)
      </label>
      <span className="inline" role="radiogroup" aria-label="x axis">
        <span className="muted small">x:</span>
        {AXES.map((a) => (
          <label key={a.value} className="inline" title={available[a.value] ? X_LABELS[a.value] : 'no record carries it'}>
            <input
              type="radio"
              name={`${id}-x`}
              value={a.value}
              checked={settings.x === a.value}
              disabled={!available[a.value]}
              onChange={() => onChange({ x: a.value })}
            />{' '}
            {a.label}
          </label>
        ))}
      </span>
    </fieldset>
  )
}
