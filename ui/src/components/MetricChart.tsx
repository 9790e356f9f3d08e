import { useEffect, useRef } from 'react'
import uPlot from 'uplot'
import 'uplot/dist/uPlot.min.css'
import { tickLabel } from '../lib/format'

export interface ChartSeries {
  label: string
  stroke: string
  /** The y scale: 'y' (left axis) or 'y2' (right axis). */
  scale?: 'y' | 'y2'
  /** Show points (for sparse series such as evaluations). */
  points?: boolean
}

interface Props {
  title: string
  xLabel: string
  yLabel: string
  y2Label?: string
  series: ChartSeries[]
  /** Build the data for a chart this many pixels wide (downsampled to fit). */
  build: (width: number) => uPlot.AlignedData
  /** Changes whenever the underlying data grew: the chart then calls `build` again and
   * hands the result to the existing uPlot (`setData`), never re-creating it. */
  version: number
  height?: number
}

function axisValues(_u: uPlot, splits: number[]): string[] {
  const range = Math.max(...splits) - Math.min(...splits)
  return splits.map((v) => tickLabel(v, range))
}

/** One uPlot chart, created once and fed with `setData` as the run grows. Each draw's
 * time (from building the data to uPlot's draw) and point count are left on the element
 * as `data-draw-ms` and `data-points`, for measurements and browser tests. */
export function MetricChart({ title, xLabel, yLabel, y2Label, series, build, version, height = 240 }: Props) {
  const box = useRef<HTMLDivElement>(null)
  const plot = useRef<uPlot | null>(null)
  const started = useRef(0)
  const buildRef = useRef(build)
  useEffect(() => {
    buildRef.current = build
  })

  // Create once; resize with the container.
  useEffect(() => {
    const el = box.current
    if (!el) return undefined
    const width = Math.max(200, el.clientWidth)
    const axes: uPlot.Axis[] = [
      { label: xLabel },
      { label: yLabel, scale: 'y', values: axisValues, size: 60 },
    ]
    if (y2Label !== undefined) {
      axes.push({ label: y2Label, scale: 'y2', side: 1, grid: { show: false }, values: axisValues, size: 60 })
    }
    const opts: uPlot.Options = {
      title,
      width,
      height,
      scales: { x: { time: false } },
      axes,
      series: [
        { label: xLabel },
        ...series.map(
          (s): uPlot.Series => ({
            label: s.label,
            stroke: s.stroke,
            scale: s.scale ?? 'y',
            width: 1.5,
            spanGaps: true,
            points: { show: s.points ?? false, size: 5 },
          }),
        ),
      ],
      cursor: { drag: { x: true, y: false } },
      hooks: {
        draw: [
          (u) => {
            el.dataset['drawMs'] = (performance.now() - started.current).toFixed(1)
            el.dataset['points'] = String(u.data[0]?.length ?? 0)
          },
        ],
      },
    }
    started.current = performance.now()
    const u = new uPlot(opts, buildRef.current(width), el)
    plot.current = u
    const observer = new ResizeObserver(() => {
      const w = Math.max(200, el.clientWidth)
      if (w !== u.width) {
        started.current = performance.now()
        u.setSize({ width: w, height })
        u.setData(buildRef.current(w))
      }
    })
    observer.observe(el)
    return () => {
      observer.disconnect()
      u.destroy()
      plot.current = null
    }
    // Labels and series are constants of each chart: it is created once; data changes go
    // through setData below.
  }, [title, xLabel, yLabel, y2Label, series, height])

  useEffect(() => {
    const u = plot.current
    if (!u) return
    started.current = performance.now()
    u.setData(buildRef.current(u.width))
  }, [version])

  return <div className="chart" ref={box} />
}
