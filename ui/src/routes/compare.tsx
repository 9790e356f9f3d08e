import { useMemo, useState } from 'react'
import { api, unwrap } from '../api/client'
import { asApiError, type ApiError } from '../api/errors'
import type { RunView } from '../api/contract'
import { isTerminal, type Json, type RunPublic } from '../api/types'
import { syncMetrics } from '../api/metrics'
import { useApi } from '../api/useApi'
import { ConfigDiff } from '../components/ConfigDiff'
import { ChartControls } from '../components/ChartControls'
import { MetricChart, type ChartSeries } from '../components/MetricChart'
import { RunPicker } from '../components/RunPicker'
import { Empty, ErrorNotice, Loading } from '../components/States'
import { StatusBadge } from '../components/StatusBadge'
import { RunSeries, X_LABELS, axisAvailable } from '../lib/chartData'
import { overlay, parseRunIds, runColour, type XAxis } from '../lib/compare'
import { formatDuration, formatNumber } from '../lib/format'
import { useChartSettings } from '../lib/useChartSettings'
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
      {loaded.data ? (
        <RunLegend items={loaded.data} onRemove={(id) => choose(ids.filter((x) => x !== id))} />
      ) : null}
      {loaded.data ? <Compared items={loaded.data} /> : null}
    </div>
  )
}

/** What a run is called on this page: its name when it has one. */
function runLabel(l: Loaded): string {
  const name = (l.run as RunView | undefined)?.name
  return name ? `${name} (${l.id})` : l.id
}

/** Each compared run with its colour (the same in every chart and table), removable. */
function RunLegend({ items, onRemove }: { items: Loaded[]; onRemove: (id: string) => void }) {
  return (
    <ul className="run-legend" aria-label="Compared runs">
      {items.map((l, i) => (
        <li key={l.id}>
          <span className="swatch" style={{ background: runColour(i) }} aria-hidden="true" />
          <Link to={`/runs/${encodeURIComponent(l.id)}`}>{runLabel(l)}</Link>
          <button type="button" className="button small" aria-label={`Remove ${l.id}`} onClick={() => onRemove(l.id)}>
            ×
          </button>
        </li>
      ))}
    </ul>
  )
}

function Compared({ items }: { items: Loaded[] }) {
  const ok = items.filter((i): i is Loaded & { run: RunPublic; series: RunSeries } => !!i.run && !!i.series)
  // the config as asked, then what the API resolved from it
  const configs = ok.map((i) => ({
    id: i.id,
    label: runLabel(i),
    colour: runColour(items.indexOf(i)),
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
            <Results items={ok.map((i) => ({ run: i.run, colour: runColour(items.indexOf(i)) }))} />
          </section>
          <section aria-labelledby="curves-title">
            <h2 id="curves-title">Loss curves</h2>
            <Curves items={ok.map((i) => ({ id: i.id, series: i.series, colour: runColour(items.indexOf(i)), label: runLabel(i) }))} />
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

function Results({ items }: { items: { run: RunView; colour: string }[] }) {
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
          {items.map(({ run: r, colour }) => (
            <tr key={r.run_id}>
              <td data-label="Run">
                <span className="swatch" style={{ background: colour }} aria-hidden="true" />{' '}
                <Link to={`/runs/${encodeURIComponent(r.run_id)}`}>{r.run_id}</Link>
                {r.name ? <span className="muted small"> {r.name}</span> : null}
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

function Curves({ items }: { items: { id: string; series: RunSeries; colour: string; label: string }[] }) {
  const [settings, change] = useChartSettings()
  const all = items.map((i) => i.series)
  const available: Record<XAxis, boolean> = {
    step: true,
    time: axisAvailable(all, 'time'),
    tokens: axisAvailable(all, 'tokens'),
  }
  const x: XAxis = available[settings.x] ? settings.x : 'step'
  // The charts are re-created only when the set of runs (or how they look) changes.
  const spec = JSON.stringify(items.map((i) => [i.label, i.colour]))
  const train = useMemo(
    (): ChartSeries[] => (JSON.parse(spec) as [string, string][]).map(([label, stroke]) => ({ label, stroke })),
    [spec],
  )
  const val = useMemo(
    (): ChartSeries[] => (JSON.parse(spec) as [string, string][]).map(([label, stroke]) => ({ label, stroke, points: true })),
    [spec],
  )
  const version = all.reduce((sum, s) => sum + s.version, 0) + settings.smoothing
  const w = settings.smoothing
  return (
    <div className="charts">
      <ChartControls settings={settings} onChange={change} available={available} />
      <MetricChart
        title="Train loss"
        xLabel={X_LABELS[x]}
        yLabel="loss"
        series={train}
        build={(width) => overlay(all, 'train', x, width, w)}
        version={version}
        logY={settings.logScale}
        exportName="compare-train-loss"
      />
      <MetricChart
        title="Val loss"
        xLabel={X_LABELS[x]}
        yLabel="loss"
        series={val}
        build={(width) => overlay(all, 'val', x, width, w)}
        version={version}
        logY={settings.logScale}
        exportName="compare-val-loss"
      />
      {!available.time ? <p className="muted small">Wall time shows once the API&apos;s metric records carry their time.</p> : null}
    </div>
  )
}
