import { useState } from 'react'
import type { RunView } from '../api/contract'
import { asApiError, type ApiError } from '../api/errors'
import { isTerminal } from '../api/types'
import { download } from '../lib/download'
import { formatNumber } from '../lib/format'
import { Empty, ErrorNotice } from './States'

const LAST = 'checkpoints/last.pt'
const BEST = 'checkpoints/best.pt'

/** The step `last.pt` holds: the loop saves it every `checkpoint_interval` steps and when
 * it stops (at the end, or cancelled); null when that cannot be told. */
function lastCheckpointStep(run: RunView): number | null {
  const step = run.progress.step ?? 0
  if (isTerminal(run.status)) return step
  const every = run.config.trainer.checkpoint_interval
  const saved = every > 0 ? Math.floor(step / every) * every : 0
  return saved > 0 ? saved : null
}

/** Where the first checkpoint comes: `last.pt` at min(checkpoint_interval, max_steps), and
 * `best.pt` at the first evaluation if that comes earlier. */
function firstCheckpointText(run: RunView): string {
  const t = run.config.trainer
  const last = Math.min(t.checkpoint_interval > 0 ? t.checkpoint_interval : t.max_steps, t.max_steps)
  const evalAt = t.eval_interval > 0 ? Math.min(t.eval_interval, t.max_steps) : null
  if (evalAt !== null && evalAt < last) {
    return `the first (best.pt) is saved at the first evaluation, step ${formatNumber(evalAt)}; last.pt at step ${formatNumber(last)}`
  }
  return `the first is saved at step ${formatNumber(last)}`
}

/** What continues from `last.pt`, in the run's state. */
function lastHolds(run: RunView): string {
  if (run.status === 'completed') return 'latest (Extend continues from here)'
  if (run.status === 'cancelled' || run.status === 'failed') return 'latest (Resume continues from here)'
  return 'latest (a retry after a crash continues from here)'
}

/** A run's two checkpoints (what resuming starts from, and the best by val loss), with
 * their steps and losses, each downloadable. `files` are the run's files as listed now
 * (the run view's list is complete only once it ends); `best` is the lowest val loss
 * logged so far, for a run whose summary has none yet. */
export function Checkpoints({
  run,
  files,
  best,
}: {
  run: RunView
  files?: readonly string[] | undefined
  best?: { loss: number; step: number } | null | undefined
}) {
  const [failure, setFailure] = useState<ApiError | undefined>(undefined)
  const has = new Set([...run.artifacts, ...(files ?? [])])
  const bestStep = run.metrics.best_step ?? best?.step ?? null
  const bestLoss = run.metrics.best_val_loss ?? best?.loss ?? null
  const rows = [
    {
      path: LAST,
      what: lastHolds(run),
      step: lastCheckpointStep(run),
      loss: isTerminal(run.status) ? run.metrics.final_val_loss : null,
    },
    { path: BEST, what: 'lowest val loss', step: bestStep, loss: bestLoss },
  ].filter((r) => has.has(r.path))
  if (rows.length === 0) {
    if (isTerminal(run.status)) {
      return <Empty>No checkpoints: the run ended before it saved one{run.status === 'cancelled' || run.status === 'failed' ? ' (Resume starts it again from step 0)' : ''}.</Empty>
    }
    return <Empty>No checkpoints yet: {firstCheckpointText(run)}.</Empty>
  }
  const get = (path: string): void => {
    setFailure(undefined)
    const url = `/artifacts/models/${encodeURIComponent(run.run_id)}/download?path=${encodeURIComponent(path)}`
    download(url, `${run.run_id}-${path.split('/').pop() ?? path}`).catch((err: unknown) => setFailure(asApiError(err)))
  }
  return (
    <div>
      {failure ? <ErrorNotice error={failure} title="Download failed" /> : null}
      <div className="table-wrap">
        <table className="table responsive">
          <thead>
            <tr>
              <th scope="col">File</th>
              <th scope="col">Holds</th>
              <th scope="col">Step</th>
              <th scope="col">Val loss</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={r.path}>
                <td data-label="File">
                  <button type="button" className="linklike" onClick={() => get(r.path)}>
                    {r.path.split('/').pop()}
                  </button>
                </td>
                <td data-label="Holds">{r.what}</td>
                <td data-label="Step">{formatNumber(r.step)}</td>
                <td data-label="Val loss">{formatNumber(r.loss)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  )
}
