import { api, unwrap } from '../api/client'
import { useApi } from '../api/useApi'
import { formatDate, formatNumber } from '../lib/format'
import { Empty, ErrorNotice, Loading } from './States'

/** The latest evaluation of a run (`GET /runs/{id}/eval`): loss, perplexity, tokens per
 * character, and the samples from fixed prompts. A 404 means none has been run yet.
 * `version` changes when a newer evaluation has finished (the run view says when). */
export function EvalResults({ runId, version, canEvaluate }: { runId: string; version: string; canEvaluate: boolean }) {
  const result = useApi(`eval:${runId}:${version}`, (signal) =>
    unwrap(api.GET('/runs/{run_id}/eval', { params: { path: { run_id: runId } }, signal })),
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
