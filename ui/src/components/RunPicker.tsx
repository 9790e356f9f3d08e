import { useState } from 'react'
import { api, unwrap } from '../api/client'
import type { RunView } from '../api/contract'
import { useApi } from '../api/useApi'
import { MAX_COMPARED } from '../lib/compare'
import { formatDate, formatNumber } from '../lib/format'
import { Empty, ErrorNotice, Loading } from './States'
import { StatusBadge } from './StatusBadge'

/** Recent runs with a checkbox each, to choose the runs to compare. */
export function RunPicker({ selected, onChange }: { selected: readonly string[]; onChange: (ids: string[]) => void }) {
  const runs = useApi('runs:picker', (signal) => unwrap(api.GET('/runs', { params: { query: { limit: 100 } }, signal })))
  const [filter, setFilter] = useState('')
  if (runs.loading) return <Loading what="runs" />
  if (runs.error) return <ErrorNotice error={runs.error} title="Runs could not be loaded" onRetry={runs.refetch} />
  const every: RunView[] = runs.data?.data ?? []
  if (every.length === 0) return <Empty>No training runs yet.</Empty>
  const words = filter.toLowerCase().split(/\s+/).filter(Boolean)
  const text = (r: RunView): string => [r.run_id, r.name ?? '', ...(r.tags ?? []), r.config.model.family, r.config.model.size].join(' ').toLowerCase()
  // the chosen ones always stay in the list, so they can be unticked
  const list = every.filter((r) => selected.includes(r.run_id) || words.every((w) => text(r).includes(w)))
  const full = selected.length >= MAX_COMPARED
  const toggle = (id: string, on: boolean): void =>
    onChange(on ? [...selected, id] : selected.filter((s) => s !== id))
  return (
    <fieldset className="picker">
      <legend>Runs to compare (up to {MAX_COMPARED})</legend>
      <label className="inline picker-filter">
        Filter{' '}
        <input type="search" value={filter} onChange={(e) => setFilter(e.target.value)} placeholder="id, name, tag or family" />
      </label>
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
              {r.name ? <strong className="small">{r.name}</strong> : null}{' '}
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
