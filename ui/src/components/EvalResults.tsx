import { api, unwrap } from '../api/client'
import { isTerminal } from '../api/types'
import { useApi } from '../api/useApi'
import { formatDate, formatNumber } from '../lib/format'
import { Empty, ErrorNotice, Loading } from './States'
import { StatusBadge } from './StatusBadge'

/** The latest evaluation of a run (`GET /runs/{id}/eval`): while it waits or runs, its
 * status (polled until it ends); when it failed, its code and message; when it completed,
 * loss, perplexity, tokens per character, and the samples from fixed prompts. A 404 means
 * none has been run yet. `version` changes when a newer evaluation was queued or finished. */
export function EvalResults({ runId, version, canEvaluate }: { runId: string; version: string; canEvaluate: boolean }) {
  const result = useApi(
    `eval:${runId}:${version}`,
    (signal) => unwrap(api.GET('/runs/{run_id}/eval', { params: { path: { run_id: runId } }, signal })),
    { intervalMs: (d) => (d && !isTerminal(d.status) ? 1000 : undefined) },
  )
  if (result.loading) return <Loading what="the evaluation" />
  if (result.error?.status === 404) {
    return (
      <Empty>
        No evaluation yet.{' '}
        {canEvaluate ? 'Evaluate (at the top) measures the model on the validation split and samples from fixed prompts.' : 'A completed run can be evaluated.'}
      </Empty>
    )
  }
  if (result.error) return <ErrorNotice error={result.error} title="The evaluation could not be loaded" onRetry={result.refetch} />
  const e = result.data
  if (!e) return null
  const m = e.metrics
  if (e.status === 'failed') {
    return (
      <p className="notice notice-error" role="alert">
        Evaluation {e.eval_id} failed: {e.error ? <code>{e.error.code}</code> : null} {e.error?.message ?? e.message}
      </p>
    )
  }
  if (!m) {
    return (
      <p className="notice" role="status">
        Evaluation {e.eval_id} <StatusBadge status={e.status} />
        {e.message ? ` ${e.message}` : ''}
      </p>
    )
  }
  return (
    <div>
      <dl className="facts">
        <dt>Split</dt>
        <dd>
          {m.split}
          {m.corpus_path ? ` (${m.corpus_path})` : ''}
        </dd>
        <dt>Loss / perplexity</dt>
        <dd>
          {formatNumber(m.loss)} / {formatNumber(m.perplexity)}
        </dd>
        <dt>Tokens / characters</dt>
        <dd>
          {formatNumber(m.tokens)} / {formatNumber(m.chars)} ({formatNumber(m.tokens_per_char)} tokens per character)
        </dd>
        <dt>Finished</dt>
        <dd>{formatDate(m.finished_at)}</dd>
      </dl>
      {e.samples.length === 0 ? (
        <p className="muted">No samples.</p>
      ) : (
        <ol className="samples">
          {e.samples.map((s, i) => (
            <li key={`${i}-${s.seed}`}>
              <pre className="sample">
                <span className="sample-prompt">{s.prompt}</span>
                {s.completion}
              </pre>
              <span className="muted small">seed {s.seed}</span>
            </li>
          ))}
        </ol>
      )}
    </div>
  )
}
