import { useMemo, useState } from 'react'
import type { Json } from '../api/types'
import { diffRows, showValue } from '../lib/compare'

export interface Compared {
  id: string
  /** What to line up: the run's config (and what the API resolved from it). */
  config: Json
  /** How the run is called on the page (its name and id); the id when absent. */
  label?: string
  /** Its colour in the page's charts. */
  colour?: string
}

/** Configs side by side, one row per dotted key; the rows whose values differ come first,
 * marked (a "differs" label and a highlight), and the others show on demand. The table
 * scrolls sideways in its own box; on a phone each setting becomes a card with one line
 * per run. */
export function ConfigDiff({ items }: { items: readonly Compared[] }) {
  const rows = useMemo(() => {
    const all = diffRows(items.map((i) => i.config))
    return [...all.filter((r) => r.differs), ...all.filter((r) => !r.differs)]
  }, [items])
  const differing = rows.filter((r) => r.differs).length
  const [showAll, setShowAll] = useState(false)
  const all = showAll || differing === 0
  const shown = all ? rows : rows.filter((r) => r.differs)
  return (
    <div className="config-diff">
      <div className="actions">
        <span className="muted small" role="status">
          {differing === 0 ? 'All fields are the same.' : `${differing} of ${rows.length} fields differ.`}
        </span>
        {differing > 0 ? (
          <button type="button" className="button small" aria-expanded={all} onClick={() => setShowAll(!all)}>
            {all ? `Show only the ${differing} that differ` : `Show all ${rows.length} settings`}
          </button>
        ) : null}
      </div>
      {/* focusable so that keyboard users can scroll a wide table */}
      {/* oxlint-disable-next-line jsx-a11y/no-noninteractive-tabindex */}
      <div className="table-wrap diff-wrap" tabIndex={0} role="region" aria-label="Configurations side by side">
        <table className="table diff-table">
          <thead>
            <tr>
              <th scope="col">Field</th>
              {items.map((i) => (
                <th key={i.id} scope="col">
                  {i.colour ? <span className="swatch" style={{ background: i.colour }} aria-hidden="true" /> : null}
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
                  <td key={items[i]?.id ?? i} className={v === undefined ? 'muted' : undefined} data-label={items[i]?.label ?? items[i]?.id}>
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
