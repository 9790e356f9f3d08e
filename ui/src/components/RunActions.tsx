import { useState, type FormEvent } from 'react'
import { api, unwrap } from '../api/client'
import { runCalls, type RunView } from '../api/contract'
import { ApiError, asApiError } from '../api/errors'
import { isTerminal } from '../api/types'
import { Link } from '../router/Link'
import { navigate, withQuery } from '../router/router'
import { ErrorNotice } from './States'

type Confirming = 'cancel' | 'delete' | 'extend' | null

/** Why a delete was refused, in words (409: the run, or an evaluation of it, is active). */
function deleteFailure(err: ApiError): ApiError {
  if (err.status !== 409) return err
  return new ApiError(err.status, {
    code: err.code,
    message: `${err.message} (a run can be deleted only once it and any evaluation of it have ended)`,
    request_id: err.request_id,
  })
}

/** What can be done to a run from its page: cancel (confirmed), resume a cancelled or
 * failed run from its last checkpoint, extend a completed one to more steps, evaluate,
 * clone, and delete an ended run (confirmed; back to the list after). */
export function RunActions({
  run,
  onDone,
  onEvaluate,
}: {
  run: RunView
  onDone: () => void
  onEvaluate: (evalId: string) => void
}) {
  const [confirming, setConfirming] = useState<Confirming>(null)
  const [busy, setBusy] = useState(false)
  const [failure, setFailure] = useState<ApiError | undefined>(undefined)
  const [evaluating, setEvaluating] = useState(false)
  const [notice, setNotice] = useState('')
  const path = { params: { path: { run_id: run.run_id } } }
  const act = async (what: () => Promise<void>, failureOf: (e: ApiError) => ApiError = (e) => e): Promise<void> => {
    setBusy(true)
    setFailure(undefined)
    setNotice('')
    try {
      await what()
      setConfirming(null)
      onDone()
    } catch (err) {
      setFailure(failureOf(asApiError(err)))
    } finally {
      setBusy(false)
    }
  }
  const cancel = () =>
    act(async () => {
      await unwrap(api.POST('/runs/{run_id}/cancel', path))
    })
  const evaluate = () =>
    act(async () => {
      const queued = await unwrap(api.POST('/runs/{run_id}/evaluate', { ...path, body: { split: 'val' } }))
      setEvaluating(true)
      onEvaluate(queued.eval_id)
    })
  const resume = (maxSteps?: number) =>
    act(async () => {
      await runCalls.resume(run.run_id, maxSteps)
      setNotice(maxSteps === undefined ? 'Resumed: queued again.' : `Extended to ${maxSteps.toLocaleString('en')} steps: queued again.`)
    })
  const remove = () =>
    act(async () => {
      await runCalls.remove(run.run_id)
      navigate('/')
    }, deleteFailure)

  const active = !isTerminal(run.status)
  const resumable = run.status === 'cancelled' || run.status === 'failed'
  return (
    <div className="actions run-actions">
      {active && confirming !== 'cancel' ? (
        <button type="button" className="button danger" disabled={busy} onClick={() => setConfirming('cancel')}>
          Cancel run
        </button>
      ) : null}
      {active && confirming === 'cancel' ? (
        <>
          <button type="button" className="button danger" disabled={busy} onClick={() => void cancel()}>
            Yes, cancel it
          </button>
          <button type="button" className="button" onClick={() => setConfirming(null)}>
            Keep running
          </button>
        </>
      ) : null}
      {resumable ? (
        <button
          type="button"
          className="button primary"
          disabled={busy}
          onClick={() => void resume()}
          title="continue from the last checkpoint, under the same id"
        >
          Resume
        </button>
      ) : null}
      {run.status === 'completed' && confirming !== 'extend' ? (
        <button type="button" className="button" disabled={busy} onClick={() => setConfirming('extend')}>
          Extend
        </button>
      ) : null}
      {run.status === 'completed' ? (
        <button type="button" className="button" disabled={busy} onClick={() => void evaluate()}>
          Evaluate
        </button>
      ) : null}
      <Link to={withQuery('/runs/new', { from: run.run_id })} className="button">
        Clone
      </Link>
      {isTerminal(run.status) && confirming !== 'delete' ? (
        <button type="button" className="button danger" disabled={busy} onClick={() => setConfirming('delete')}>
          Delete
        </button>
      ) : null}
      {confirming === 'delete' ? (
        <span className="confirm" role="group" aria-label="Confirm delete">
          <span>Delete {run.run_id} and all its files?</span>{' '}
          <button type="button" className="button danger" disabled={busy} onClick={() => void remove()}>
            Yes, delete it
          </button>
          <button type="button" className="button" onClick={() => setConfirming(null)}>
            Keep it
          </button>
        </span>
      ) : null}
      {confirming === 'extend' ? (
        <ExtendForm run={run} busy={busy} onExtend={(n) => void resume(n)} onClose={() => setConfirming(null)} />
      ) : null}
      {evaluating ? (
        <span className="muted small" role="status">
          Evaluation queued: follow it under Evaluation and samples.
        </span>
      ) : null}
      {notice ? (
        <span className="muted small" role="status">
          {notice}
        </span>
      ) : null}
      {failure ? <ErrorNotice error={failure} title="Not done" /> : null}
    </div>
  )
}

/** The new max_steps of a completed run: more than the steps it ran. */
function ExtendForm({ run, busy, onExtend, onClose }: { run: RunView; busy: boolean; onExtend: (maxSteps: number) => void; onClose: () => void }) {
  const ran = run.progress.step ?? run.config.trainer.max_steps
  const [value, setValue] = useState(String(ran * 2))
  const n = Number(value)
  const problem = !Number.isInteger(n) || n <= ran ? `more than the ${ran.toLocaleString('en')} steps it ran` : ''
  const submit = (e: FormEvent): void => {
    e.preventDefault()
    if (!problem) onExtend(n)
  }
  return (
    <form className="extend-form" onSubmit={submit} aria-label="Extend the run">
      <label className="inline">
        New max steps{' '}
        <input
          type="number"
          inputMode="numeric"
          min={ran + 1}
          step={1}
          value={value}
          onChange={(e) => setValue(e.target.value)}
          aria-invalid={problem ? true : undefined}
          aria-describedby={`${run.run_id}-extend-hint`}
        />
      </label>
      <span id={`${run.run_id}-extend-hint`} className={problem ? 'field-error' : 'hint'}>
        {problem || 'continues from last.pt'}
      </span>
      <button type="submit" className="button primary" disabled={busy || !!problem}>
        Extend to {Number.isInteger(n) && n > 0 ? n.toLocaleString('en') : '…'} steps
      </button>
      <button type="button" className="button" onClick={onClose}>
        Never mind
      </button>
    </form>
  )
}
