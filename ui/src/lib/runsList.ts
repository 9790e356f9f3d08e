/** The overview's runs list: its filters as the URL holds them, and how a run reads in it.
 * No React here. */
import type { RunSort, RunView } from '../api/contract'
import { withQuery } from '../router/router'

export const SORTS: { value: RunSort; label: string }[] = [
  { value: 'newest', label: 'Newest first' },
  { value: 'oldest', label: 'Oldest first' },
  { value: 'name', label: 'Name' },
  { value: 'final_loss', label: 'Final loss (lowest first)' },
]

/** The runs list's filters, as the page's URL holds them (`#/?status=completed&tag=x`). */
export interface RunFilters {
  status: string
  tag: string
  family: string
  q: string
  sort: RunSort
}

export function filtersOf(query: URLSearchParams): RunFilters {
  const sort = query.get('sort') ?? ''
  return {
    status: query.get('status') ?? '',
    tag: query.get('tag') ?? '',
    family: query.get('family') ?? '',
    q: query.get('q') ?? '',
    sort: SORTS.some((s) => s.value === sort) ? (sort as RunSort) : 'newest',
  }
}

/** The overview's URL for `filters` (the default sort left out). */
export function filtersPath(filters: RunFilters): string {
  return withQuery('/', { ...filters, sort: filters.sort === 'newest' ? '' : filters.sort })
}

/** A run's name, or its id when it has none. */
export function runTitle(run: RunView): string {
  return run.name?.trim() ? run.name : run.run_id
}

/** The loss a run ended with: its final val loss, else its final train loss. */
export function finalLoss(run: RunView): number | null | undefined {
  return run.metrics.final_val_loss ?? run.metrics.final_train_loss
}
