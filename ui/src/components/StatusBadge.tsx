import type { JobStatus } from '../api/types'

const LABELS: Record<JobStatus, string> = {
  queued: 'queued',
  running: 'running',
  completed: 'completed',
  failed: 'failed',
  cancelled: 'cancelled',
  stalled: 'stalled',
}

/** A run's or tokenizer's status as a coloured badge (colour is never the only cue: the
 * word is always there). */
export function StatusBadge({ status }: { status: JobStatus }) {
  return <span className={`badge badge-${status}`}>{LABELS[status]}</span>
}
