import { useEffect, useMemo, useState } from 'react'
import { isSampled, syncMetrics } from '../api/metrics'
import { useApi } from '../api/useApi'
import { RunSeries, X_LABELS, axisAvailable, bestEval, lossData, metricsInterval, rateData, type XAxis } from '../lib/chartData'
import { useChartSettings } from '../lib/useChartSettings'
import { ChartControls } from './ChartControls'
import { MetricChart, type ChartSeries } from './MetricChart'
import { ErrorNotice, Loading } from './States'

const TRAIN = '#1f77b4'
const VAL = '#d62728'
const LR = '#2ca02c'
const TPS = '#9467bd'

function lossSeries(smoothed: boolean): ChartSeries[] {
  return smoothed
    ? [
        { label: 'train loss (raw)', stroke: TRAIN, faint: true },
        { label: 'train loss', stroke: TRAIN },
        { label: 'val loss', stroke: VAL, points: true },
      ]
    : [
        { label: 'train loss', stroke: TRAIN },
        { label: 'val loss', stroke: VAL, points: true },
      ]
}

function rateSeries(smoothed: boolean): ChartSeries[] {
  const lr: ChartSeries = { label: 'learning rate', stroke: LR }
  return smoothed
    ? [lr, { label: 'tokens/s (raw)', stroke: TPS, scale: 'y2', faint: true }, { label: 'tokens/s', stroke: TPS, scale: 'y2' }]
    : [lr, { label: 'tokens/s', stroke: 'rgba(148, 103, 189, 0.55)', scale: 'y2' }]
}

/** Loss, learning rate and throughput of a run, growing as it logs: each poll asks only for
 * the new records, appends them to the columns, and the charts get them through `setData`.
 * Smoothing, log scale and the x axis are chosen above them (and remembered). `onBest`
 * hears the lowest val loss logged so far (the run's summary has it only at the end). */
export function RunCharts({
  runId,
  ended,
  onBest,
}: {
  runId: string
  ended: boolean
  onBest?: (best: { loss: number; step: number } | null) => void
}) {
  const [series] = useState(() => new RunSeries())
  const [settings, change] = useChartSettings()
  const metrics = useApi(
    `metrics:${runId}`,
    async (signal) => {
      await syncMetrics(series, runId, signal)
      return {
        version: series.version,
        steps: series.step.length,
        evals: series.evalStep.length,
        records: series.consumed,
        sampled: isSampled(series),
      }
    },
    // ended: fetch once more for the last records, then stop
    { intervalMs: () => metricsInterval(series.consumed, ended), refreshOn: ended },
  )
  const version = metrics.data?.version ?? 0
  useEffect(() => {
    if (onBest) onBest(bestEval(series))
  }, [version, onBest, series])
  const smoothed = settings.smoothing > 0
  const loss = useMemo(() => lossSeries(smoothed), [smoothed])
  const rate = useMemo(() => rateSeries(smoothed), [smoothed])

  if (metrics.loading) return <Loading what="metrics" />
  const seen = metrics.data
  const available: Record<XAxis, boolean> = {
    step: true,
    time: axisAvailable([series], 'time'),
    tokens: axisAvailable([series], 'tokens'),
  }
  const x: XAxis = available[settings.x] ? settings.x : 'step'
  const opts = { x, smoothing: settings.smoothing }
  return (
    <div className="charts">
      {metrics.error ? <ErrorNotice error={metrics.error} title="Metrics could not be loaded" onRetry={metrics.refetch} /> : null}
      {!seen || seen.steps + seen.evals === 0 ? (
        <p className="muted">No metrics logged yet.</p>
      ) : (
        <>
          <ChartControls settings={settings} onChange={change} available={available} />
          <MetricChart
            title="Loss"
            xLabel={X_LABELS[x]}
            yLabel="loss"
            series={loss}
            build={(w) => lossData(series, w, opts)}
            version={seen.version + settings.smoothing}
            logY={settings.logScale}
            exportName={`${runId}-loss`}
          />
          <MetricChart
            title="Learning rate and throughput"
            xLabel={X_LABELS[x]}
            yLabel="learning rate"
            y2Label="tokens/s"
            series={rate}
            build={(w) => rateData(series, w, opts)}
            version={seen.version + settings.smoothing}
            exportName={`${runId}-rate`}
          />
          <p className="muted small">
            {seen.sampled
              ? `${seen.records.toLocaleString('en')} records logged; shown: ${seen.steps.toLocaleString('en')} steps and ${seen.evals.toLocaleString('en')} evaluations (the first load kept, per stretch of steps, the first, last, lowest and highest loss; every record logged since is added)`
              : `${seen.steps.toLocaleString('en')} logged steps, ${seen.evals.toLocaleString('en')} evaluations`}
            {seen.steps > 2000 ? ' (drawn with at most four points per pixel column: first, last, lowest, highest)' : ''}
          </p>
        </>
      )}
    </div>
  )
}
