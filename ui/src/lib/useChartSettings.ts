import { useEffect, useState } from 'react'
import { loadChartSettings, saveChartSettings, type ChartSettings } from './chartData'

/** The chart settings, remembered in this browser across pages and visits. */
export function useChartSettings(): [ChartSettings, (patch: Partial<ChartSettings>) => void] {
  const [settings, setSettings] = useState<ChartSettings>(() => loadChartSettings())
  useEffect(() => saveChartSettings(settings), [settings])
  return [settings, (patch) => setSettings((s) => ({ ...s, ...patch }))]
}
