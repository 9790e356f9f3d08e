import { useState } from 'react'
import { api, unwrap } from '../api/client'
import type { RunPublic, TokenizerPublic } from '../api/types'
import { useApi } from '../api/useApi'
import { HealthStrip } from '../components/HealthStrip'
import { ProgressBar } from '../components/ProgressBar'
import { Empty, ErrorNotice, Loading } from '../components/States'
import { StatusBadge } from '../components/StatusBadge'
import { useNow } from '../lib/useNow'
import { formatDate, formatDuration, formatNumber, formatRate, heartbeatAge } from '../lib/format'
import { MAX_COMPARED } from '../lib/compare'
import { Link } from '../router/Link'
import { withQuery } from '../router/router'

const POLL_MS = 2000

/** Recent runs and tokenizers, updating live, with the workers' health on top. */
export function HomePage() {
  const runs = useApi('runs', (signal) => unwrap(api.GET('/runs', { params: { query: { limit: 50 } }, signal })), {
    intervalMs: POLL_MS,
  })
  const tokenizers = useApi(
    'tokenizers',
    (signal) => unwrap(api.GET('/tokenizers', { params: { query: { limit: 50 } }, signal })),
    { intervalMs: POLL_MS },
  )
  const now = useNow()
  const [chosen, setChosen] = useState<string[]>([])
  const choose = (id: string, on: boolean): void =>
    setChosen((c) => (on ? [...c, id].slice(0, MAX_COMPARED) : c.filter((x) => x !== id)))
  return (
    <div className="page">
      <HealthStrip intervalMs={POLL_MS} />
      <section aria-labelledby="runs-title">
        <div className="section-head">
          <h2 id="runs-title">Training runs</h2>
          {chosen.length >= 2 ? (
            <Link to={withQuery('/compare', { runs: chosen.join(',') })} className="button">
              Compare {chosen.length} runs
            </Link>
          ) : (
            <span className="muted small">Tick two or more runs to compare them.</span>
          )}
          <Link to="/runs/new" className="button primary">
            New run
          </Link>
        </div>
        {runs.error ? <ErrorNotice error={runs.error} title="Runs could not be loaded" onRetry={runs.refetch} /> : null}
        {runs.loading ? <Loading what="runs" /> : null}
        {runs.data && runs.data.data.length === 0 ? (
          <Empty>No training runs yet. Train a tokenizer first, then start a run with it.</Empty>
        ) : null}
        {runs.data && runs.data.data.length > 0 ? <RunsTable runs={runs.data.data} now={now} chosen={chosen} onChoose={choose} /> : null}
      </section>
      <section aria-labelledby="tok-title">
        <div className="section-head">
          <h2 id="tok-title">Tokenizers</h2>
          <Link to="/tokenizers/new" className="button primary">
            New tokenizer
          </Link>
        </div>
        {tokenizers.error ? (
          <ErrorNotice error={tokenizers.error} title="Tokenizers could not be loaded" onRetry={tokenizers.refetch} />
        ) : null}
        {tokenizers.loading ? <Loading what="tokenizers" /> : null}
        {tokenizers.data && tokenizers.data.data.length === 0 ? (
          <Empty>
            No tokenizers yet. <Link to="/tokenizers/new">Train one</Link> from a corpus.
          </Empty>
        ) : null}
        {tokenizers.data && tokenizers.data.data.length > 0 ? (
          <TokenizersTable tokenizers={tokenizers.data.data} now={now} />
        ) : null}
      </section>
    </div>
  )
}

function RunsTable({
  runs,
  now,
  chosen,
  onChoose,
}: {
  runs: RunPublic[]
  now: number
  chosen: readonly string[]
  onChoose: (id: string, on: boolean) => void
}) {
  const full = chosen.length >= MAX_COMPARED
  return (
    <div className="table-wrap">
      <table className="table responsive">
        <thead>
          <tr>
            <th scope="col">
              <span className="visually-hidden">Compare</span>
            </th>
            <th scope="col">Run</th>
            <th scope="col">Status</th>
            <th scope="col">Progress</th>
            <th scope="col">Loss (train / val)</th>
            <th scope="col">Tokens/s</th>
            <th scope="col">ETA</th>
            <th scope="col">Heartbeat</th>
            <th scope="col">Created</th>
          </tr>
        </thead>
        <tbody>
          {runs.map((run) => (
            <tr key={run.run_id}>
              <td data-label="Compare" className="check-cell">
                <input
                  type="checkbox"
                  aria-label={`Compare ${run.run_id}`}
                  checked={chosen.includes(run.run_id)}
                  disabled={full && !chosen.includes(run.run_id)}
                  onChange={(e) => onChoose(run.run_id, e.target.checked)}
                />
              </td>
              <td data-label="Run">
                <Link to={`/runs/${encodeURIComponent(run.run_id)}`}>{run.run_id}</Link>
                <div className="muted small">
                  {run.config.model.family} {run.config.model.size}
                </div>
              </td>
              <td data-label="Status">
                <StatusBadge status={run.status} />
              </td>
              <td data-label="Progress">
                <ProgressBar step={run.progress.step ?? 0} max={run.progress.max_steps ?? 0} label={`${run.run_id} progress`} />
              </td>
              <td data-label="Loss">
                {formatNumber(run.progress.train_loss)} / {formatNumber(run.progress.val_loss)}
              </td>
              <td data-label="Tokens/s">{formatRate(run.progress.tokens_per_s)}</td>
              <td data-label="ETA">{run.status === 'running' ? formatDuration(run.progress.eta_s) : '—'}</td>
              <td data-label="Heartbeat">{heartbeatAge(run.last_heartbeat, now)}</td>
              <td data-label="Created">{formatDate(run.created_at)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}

function TokenizersTable({ tokenizers, now }: { tokenizers: TokenizerPublic[]; now: number }) {
  return (
    <div className="table-wrap">
      <table className="table responsive">
        <thead>
          <tr>
            <th scope="col">Tokenizer</th>
            <th scope="col">Method</th>
            <th scope="col">Status</th>
            <th scope="col">Vocabulary</th>
            <th scope="col">Corpus</th>
            <th scope="col">Heartbeat</th>
            <th scope="col">Created</th>
          </tr>
        </thead>
        <tbody>
          {tokenizers.map((t) => (
            <tr key={t.tokenizer_id}>
              <td data-label="Tokenizer">
                <Link to={`/tokenizers/${encodeURIComponent(t.tokenizer_id)}`}>{t.tokenizer_id}</Link>
              </td>
              <td data-label="Method">{t.method}</td>
              <td data-label="Status">
                <StatusBadge status={t.status} />
                {t.error_code ? <div className="muted small">{t.error_code}</div> : null}
              </td>
              <td data-label="Vocabulary">
                {t.stats ? formatNumber(t.stats.vocab_size) : `≤ ${formatNumber(t.config.vocab_size)}`}
              </td>
              <td data-label="Corpus">{t.config.corpus_path}</td>
              <td data-label="Heartbeat">{heartbeatAge(t.last_heartbeat, now)}</td>
              <td data-label="Created">{formatDate(t.created_at)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}
