import { api, unwrap } from '../api/client'
import type { EvalExtras, EvalView, LengthStats, Regression, SampleStats } from '../api/contract'
import { isTerminal } from '../api/types'
import { useApi } from '../api/useApi'
import { formatDate, formatNumber } from '../lib/format'
import { queuePlaceText } from '../lib/queuePlace'
import { Link } from '../router/Link'
import { Empty, ErrorNotice, Loading } from './States'
import { StatusBadge } from './StatusBadge'

/** The latest evaluation of a run (`GET /runs/{id}/eval`): while it waits or runs, its
 * status (polled until it ends) and, while it waits, its place in line and what it waits
 * for; when it failed, its code and message; when it completed, loss, perplexity, tokens
 * per character, and the samples from fixed prompts. A 404 means none has been run yet. `version` changes when a newer evaluation was queued or finished. */
export function EvalResults({ runId, version, canEvaluate }: { runId: string; version: string; canEvaluate: boolean }) {
  const result = useApi(
    `eval:${runId}:${version}`,
    async (signal): Promise<EvalView> => unwrap(api.GET('/runs/{run_id}/eval', { params: { path: { run_id: runId } }, signal })),
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
    const place = queuePlaceText(e.queue)
    return (
      <p className="notice" role="status">
        Evaluation {e.eval_id} <StatusBadge status={e.status} />
        {e.message ? ` ${e.message}` : ''}
        {place ? (
          <>
            <br />
            <span data-testid="eval-queue">{place}</span>
          </>
        ) : null}
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
        {m.bits_per_byte !== undefined && m.bits_per_byte !== null ? (
          <>
            <dt>
              <abbr title="loss in bits per byte of text: comparable across tokenizers">Bits per byte</abbr>
            </dt>
            <dd data-testid="eval-bpb">{formatNumber(m.bits_per_byte)}</dd>
          </>
        ) : null}
        <dt>Tokens / characters</dt>
        <dd>
          {formatNumber(m.tokens)} / {formatNumber(m.chars)} ({formatNumber(m.tokens_per_char)} tokens per character)
        </dd>
        <EvalExtraFacts metrics={m} />
        <dt>Finished</dt>
        <dd>{formatDate(m.finished_at)}</dd>
      </dl>
      <Regressions list={m.regressions ?? []} />
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

/** "50% / 12%" style figures of generated text (distinct n-grams, repeated 4-grams). */
function sampleStatsText(s: SampleStats): string {
  const pct = (v: number | undefined): string => (v === undefined ? '—' : `${(v * 100).toFixed(1)}%`)
  return `distinct-1 ${pct(s.distinct_1)}, distinct-2 ${pct(s.distinct_2)}, repetition ${pct(s.repetition)}`
}

function lengthText(l: LengthStats): string {
  return (
    `${formatNumber(l.documents)} documents, mean ${formatNumber(l.mean_tokens, 1)} tokens ` +
    `(median ${formatNumber(l.p50_tokens)}, 95th percentile ${formatNumber(l.p95_tokens)}, longest ${formatNumber(l.max_tokens)})`
  )
}

/** Sequence lengths of the evaluated text and figures of the samples, when the API gives them. */
function EvalExtraFacts({ metrics: m }: { metrics: EvalExtras }) {
  return (
    <>
      {m.length_stats ? (
        <>
          <dt>Lengths</dt>
          <dd data-testid="eval-lengths">{lengthText(m.length_stats)}</dd>
        </>
      ) : null}
      {m.sample_stats ? (
        <>
          <dt>Samples</dt>
          <dd data-testid="eval-sample-stats">{sampleStatsText(m.sample_stats)}</dd>
        </>
      ) : null}
    </>
  )
}

/** The figures worse than the baseline run's, each with both values. */
export function Regressions({ list }: { list: readonly Regression[] }) {
  if (list.length === 0) return null
  return (
    <div className="notice notice-warn" role="alert" aria-label="Regressions">
      <strong>Worse than the baseline</strong>
      <ul className="regressions">
        {list.map((r) => (
          <li key={`${r.baseline_run_id}:${r.figure}`}>
            <code>{r.figure}</code> {formatNumber(r.value)} against {formatNumber(r.baseline)} for{' '}
            <Link to={`/runs/${encodeURIComponent(r.baseline_run_id)}`}>{r.baseline_run_id}</Link>
          </li>
        ))}
      </ul>
    </div>
  )
}
