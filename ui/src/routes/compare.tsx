import { useMemo, useState } from 'react'
import { api, unwrap } from '../api/client'
import { asApiError, type ApiError } from '../api/errors'
import { isTerminal, type Json, type RunPublic } from '../api/types'
import { syncMetrics } from '../api/metrics'
import { useApi } from '../api/useApi'
import { ConfigDiff } from '../components/ConfigDiff'
import { MetricChart, type ChartSeries } from '../components/MetricChart'
import { RunPicker } from '../components/RunPicker'
import { Empty, ErrorNotice, Loading } from '../components/States'
import { StatusBadge } from '../components/StatusBadge'
import { RunSeries } from '../lib/chartData'
import { hasTimes, overlay, parseRunIds, runColour, type XAxis } from '../lib/compare'
import { formatDuration, formatNumber } from '../lib/format'
import { Link } from '../router/Link'
import { navigate, useQuery, withQuery } from '../router/router'

interface Loaded {
  id: string
  run?: RunPublic
  series?: RunSeries
  error?: ApiError
}

/** Several runs side by side (`#/compare?runs=a,b,c`): loss curves overlaid, headline
 * results, and their configs with the differences marked. */
export function ComparePage() {
  const ids = parseRunIds(useQuery().get('runs'))
  const key = ids.join(',')
  const [store] = useState(() => new Map<string, RunSeries>())
  const [pickerOpen, setPickerOpen] = useState(ids.length < 2)
  const loaded = useApi<Loaded[]>(
    `compare:${key}`,
    async (signal) => {
      const path = (run_id: string) => ({ params: { path: { run_id } }, signal })
      const settled = await Promise.allSettled(
        ids.map(async (id) => {
          let series = store.get(id)
          if (!series) {
            series = new RunSeries()
            store.set(id, series)
          }
          const known = series
          const [run] = await Promise.all([
            unwrap(api.GET('/runs/{run_id}', path(id))),
            syncMetrics(known, id, signal),
          ])
          return { run, series: known }
        }),
      )
      return settled.map((s, i): Loaded => {
        const id = ids[i] ?? ''
        return s.status === 'fulfilled' ? { id, ...s.value } : { id, error: asApiError(s.reason) }
      })
    },
    // poll while any of them is still going
    { intervalMs: (d) => (d?.some((x) => x.run && !isTerminal(x.run.status)) ? 5000 : undefined) },
  )
  const choose = (next: string[]): void => navigate(withQuery('/compare', { runs: next.join(',') }))

  return (
    <div className="page">
      <h1>Compare runs</h1>
      <details open={pickerOpen} onToggle={(e) => setPickerOpen(e.currentTarget.open)}>
        <summary>Choose runs ({ids.length} chosen)</summary>
        {pickerOpen ? <RunPicker selected={ids} onChange={choose} /> : null}
      </details>
      {ids.length === 0 ? (
        <Empty>Choose two or more runs above (or tick them in the overview&apos;s runs table).</Empty>
      ) : null}
      {ids.length > 0 && loaded.loading ? <Loading what="the runs" /> : null}
      {loaded.error ? <ErrorNotice error={loaded.error} title="Refresh failed" onRetry={loaded.refetch} /> : null}
      {loaded.data ? <Compared items={loaded.data} /> : null}
    </div>
  )
}

function Compared({ items }: { items: Loaded[] }) {
  const ok = items.filter((i): i is Loaded & { run: RunPublic; series: RunSeries } => !!i.run && !!i.series)
  // the config as asked, then what the API resolved from it
  const configs = ok.map((i) => ({
    id: i.id,
    config: { ...i.run.config, architecture: i.run.architecture, parameters: i.run.parameters } as unknown as Json,
  }))
  return (
    <>
      {items
        .filter((i) => i.error)
        .map((i) => (i.error ? <ErrorNotice key={i.id} error={i.error} title={`${i.id} could not be loaded`} /> : null))}
      {ok.length > 0 ? (
        <>
          <section aria-labelledby="results-title">
            <h2 id="results-title">Results</h2>
            <Results items={ok} />
          </section>
          <section aria-labelledby="curves-title">
            <h2 id="curves-title">Loss curves</h2>
            <Curves items={ok} />
          </section>
          <section aria-labelledby="config-title">
            <h2 id="config-title">Configurations</h2>
            <ConfigDiff items={configs} />
          </section>
        </>
      ) : null}
    </>
  )
}

function Results({ items }: { items: { run: RunPublic }[] }) {
  return (
    <div className="table-wrap">
      <table className="table responsive">
        <thead>
          <tr>
            <th scope="col">Run</th>
            <th scope="col">Status</th>
            <th scope="col">Model</th>
            <th scope="col">Best val loss</th>
            <th scope="col">Final train loss</th>
            <th scope="col">Steps</th>
            <th scope="col">Took</th>
          </tr>
        </thead>
        <tbody>
          {items.map(({ run: r }, i) => (
            <tr key={r.run_id}>
              <td data-label="Run">
                <span className="swatch" style={{ background: runColour(i) }} aria-hidden="true" />{' '}
                <Link to={`/runs/${encodeURIComponent(r.run_id)}`}>{r.run_id}</Link>
              </td>
              <td data-label="Status">
                <StatusBadge status={r.status} />
              </td>
              <td data-label="Model">
                {r.config.model.family} {r.config.model.size}, {formatNumber(r.parameters)} parameters
              </td>
              <td data-label="Best val loss">
                {formatNumber(r.metrics.best_val_loss)}
                {r.metrics.best_step !== null && r.metrics.best_step !== undefined ? ` at ${r.metrics.best_step}` : ''}
              </td>
              <td data-label="Final train loss">{formatNumber(r.metrics.final_train_loss ?? r.progress.train_loss)}</td>
              <td data-label="Steps">
                {formatNumber(r.progress.step)} / {formatNumber(r.progress.max_steps)}
              </td>
              <td data-label="Took">{r.finished_at ? formatDuration(r.durations.total_s) : '—'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}

function Curves({ items }: { items: { id: string; series: RunSeries }[] }) {
  const [axis, setAxis] = useState<XAxis>('step')
  const all = items.map((i) => i.series)
  const timed = hasTimes(all)
  const x: XAxis = timed ? axis : 'step'
  // The charts are re-created only when the set of runs changes.
  const idsKey = items.map((i) => i.id).join(',')
  const train = useMemo(
    (): ChartSeries[] => idsKey.split(',').map((id, i) => ({ label: id, stroke: runColour(i) })),
    [idsKey],
  )
  const val = useMemo(
    (): ChartSeries[] => idsKey.split(',').map((id, i) => ({ label: id, stroke: runColour(i), points: true })),
    [idsKey],
  )
  const version = all.reduce((sum, s) => sum + s.version, 0)
  const xLabel = x === 'step' ? 'step' : 'minutes since start'
  return (
    <div className="charts">
      {timed ? (
        <fieldset className="axis-choice">
          <legend>Against</legend>
          <label className="inline">
            <input type="radio" name="x-axis" value="step" checked={x === 'step'} onChange={() => setAxis('step')} /> step
          </label>
          <label className="inline">
            <input type="radio" name="x-axis" value="time" checked={x === 'time'} onChange={() => setAxis('time')} /> wall
            time
          </label>
        </fieldset>
      ) : null}
      <MetricChart
        title="Train loss"
        xLabel={xLabel}
        yLabel="loss"
        series={train}
        build={(w) => overlay(all, 'train', x, w)}
        version={version}
      />
      <MetricChart
        title="Val loss"
        xLabel={xLabel}
        yLabel="loss"
        series={val}
        build={(w) => overlay(all, 'val', x, w)}
        version={version}
      />
      {!timed ? <p className="muted small">Wall time shows once the API&apos;s metric records carry their time.</p> : null}
    </div>
  )
}
