import { api, unwrap } from '../api/client'
import { useApi } from '../api/useApi'
import { MAX_COMPARED } from '../lib/compare'
import { formatDate, formatNumber } from '../lib/format'
import { Empty, ErrorNotice, Loading } from './States'
import { StatusBadge } from './StatusBadge'

/** Recent runs with a checkbox each, to choose the runs to compare. */
export function RunPicker({ selected, onChange }: { selected: readonly string[]; onChange: (ids: string[]) => void }) {
  const runs = useApi('runs:picker', (signal) => unwrap(api.GET('/runs', { params: { query: { limit: 100 } }, signal })))
  if (runs.loading) return <Loading what="runs" />
  if (runs.error) return <ErrorNotice error={runs.error} title="Runs could not be loaded" onRetry={runs.refetch} />
  const list = runs.data?.data ?? []
  if (list.length === 0) return <Empty>No training runs yet.</Empty>
  const full = selected.length >= MAX_COMPARED
  const toggle = (id: string, on: boolean): void =>
    onChange(on ? [...selected, id] : selected.filter((s) => s !== id))
  return (
    <fieldset className="picker">
      <legend>Runs to compare (up to {MAX_COMPARED})</legend>
      <ul>
        {list.map((r) => {
          const checked = selected.includes(r.run_id)
          return (
            <li key={r.run_id}>
              <label className="inline">
                <input
                  type="checkbox"
                  checked={checked}
                  disabled={!checked && full}
                  onChange={(e) => toggle(r.run_id, e.target.checked)}
                />
                <span>{r.run_id}</span>
              </label>{' '}
              <StatusBadge status={r.status} />{' '}
              <span className="muted small">
                {r.config.model.family} {r.config.model.size}, best val {formatNumber(r.metrics.best_val_loss)},{' '}
                {formatDate(r.created_at)}
              </span>
            </li>
          )
        })}
      </ul>
    </fieldset>
  )
}
