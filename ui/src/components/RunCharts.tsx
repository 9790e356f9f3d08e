import { useState } from 'react'
import { syncMetrics } from '../api/metrics'
import { useApi } from '../api/useApi'
import { RunSeries, lossData, metricsInterval, rateData } from '../lib/chartData'
import { MetricChart } from './MetricChart'
import { ErrorNotice, Loading } from './States'

const LOSS_SERIES = [
  { label: 'train loss', stroke: '#1f77b4' },
  { label: 'val loss', stroke: '#d62728', points: true },
]
const RATE_SERIES = [
  { label: 'learning rate', stroke: '#2ca02c' },
  { label: 'tokens/s', stroke: 'rgba(148, 103, 189, 0.55)', scale: 'y2' as const },
]

/** Loss, learning rate and throughput of a run, growing as it logs: each poll asks only for
 * the new records, appends them to the columns, and the charts get them through `setData`. */
export function RunCharts({ runId, ended }: { runId: string; ended: boolean }) {
  const [series] = useState(() => new RunSeries())
  const metrics = useApi(
    `metrics:${runId}`,
    async (signal) => {
      await syncMetrics(series, runId, signal)
      return { version: series.version, steps: series.step.length, evals: series.evalStep.length }
    },
    // ended: fetch once more for the last records, then stop
    { intervalMs: () => metricsInterval(series.consumed, ended), refreshOn: ended },
  )

  if (metrics.loading) return <Loading what="metrics" />
  const seen = metrics.data
  return (
    <div className="charts">
      {metrics.error ? <ErrorNotice error={metrics.error} title="Metrics could not be loaded" onRetry={metrics.refetch} /> : null}
      {!seen || seen.steps + seen.evals === 0 ? (
        <p className="muted">No metrics logged yet.</p>
      ) : (
        <>
          <MetricChart
            title="Loss"
            xLabel="step"
            yLabel="loss"
            series={LOSS_SERIES}
            build={(w) => lossData(series, w)}
            version={seen.version}
          />
          <MetricChart
            title="Learning rate and throughput"
            xLabel="step"
            yLabel="learning rate"
            y2Label="tokens/s"
            series={RATE_SERIES}
            build={(w) => rateData(series, w)}
            version={seen.version}
          />
          <p className="muted small">
            {seen.steps.toLocaleString('en')} logged steps, {seen.evals.toLocaleString('en')} evaluations
            {seen.steps > 2000 ? ' (drawn with at most four points per pixel column: first, last, lowest, highest)' : ''}
          </p>
        </>
      )}
    </div>
  )
}
