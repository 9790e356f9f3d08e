import type { Health } from '../api/types'

/** "2 workers live · cpu 2 · cuda 0": how many workers serve each capability's queue, so a
 * CUDA run that waits says at a glance why (no worker serves `cuda`). */
export function workersText(health: Health): string {
  const n = health.workers ?? 0
  const live = `${n} worker${n === 1 ? '' : 's'} live`
  const by = health.capabilities
  return by ? `${live} · cpu ${by.cpu} · cuda ${by.cuda}` : live
}

/** Each live worker and what it serves, for the strip's tooltip. */
export function workersTitle(health: Health): string | undefined {
  const workers = health.live_workers ?? []
  if (workers.length === 0) return undefined
  return workers.map((w) => `${w.name}: serves ${w.serves.join(', ')}`).join('\n')
}

/** What the strip knows: the last good answer and when it came, and the failure since
 * (if the last call failed). */
export interface HealthSeen {
  health?: Health | undefined
  /** When `health` arrived (ms). */
  okAt?: number | undefined
  error?: { status: number; code: string; message: string } | undefined
  /** When the calls started failing (ms): the first failure after the last success. */
  failingSince?: number | undefined
}

export interface HealthView {
  tone: 'ok' | 'bad' | 'unknown' | 'stale'
  text: string
  title?: string | undefined
}

/** "14:03:07": a moment of today, to the second. */
export function clockTime(ms: number): string {
  const d = new Date(ms)
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':')
}

/** A failure that says the API itself is gone (not an answer from it): the fetch failed or
 * timed out, or a proxy in front of it found nothing behind (502, 504). */
export function isUnreachable(error: { status: number; code: string }): boolean {
  return error.status === 0 || error.status === 502 || error.status === 504
}

/** What the strip shows. A failed call wins over any earlier answer (an API that died is
 * red at once, not green until the next success); an answer older than the poll interval
 * (with slack for the call itself) is marked stale with its time. */
export function healthView(seen: HealthSeen, now: number, intervalMs: number): HealthView {
  const { health, okAt, error, failingSince } = seen
  if (error) {
    if (error.status === 401) return { tone: 'unknown', text: 'The API needs a key to say how it is.' }
    if (isUnreachable(error)) {
      return {
        tone: 'bad',
        text: `API unreachable since ${clockTime(failingSince ?? now)}`,
        title: `${error.code}: ${error.message}`,
      }
    }
    const text =
      error.code === 'NOT_READY' || error.code === 'QUEUE_UNAVAILABLE' ? `Not ready: ${error.message}` : `${error.code}: ${error.message}`
    return { tone: 'bad', text }
  }
  if (!health || okAt === undefined) return { tone: 'unknown', text: 'Checking the queue and workers…' }
  const text = `Ready: queue up, ${workersText(health)}`
  if (now - okAt > intervalMs + 1000) {
    return { tone: 'stale', text: `${text} (as of ${clockTime(okAt)}, no answer since)`, title: workersTitle(health) }
  }
  return { tone: 'ok', text, title: workersTitle(health) }
}
