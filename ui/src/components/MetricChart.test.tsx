import { act, cleanup, render, screen } from '@testing-library/react'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { MetricChart, type ChartSeries } from './MetricChart'

// jsdom has no canvas: uPlot is a stand-in whose plot is a bare canvas element of a known
// size (drawn at twice the CSS width, as on a high-density screen), and the 2D context
// of the exported canvas records what is drawn on it.
const plot = vi.hoisted(() => ({ canvas: null as HTMLCanvasElement | null }))
vi.mock('uplot', () => ({
  default: class {
    width = 400
    height = 240
    ctx: { canvas: HTMLCanvasElement }
    constructor() {
      const canvas = document.createElement('canvas')
      canvas.width = 800
      canvas.height = 480
      plot.canvas = canvas
      this.ctx = { canvas }
    }
    setData(): void {}
    setSize(): void {}
    destroy(): void {}
  },
}))

interface Drawn {
  texts: { text: string; fillStyle: string; font: string }[]
  rects: { fillStyle: string; x: number; y: number; w: number; h: number }[]
  images: { image: unknown; x: number; y: number }[]
}

function recordingContext(drawn: Drawn): CanvasRenderingContext2D {
  const ctx = {
    fillStyle: '',
    font: '',
    fillRect(x: number, y: number, w: number, h: number) {
      drawn.rects.push({ fillStyle: ctx.fillStyle, x, y, w, h })
    },
    fillText(text: string) {
      drawn.texts.push({ text, fillStyle: ctx.fillStyle, font: ctx.font })
    },
    drawImage(image: unknown, x: number, y: number) {
      drawn.images.push({ image, x, y })
    },
  }
  return ctx as unknown as CanvasRenderingContext2D
}

const SERIES: ChartSeries[] = [
  { label: 'train loss (raw)', stroke: '#4e79a7', faint: true },
  { label: 'train loss', stroke: '#4e79a7' },
  { label: 'val loss', stroke: '#f28e2b', points: true },
]

let drawn: Drawn
let exported: { canvas: HTMLCanvasElement; type: string | undefined }[]
let blobFor: (type: string | undefined) => Blob | null
let saved: { href: string; download: string }[]
let created: Blob[]
let revoked: string[]

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
  vi.stubGlobal('ResizeObserver', class { observe(): void {} disconnect(): void {} })
  drawn = { texts: [], rects: [], images: [] }
  exported = []
  saved = []
  created = []
  revoked = []
  blobFor = (type) => new Blob(['png bytes'], { type: type ?? '' })
  vi.spyOn(HTMLCanvasElement.prototype, 'getContext').mockImplementation(() => recordingContext(drawn))
  vi.spyOn(HTMLCanvasElement.prototype, 'toBlob').mockImplementation(function (this: HTMLCanvasElement, done: BlobCallback, type?: string) {
    exported.push({ canvas: this, type })
    done(blobFor(type))
  })
  vi.spyOn(HTMLAnchorElement.prototype, 'click').mockImplementation(function (this: HTMLAnchorElement) {
    saved.push({ href: this.getAttribute('href') ?? '', download: this.download })
  })
  // jsdom has neither: set for the test, removed after it
  URL.createObjectURL = (blob: Blob): string => {
    created.push(blob)
    return `blob:chart-${created.length}`
  }
  URL.revokeObjectURL = (href: string): void => {
    revoked.push(href)
  }
})
afterEach(() => {
  cleanup()
  vi.useRealTimers()
  vi.unstubAllGlobals()
  Reflect.deleteProperty(URL, 'createObjectURL')
  Reflect.deleteProperty(URL, 'revokeObjectURL')
})

function renderChart(): void {
  render(
    <MetricChart
      title="Loss"
      xLabel="step"
      yLabel="loss"
      series={SERIES}
      build={() => [
        [10, 20],
        [3, 2.5],
        [3, 2.6],
        [null, 2.7],
      ]}
      version={1}
      exportName="run-1-loss"
    />,
  )
}

describe('MetricChart PNG export', () => {
  it('draws the plot on white with the title above and a legend below, and downloads it', () => {
    renderChart()
    act(() => screen.getByRole('button', { name: 'Loss: download PNG' }).click())

    expect(exported).toHaveLength(1)
    const [out] = exported
    expect(out?.type).toBe('image/png')
    // the plot's pixels, one line (20 CSS px at the plot's ratio of 2) for the title and
    // one per series plus one for the legend's margins
    expect(out?.canvas.width).toBe(800)
    expect(out?.canvas.height).toBe(480 + 40 * (2 + SERIES.length))

    expect(drawn.rects[0]).toEqual({ fillStyle: '#ffffff', x: 0, y: 0, w: 800, h: 480 + 40 * 5 })
    expect(drawn.images).toEqual([{ image: plot.canvas, x: 0, y: 40 }])
    expect(drawn.texts.map((t) => t.text)).toEqual(['Loss', 'train loss (raw)', 'train loss', 'val loss'])
    expect(drawn.texts[0]?.font).toBe('600 28px system-ui, sans-serif')
    // each legend entry's swatch in its line's colour (a faint line's faded), its label in ink
    expect(drawn.rects.slice(1).map((r) => r.fillStyle)).toEqual(['rgba(78, 121, 167, 0.3)', '#4e79a7', '#f28e2b'])
    expect(drawn.texts.slice(1).every((t) => t.fillStyle === '#1b1f24')).toBe(true)

    expect(created).toHaveLength(1)
    expect(created[0]?.type).toBe('image/png')
    expect(saved).toEqual([{ href: 'blob:chart-1', download: 'run-1-loss.png' }])
    expect(revoked).toEqual([])
    act(() => vi.advanceTimersByTime(10_000))
    expect(revoked).toEqual(['blob:chart-1'])
  })

  it('downloads nothing when the browser makes no image', () => {
    blobFor = () => null
    renderChart()
    act(() => screen.getByRole('button', { name: 'Loss: download PNG' }).click())
    expect(exported).toHaveLength(1)
    expect(created).toEqual([])
    expect(saved).toEqual([])
  })

  it('offers no export without a file name', () => {
    render(<MetricChart title="Loss" xLabel="step" yLabel="loss" series={SERIES} build={() => [[]]} version={1} />)
    expect(screen.queryByRole('button', { name: 'Loss: download PNG' })).toBeNull()
  })
})

describe('MetricChart CSV export', () => {
  it('downloads every point as CSV', async () => {
    renderChart()
    act(() => screen.getByRole('button', { name: 'Loss: download CSV' }).click())
    expect(saved).toEqual([{ href: 'blob:chart-1', download: 'run-1-loss.csv' }])
    expect(created[0]?.type).toBe('text/csv')
    expect(await created[0]?.text()).toBe('step,train loss (raw),train loss,val loss\n10,3,3,\n20,2.5,2.6,2.7\n')
  })
})
