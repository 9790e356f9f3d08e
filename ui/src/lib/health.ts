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
