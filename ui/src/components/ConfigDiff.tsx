import { useMemo, useState } from 'react'
import type { Json } from '../api/types'
import { diffRows, showValue } from '../lib/compare'

export interface Compared {
  id: string
  /** What to line up: the run's config (and what the API resolved from it). */
  config: Json
}

/** Configs side by side, one row per dotted key; rows whose values differ are marked (a
 * "differs" label and a highlight) and can be shown alone. */
export function ConfigDiff({ items }: { items: readonly Compared[] }) {
  const rows = useMemo(() => diffRows(items.map((i) => i.config)), [items])
  const differing = rows.filter((r) => r.differs).length
  const [onlyDiff, setOnlyDiff] = useState(false)
  const shown = onlyDiff ? rows.filter((r) => r.differs) : rows
  return (
    <div className="config-diff">
      <div className="actions">
        <span className="muted small" role="status">
          {differing === 0 ? 'All fields are the same.' : `${differing} of ${rows.length} fields differ.`}
        </span>
        <label className="inline">
          <input type="checkbox" checked={onlyDiff} onChange={(e) => setOnlyDiff(e.target.checked)} /> only differences
        </label>
      </div>
      {/* focusable so that keyboard users can scroll a wide table */}
      {/* oxlint-disable-next-line jsx-a11y/no-noninteractive-tabindex */}
      <div className="table-wrap" tabIndex={0} role="region" aria-label="Configurations side by side">
        <table className="table diff-table">
          <thead>
            <tr>
              <th scope="col">Field</th>
              {items.map((i) => (
                <th key={i.id} scope="col">
                  {i.id}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {shown.map((row) => (
              <tr key={row.key} className={row.differs ? 'differs' : undefined} data-differs={row.differs || undefined}>
                <th scope="row">
                  <code>{row.key}</code>
                  {row.differs ? <span className="diff-mark"> differs</span> : null}
                </th>
                {row.values.map((v, i) => (
                  <td key={items[i]?.id ?? i} className={v === undefined ? 'muted' : undefined}>
                    {showValue(v)}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  )
}
