/** A run's metric records read into its chart columns, asking only for what is new. */
import type { RunSeries } from '../lib/chartData'
import { api, unwrap } from './client'

/** Records asked for on a first load (`?points=`): the API keeps, per stretch of steps, the
 * first, last, lowest and highest loss — what the charts draw anyway — so a run of 100,000
 * steps loads in a few hundred kilobytes; polls after it ask for the new records only. */
export const FIRST_LOAD_POINTS = 2000

const sampled = new WeakMap<RunSeries, boolean>()

function get(runId: string, after: number, signal: AbortSignal, points?: number) {
  const query = points === undefined ? { after } : { after, points }
  return unwrap(api.GET('/runs/{run_id}/metrics', { params: { path: { run_id: runId }, query }, signal }))
}

/** Whether the series was first filled with a downsampled answer (its older steps are a
 * sample; the ones polled since are all there). */
export function isSampled(series: RunSeries): boolean {
  return sampled.get(series) ?? false
}

/** Bring `series` up to date with the run's records (`?after=` what it has read; a first
 * read asks for `FIRST_LOAD_POINTS`). When the API holds fewer than were read (a resumed
 * run dropped some), everything is read again. An API without `next_after` (older than
 * `?after=`) answers every record: read as a full list. */
export async function syncMetrics(series: RunSeries, runId: string, signal: AbortSignal): Promise<void> {
  const first = series.consumed === 0
  const answer = await get(runId, series.consumed, signal, first ? FIRST_LOAD_POINTS : undefined)
  if (typeof answer.next_after !== 'number') {
    series.sync(answer.data)
    return
  }
  if (first) sampled.set(series, answer.downsampled === true)
  if (!series.append(answer.data, answer.after, answer.next_after)) {
    const all = await get(runId, 0, signal, FIRST_LOAD_POINTS)
    sampled.set(series, all.downsampled === true)
    series.append(all.data, 0, all.next_after)
  }
}
