import { useEffect, useState } from 'react'
import { api, unwrap } from '../api/client'
import { listCalls, runCalls, type RunSort, type RunView, type RunsQuery, type TokenizerView } from '../api/contract'
import { isTerminal, type JobStatus } from '../api/types'
import { useApi } from '../api/useApi'
import { ConfirmDialog } from '../components/ConfirmDialog'
import { HealthStrip } from '../components/HealthStrip'
import { ProgressBar } from '../components/ProgressBar'
import { Empty, ErrorNotice, Loading } from '../components/States'
import { StatusBadge } from '../components/StatusBadge'
import { TagFilter } from '../components/TagFilter'
import { WorkersPanel } from '../components/WorkersPanel'
import { useNow } from '../lib/useNow'
import { formatDate, formatDuration, formatNumber, formatRate, heartbeatAge } from '../lib/format'
import { Link } from '../router/Link'
import { replacePath, useQuery, withQuery } from '../router/router'
import { queuePlaceText } from '../lib/queuePlace'
import { SORTS, filtersOf, filtersPath, finalLoss, runTitle, type RunFilters } from '../lib/runsList'

const POLL_MS = 2000

const STATUSES: JobStatus[] = ['queued', 'running', 'stalled', 'completed', 'failed', 'cancelled']

/** Recent runs (filtered, sorted, kept in the URL) and tokenizers, updating live, with the
 * workers' health on top and each worker's machine below. */
export function HomePage() {
  const filters = filtersOf(useQuery())
  const query: RunsQuery = { ...filters, limit: 100 }
  const runsKey = `runs:${JSON.stringify(query)}`
  const runs = useApi(runsKey, (signal) => listCalls.runs(query, signal), { intervalMs: POLL_MS })
  const [tokTag, setTokTag] = useState('')
  const tokenizers = useApi(
    `tokenizers:${tokTag}`,
    (signal) => listCalls.tokenizers({ tag: tokTag, limit: 50 }, signal),
    { intervalMs: POLL_MS },
  )
  const backends = useApi('backends', (signal) => unwrap(api.GET('/backends', { signal })))
  const families = (backends.data?.data ?? []).filter((b) => b.kind === 'model').map((b) => b.name)
  const now = useNow()
  const [chosen, setChosen] = useState<string[]>([])
  const [deleting, setDeleting] = useState<RunView | undefined>(undefined)
  const [deletingTok, setDeletingTok] = useState<string | undefined>(undefined)
  const choose = (id: string, on: boolean): void => setChosen((c) => (on ? [...c, id] : c.filter((x) => x !== id)))
  const setFilters = (patch: Partial<RunFilters>): void => replacePath(filtersPath({ ...filters, ...patch }))
  const filtered = filters.status !== '' || filters.tag !== '' || filters.family !== '' || filters.q !== ''
  const list = runs.data?.data ?? []
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
        <RunFiltersBar filters={filters} families={families} onChange={setFilters} />
        {runs.error ? <ErrorNotice error={runs.error} title="Runs could not be loaded" onRetry={runs.refetch} /> : null}
        {runs.loading ? <Loading what="runs" /> : null}
        {runs.data && list.length === 0 ? (
          filtered ? (
            <Empty>
              No run matches these filters. <Link to="/">Show all runs</Link>.
            </Empty>
          ) : (
            <Empty>No training runs yet. Train a tokenizer first, then start a run with it.</Empty>
          )
        ) : null}
        {list.length > 0 ? (
          <RunsTable
            runs={list}
            now={now}
            chosen={chosen}
            onChoose={choose}
            onTag={(tag) => setFilters({ tag })}
            onDelete={setDeleting}
          />
        ) : null}
      </section>
      {deleting ? (
        <ConfirmDialog
          title={`Delete ${runTitle(deleting)}?`}
          confirmLabel="Delete run"
          onClose={() => setDeleting(undefined)}
          onConfirm={async () => {
            await runCalls.remove(deleting.run_id)
            setChosen((c) => c.filter((x) => x !== deleting.run_id))
            runs.refetch()
          }}
        >
          <p>
            The run <code>{deleting.run_id}</code>, its checkpoints, exported model, logs and evaluations are removed for
            good.
          </p>
        </ConfirmDialog>
      ) : null}
      <WorkersPanel />
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
        <TagFilter tag={tokTag} onChange={setTokTag} label="Filter tokenizers" field="Tokenizer tag" />
        {tokenizers.data && tokenizers.data.data.length === 0 ? (
          tokTag ? (
            <Empty>
              No tokenizer has the tag {tokTag}.{' '}
              <button type="button" className="button small" onClick={() => setTokTag('')}>
                Show all tokenizers
              </button>
            </Empty>
          ) : (
            <Empty>
              No tokenizers yet. <Link to="/tokenizers/new">Train one</Link> from a corpus.
            </Empty>
          )
        ) : null}
        {tokenizers.data && tokenizers.data.data.length > 0 ? (
          <TokenizersTable tokenizers={tokenizers.data.data} now={now} onDelete={setDeletingTok} onTag={setTokTag} />
        ) : null}
        {deletingTok ? (
          <ConfirmDialog
            title={`Delete ${deletingTok}?`}
            confirmLabel="Delete tokenizer"
            onClose={() => setDeletingTok(undefined)}
            onConfirm={async () => {
              await listCalls.removeTokenizer(deletingTok)
              tokenizers.refetch()
            }}
          >
            <p>Its files and statistics are removed for good. A tokenizer that runs use cannot be deleted: delete those runs first.</p>
          </ConfirmDialog>
        ) : null}
      </section>
    </div>
  )
}

/** Status, tag, family, a text search and the order; the search is sent once typing rests. */
function RunFiltersBar({
  filters,
  families,
  onChange,
}: {
  filters: RunFilters
  families: string[]
  onChange: (patch: Partial<RunFilters>) => void
}) {
  const [text, setText] = useState(filters.q)
  const [tag, setTag] = useState(filters.tag)
  // the URL changed elsewhere (a tag clicked, back/forward): show what it says
  const [seen, setSeen] = useState({ q: filters.q, tag: filters.tag })
  if (seen.q !== filters.q || seen.tag !== filters.tag) {
    setSeen({ q: filters.q, tag: filters.tag })
    setText(filters.q)
    setTag(filters.tag)
  }
  useEffect(() => {
    if (text === filters.q && tag === filters.tag) return undefined
    const timer = setTimeout(() => onChange({ q: text.trim(), tag: tag.trim() }), 300)
    return () => clearTimeout(timer)
  }, [text, tag, filters.q, filters.tag, onChange])
  return (
    <form className="filters" role="search" aria-label="Filter runs" onSubmit={(e) => e.preventDefault()}>
      <label className="filter">
        <span className="small">Search</span>
        <input type="search" value={text} placeholder="name or id" onChange={(e) => setText(e.target.value)} />
      </label>
      <label className="filter">
        <span className="small">Status</span>
        <select value={filters.status} onChange={(e) => onChange({ status: e.target.value })}>
          <option value="">any</option>
          {STATUSES.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
      </label>
      <label className="filter">
        <span className="small">Tag</span>
        <input type="text" value={tag} placeholder="any" spellCheck={false} onChange={(e) => setTag(e.target.value)} />
      </label>
      <label className="filter">
        <span className="small">Family</span>
        <select value={filters.family} onChange={(e) => onChange({ family: e.target.value })}>
          <option value="">any</option>
          {filters.family && !families.includes(filters.family) ? <option value={filters.family}>{filters.family}</option> : null}
          {families.map((f) => (
            <option key={f} value={f}>
              {f}
            </option>
          ))}
        </select>
      </label>
      <label className="filter">
        <span className="small">Sort</span>
        <select value={filters.sort} onChange={(e) => onChange({ sort: e.target.value as RunSort })}>
          {SORTS.map((s) => (
            <option key={s.value} value={s.value}>
              {s.label}
            </option>
          ))}
        </select>
      </label>
    </form>
  )
}

function RunsTable({
  runs,
  now,
  chosen,
  onChoose,
  onTag,
  onDelete,
}: {
  runs: RunView[]
  now: number
  chosen: readonly string[]
  onChoose: (id: string, on: boolean) => void
  onTag: (tag: string) => void
  onDelete: (run: RunView) => void
}) {
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
            <th scope="col">Family</th>
            <th scope="col">Progress</th>
            <th scope="col">Final loss</th>
            <th scope="col">Tokens/s</th>
            <th scope="col">ETA</th>
            <th scope="col">Created</th>
            <th scope="col">
              <span className="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {runs.map((run) => (
            <RunRow
              key={run.run_id}
              run={run}
              now={now}
              checked={chosen.includes(run.run_id)}
              onChoose={onChoose}
              onTag={onTag}
              onDelete={onDelete}
            />
          ))}
        </tbody>
      </table>
    </div>
  )
}

function RunRow({
  run,
  now,
  checked,
  onChoose,
  onTag,
  onDelete,
}: {
  run: RunView
  now: number
  checked: boolean
  onChoose: (id: string, on: boolean) => void
  onTag: (tag: string) => void
  onDelete: (run: RunView) => void
}) {
  const title = runTitle(run)
  const queue = queuePlaceText(run.queue)
  const loss = finalLoss(run)
  return (
    <tr>
      <td data-label="Compare" className="check-cell">
        <input type="checkbox" aria-label={`Compare ${title}`} checked={checked} onChange={(e) => onChoose(run.run_id, e.target.checked)} />
      </td>
      <td data-label="Run">
        <Link to={`/runs/${encodeURIComponent(run.run_id)}`}>{title}</Link>
        {title !== run.run_id ? <div className="muted small">{run.run_id}</div> : null}
        {(run.tags ?? []).length > 0 ? (
          <div className="tags">
            {(run.tags ?? []).map((tag) => (
              <button key={tag} type="button" className="tag" onClick={() => onTag(tag)} aria-label={`Show runs tagged ${tag}`}>
                {tag}
              </button>
            ))}
          </div>
        ) : null}
      </td>
      <td data-label="Status">
        <StatusBadge status={run.status} />
        {queue ? <div className="muted small queue-place">{queue}</div> : null}
        {!queue && run.status === 'running' ? <div className="muted small">heartbeat {heartbeatAge(run.last_heartbeat, now)}</div> : null}
      </td>
      <td data-label="Family">
        {run.config.model.family} {run.config.model.size}
      </td>
      <td data-label="Progress">
        <ProgressBar step={run.progress.step ?? 0} max={run.progress.max_steps ?? 0} label={`${title} progress`} />
      </td>
      <td data-label="Final loss">
        {loss !== null && loss !== undefined ? formatNumber(loss) : isTerminal(run.status) ? '—' : `${formatNumber(run.progress.train_loss)} (now)`}
      </td>
      <td data-label="Tokens/s">{formatRate(run.progress.tokens_per_s)}</td>
      <td data-label="ETA">{run.status === 'running' ? formatDuration(run.progress.eta_s) : '—'}</td>
      <td data-label="Created">{formatDate(run.created_at)}</td>
      <td data-label="Actions">
        {isTerminal(run.status) ? (
          <button type="button" className="button small" onClick={() => onDelete(run)} aria-label={`Delete ${title}`}>
            Delete
          </button>
        ) : null}
      </td>
    </tr>
  )
}

function TokenizersTable({
  tokenizers,
  now,
  onDelete,
  onTag,
}: {
  tokenizers: TokenizerView[]
  now: number
  onDelete: (tokenizerId: string) => void
  onTag: (tag: string) => void
}) {
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
            <th scope="col">
              <span className="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {tokenizers.map((t) => (
            <tr key={t.tokenizer_id}>
              <td data-label="Tokenizer">
                <Link to={`/tokenizers/${encodeURIComponent(t.tokenizer_id)}`}>{t.name || t.tokenizer_id}</Link>
                {t.name ? <div className="muted small">{t.tokenizer_id}</div> : null}
                {(t.tags ?? []).length > 0 ? (
                  <div className="tags">
                    {(t.tags ?? []).map((tag) => (
                      <button key={tag} type="button" className="tag" onClick={() => onTag(tag)} aria-label={`Show tokenizers tagged ${tag}`}>
                        {tag}
                      </button>
                    ))}
                  </div>
                ) : null}
              </td>
              <td data-label="Method">{t.method}</td>
              <td data-label="Status">
                <StatusBadge status={t.status} />
                {queuePlaceText(t.queue) ? <div className="muted small queue-place">{queuePlaceText(t.queue)}</div> : null}
                {t.error_code ? <div className="muted small"><code>{t.error_code}</code></div> : null}
                {t.message && t.status !== 'completed' ? <div className="muted small status-reason">{t.message}</div> : null}
              </td>
              <td data-label="Vocabulary">
                {t.stats ? formatNumber(t.stats.vocab_size) : `≤ ${formatNumber(t.config.vocab_size)}`}
              </td>
              <td data-label="Corpus">{t.config.corpus_path}</td>
              <td data-label="Heartbeat">{heartbeatAge(t.last_heartbeat, now)}</td>
              <td data-label="Created">{formatDate(t.created_at)}</td>
              <td data-label="Actions">
                {isTerminal(t.status) ? (
                  <button type="button" className="button small" onClick={() => onDelete(t.tokenizer_id)} aria-label={`Delete ${t.tokenizer_id}`}>
                    Delete
                  </button>
                ) : null}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}
