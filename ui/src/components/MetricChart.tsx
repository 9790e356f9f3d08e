import { useEffect, useRef } from 'react'
import uPlot from 'uplot'
import 'uplot/dist/uPlot.min.css'
import { toCsv } from '../lib/chartData'
import { tickLabel } from '../lib/format'

export interface ChartSeries {
  label: string
  stroke: string
  /** The y scale: 'y' (left axis) or 'y2' (right axis). */
  scale?: 'y' | 'y2'
  /** Show points (for sparse series such as evaluations). */
  points?: boolean
  /** Drawn thin and pale: the raw line behind its smoothed one. */
  faint?: boolean
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
  /** A logarithmic left y axis (loss). */
  logY?: boolean
  /** Base of the CSV and PNG file names; no export buttons without it. */
  exportName?: string
}

/** Narrower than this, the axes shrink so the plot keeps most of a phone's width. */
const COMPACT_WIDTH = 480

/** `#4e79a7` -> `rgba(78, 121, 167, 0.3)`; other colours (hsl(), rgba()) as they are. */
function faded(colour: string): string {
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(colour)
  if (!m) return colour.startsWith('hsl(') ? colour.replace(/\)$/, ' / 0.3)') : colour
  const [r, g, b] = [m[1], m[2], m[3]].map((h) => parseInt(h ?? '0', 16))
  return `rgba(${r}, ${g}, ${b}, 0.3)`
}

function save(blob: Blob, filename: string): void {
  const href = URL.createObjectURL(blob)
  const a = document.createElement('a')
  a.href = href
  a.download = filename
  a.click()
  setTimeout(() => URL.revokeObjectURL(href), 10_000)
}

/** The chart as a PNG: its canvas on white, with the title above and a legend below
 * (uPlot draws those in HTML, outside the canvas). */
function exportPng(u: uPlot, title: string, series: readonly ChartSeries[], filename: string): void {
  const plot = u.ctx.canvas
  const ratio = plot.width / Math.max(1, u.width)
  const line = 20 * ratio
  const out = document.createElement('canvas')
  out.width = plot.width
  out.height = plot.height + line * (2 + series.length)
  const ctx = out.getContext('2d')
  if (!ctx) return
  ctx.fillStyle = '#ffffff'
  ctx.fillRect(0, 0, out.width, out.height)
  ctx.fillStyle = '#1b1f24'
  ctx.font = `600 ${14 * ratio}px system-ui, sans-serif`
  ctx.fillText(title, 8 * ratio, line * 0.8)
  ctx.drawImage(plot, 0, line)
  ctx.font = `${12 * ratio}px system-ui, sans-serif`
  series.forEach((s, i) => {
    const y = plot.height + line * (1.8 + i)
    ctx.fillStyle = s.faint ? faded(s.stroke) : s.stroke
    ctx.fillRect(8 * ratio, y - 9 * ratio, 14 * ratio, 4 * ratio)
    ctx.fillStyle = '#1b1f24'
    ctx.fillText(s.label, 28 * ratio, y)
  })
  out.toBlob((blob) => {
    if (blob) save(blob, filename)
  }, 'image/png')
}

function axisValues(_u: uPlot, splits: number[]): string[] {
  const range = Math.max(...splits) - Math.min(...splits)
  return splits.map((v) => tickLabel(v, range))
}

/** One uPlot chart, created once and fed with `setData` as the run grows. Each draw's
 * time (from building the data to uPlot's draw) and point count are left on the element
 * as `data-draw-ms` and `data-points`, for measurements and browser tests. */
export function MetricChart({ title, xLabel, yLabel, y2Label, series, build, version, height = 240, logY = false, exportName }: Props) {
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
    const compact = width < COMPACT_WIDTH
    const font = compact ? '10px system-ui, sans-serif' : '12px system-ui, sans-serif'
    const size = compact ? 44 : 60
    const axes: uPlot.Axis[] = [
      { label: xLabel, font, labelFont: font, labelSize: compact ? 18 : 30, values: axisValues },
      { label: yLabel, scale: 'y', values: axisValues, size, font, labelFont: font, labelSize: compact ? 18 : 30 },
    ]
    if (y2Label !== undefined) {
      axes.push({ label: y2Label, scale: 'y2', side: 1, grid: { show: false }, values: axisValues, size, font, labelFont: font, labelSize: compact ? 18 : 30 })
    }
    const opts: uPlot.Options = {
      title,
      width,
      height: compact ? Math.round(height * 0.85) : height,
      scales: { x: { time: false }, y: logY ? { distr: 3, log: 10 } : {} },
      axes,
      series: [
        { label: xLabel },
        ...series.map(
          (s): uPlot.Series => ({
            label: s.label,
            stroke: s.faint ? faded(s.stroke) : s.stroke,
            scale: s.scale ?? 'y',
            width: s.faint ? 1 : 1.5,
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
        u.setSize({ width: w, height: u.height })
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
  }, [title, xLabel, yLabel, y2Label, series, height, logY])

  useEffect(() => {
    const u = plot.current
    if (!u) return
    started.current = performance.now()
    u.setData(buildRef.current(u.width))
  }, [version])

  const csv = (): void => {
    const data = buildRef.current(Number.MAX_SAFE_INTEGER) // every point, not the downsampled view
    const text = toCsv([xLabel, ...series.map((s) => s.label)], data)
    save(new Blob([text], { type: 'text/csv' }), `${exportName ?? 'chart'}.csv`)
  }
  const png = (): void => {
    const u = plot.current
    if (u) exportPng(u, title, series, `${exportName ?? 'chart'}.png`)
  }
  return (
    <figure className="chart-box">
      <div className="chart" ref={box} />
      {exportName ? (
        <figcaption className="chart-export">
          <button type="button" className="button small" onClick={csv} aria-label={`${title}: download CSV`}>
            CSV
          </button>
          <button type="button" className="button small" onClick={png} aria-label={`${title}: download PNG`}>
            PNG
          </button>
        </figcaption>
      ) : null}
    </figure>
  )
}
