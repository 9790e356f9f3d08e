/** A run's metric records read into its chart columns, asking only for what is new. */
import type { RunSeries } from '../lib/chartData'
import { api, unwrap } from './client'

function get(runId: string, after: number, signal: AbortSignal) {
  return unwrap(api.GET('/runs/{run_id}/metrics', { params: { path: { run_id: runId }, query: { after } }, signal }))
}

/** Bring `series` up to date with the run's records (`?after=` what it has read). When
 * the API holds fewer than were read (a resumed run dropped some), everything is read
 * again. An API without `next_after` (older than `?after=`) answers every record: read as
 * a full list. */
export async function syncMetrics(series: RunSeries, runId: string, signal: AbortSignal): Promise<void> {
  const answer = await get(runId, series.consumed, signal)
  if (typeof answer.next_after !== 'number') {
    series.sync(answer.data)
    return
  }
  if (!series.append(answer.data, answer.after, answer.next_after)) {
    const all = await get(runId, 0, signal)
    series.append(all.data, 0, all.next_after)
  }
}
