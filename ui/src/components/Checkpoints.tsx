import { useState } from 'react'
import { asApiError, type ApiError } from '../api/errors'
import { isTerminal, type RunPublic } from '../api/types'
import { download } from '../lib/download'
import { formatNumber } from '../lib/format'
import { Empty, ErrorNotice } from './States'

const LAST = 'checkpoints/last.pt'
const BEST = 'checkpoints/best.pt'

/** The step `last.pt` holds: the loop saves it every `checkpoint_interval` steps and when
 * it stops (at the end, or cancelled). */
function lastCheckpointStep(run: RunPublic): number | null {
  const step = run.progress.step ?? 0
  if (isTerminal(run.status)) return step
  const every = run.config.trainer.checkpoint_interval
  return every > 0 ? Math.floor(step / every) * every : null
}

/** A run's two checkpoints (what resuming starts from, and the best by val loss), with
 * their steps and losses from the run view, each downloadable. */
export function Checkpoints({ run }: { run: RunPublic }) {
  const [failure, setFailure] = useState<ApiError | undefined>(undefined)
  const has = new Set(run.artifacts)
  const rows = [
    {
      path: LAST,
      what: 'latest (resuming starts here)',
      step: lastCheckpointStep(run),
      loss: isTerminal(run.status) ? run.metrics.final_val_loss : null,
    },
    { path: BEST, what: 'lowest val loss', step: run.metrics.best_step ?? null, loss: run.metrics.best_val_loss ?? null },
  ].filter((r) => has.has(r.path))
  if (rows.length === 0) {
    return <Empty>No checkpoints yet: the first is saved after {formatNumber(run.config.trainer.checkpoint_interval)} steps.</Empty>
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
