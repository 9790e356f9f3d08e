/** Numbers and times as people read them. */

export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '—'
  const s = Math.max(0, Math.round(seconds))
  if (s < 60) return `${s}s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`
  const h = Math.floor(m / 60)
  if (h < 48) return `${h}h ${String(m % 60).padStart(2, '0')}m`
  return `${Math.floor(h / 24)}d ${h % 24}h`
}

/** Seconds since a heartbeat given in Unix seconds; '—' when there is none. */
export function heartbeatAge(lastHeartbeat: number | null | undefined, nowMs: number): string {
  if (lastHeartbeat === null || lastHeartbeat === undefined) return '—'
  return `${formatDuration(nowMs / 1000 - lastHeartbeat)} ago`
}

export function formatNumber(value: number | null | undefined, digits = 3): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—'
  if (Number.isInteger(value)) return value.toLocaleString('en')
  if (Math.abs(value) >= 1e6 || Math.abs(value) < 1e-3) return value.toExponential(2)
  return value.toFixed(digits)
}

/** FLOPs and the like, short: 8.1 M, 2.3 G, 1.2 T. */
export function formatCount(value: number): string {
  for (const [unit, size] of [['T', 1e12], ['G', 1e9], ['M', 1e6], ['k', 1e3]] as const) {
    if (Math.abs(value) >= size) return `${(value / size).toFixed(1)} ${unit}`
  }
  return formatNumber(value)
}

/** Model FLOPs utilisation as a percentage, with the digits a small one needs (0.042%). */
export function formatMfu(mfu: number | null | undefined): string {
  if (mfu === null || mfu === undefined || !Number.isFinite(mfu)) return '—'
  const pct = mfu * 100
  return `${pct >= 10 ? pct.toFixed(0) : pct >= 1 ? pct.toFixed(1) : pct.toPrecision(2)}%`
}

export function formatRate(tokensPerS: number | null | undefined): string {
  if (tokensPerS === null || tokensPerS === undefined || !Number.isFinite(tokensPerS)) return '—'
  if (tokensPerS >= 1e6) return `${(tokensPerS / 1e6).toFixed(2)}M tok/s`
  if (tokensPerS >= 1e3) return `${(tokensPerS / 1e3).toFixed(1)}k tok/s`
  return `${tokensPerS.toFixed(0)} tok/s`
}

export function formatDate(iso: string | null | undefined): string {
  if (!iso) return '—'
  const d = new Date(iso)
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString()
}

export function percent(step: number, max: number): number {
  if (!(max > 0)) return 0
  return Math.min(100, Math.max(0, (step / max) * 100))
}

/** Axis labels that stay readable for tiny values (learning rates) and big ones. */
export function tickLabel(v: number, range: number): string {
  if (v === 0) return '0'
  const a = Math.abs(v)
  if (a >= 1e5 || (range < 0.01 && a < 0.01)) return v.toExponential(1)
  if (range < 1) return v.toPrecision(2)
  return v.toLocaleString('en', { maximumFractionDigits: 2 })
}

/** A float cut to `digits` significant digits (integers and non-finite values unchanged):
 * 2.4567891234 -> 2.457, 0.000123456 -> 0.0001235, 12345.678 -> 12346 (no digit of a
 * whole part is dropped). */
export function roundSignificant(value: number, digits = 4): number {
  if (!Number.isFinite(value) || Number.isInteger(value) || value === 0) return value
  if (Math.abs(value) >= 10 ** digits) return Math.round(value)
  return Number(value.toPrecision(digits))
}

/** A number of a log record: 4 significant digits, and small ones (learning rates) in
 * exponent form, 4.95e-5 rather than 0.0000495. */
function logNumber(value: number): string {
  const v = roundSignificant(value)
  if (v !== 0 && Math.abs(v) < 1e-3 && Number.isFinite(v)) return v.toExponential()
  return String(v)
}

/** A value of a structured log record as the log view prints it: strings as they are,
 * numbers (also inside lists and objects) to 4 significant digits, the rest as JSON. */
export function formatLogValue(value: unknown): string {
  if (typeof value === 'string') return value
  if (typeof value === 'number') return logNumber(value)
  const text = JSON.stringify(value, (_key, v: unknown) => (typeof v === 'number' ? roundSignificant(v) : v))
  return text ?? String(value)
}
