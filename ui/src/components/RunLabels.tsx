import { runCalls, type RunView } from '../api/contract'
import { JobLabels } from './JobLabels'

/** A run's tags (as chips) and notes, edited in place (`PATCH /runs/{id}`). The name is the
 * page's title; it is edited here too. */
export function RunLabels({ run, onSaved }: { run: RunView; onSaved: () => void }) {
  return (
    <JobLabels id={run.run_id} noun="run" labels={run} save={(patch) => runCalls.label(run.run_id, patch)} onSaved={onSaved} />
  )
}
