import { api, unwrap } from '../api/client'
import { listCalls, tokenizerCalls, type TokenizerView } from '../api/contract'
import { ConfirmDialog } from '../components/ConfirmDialog'
import { JobLabels } from '../components/JobLabels'
import { navigate } from '../router/router'
import { queuePlaceText } from '../lib/queuePlace'
import { isTerminal } from '../api/types'
import { useApi } from '../api/useApi'
import { useState } from 'react'
import { ArtifactFiles } from '../components/ArtifactFiles'
import { ManifestView } from '../components/ManifestView'
import { TryTokenizer } from '../components/TryTokenizer'
import { ErrorNotice, Loading } from '../components/States'
import { StatusBadge } from '../components/StatusBadge'
import { useNow } from '../lib/useNow'
import { formatDate, formatDuration, formatNumber, heartbeatAge } from '../lib/format'

/** One tokenizer: status, holdout stats, configuration and files. */
export function TokenizerPage({ tokenizerId }: { tokenizerId: string }) {
  const tok = useApi(
    `tokenizer:${tokenizerId}`,
    (signal) => unwrap(api.GET('/tokenizers/{tokenizer_id}', { params: { path: { tokenizer_id: tokenizerId } }, signal })),
    { intervalMs: 2000 },
  )
  const now = useNow()
  const [manifestOpen, setManifestOpen] = useState(false)
  const [deleting, setDeleting] = useState(false)
  const t: TokenizerView | undefined = tok.data
  if (tok.loading) return <Loading what="the tokenizer" />
  if (!t) return tok.error ? <ErrorNotice error={tok.error} title="Tokenizer not loaded" onRetry={tok.refetch} /> : null
  const stats = t.stats
  return (
    <div className="page">
      <div className="title-row">
        <h1>
          {t.name || t.tokenizer_id}
          {t.name ? <span className="run-id"> {t.tokenizer_id}</span> : null}
        </h1>
        <StatusBadge status={t.status} />
        {isTerminal(t.status) ? (
          <button type="button" className="button small" onClick={() => setDeleting(true)}>
            Delete
          </button>
        ) : null}
      </div>
      <JobLabels
        id={t.tokenizer_id}
        noun="tokenizer"
        labels={t}
        save={(patch) => tokenizerCalls.label(t.tokenizer_id, patch)}
        onSaved={tok.refetch}
      />
      {queuePlaceText(t.queue) ? (
        <p className="notice" data-testid="queue-place">
          {queuePlaceText(t.queue)}
        </p>
      ) : null}
      {deleting ? (
        <ConfirmDialog
          title={`Delete ${t.tokenizer_id}?`}
          confirmLabel="Delete tokenizer"
          onClose={() => setDeleting(false)}
          onConfirm={async () => {
            await listCalls.removeTokenizer(t.tokenizer_id)
            navigate('/')
          }}
        >
          <p>Its files and statistics are removed for good. A tokenizer that runs use cannot be deleted: delete those runs first.</p>
        </ConfirmDialog>
      ) : null}
      {tok.error ? <ErrorNotice error={tok.error} title="Refresh failed" /> : null}
      {t.message ? <p className={t.status === 'failed' ? 'notice notice-error' : 'notice'}>{t.error_code ? <code>{t.error_code}</code> : null} {t.message}</p> : null}
      <dl className="facts">
        <dt>Method</dt>
        <dd>{t.method}</dd>
        <dt>Corpus</dt>
        <dd>{t.config.corpus_path}</dd>
        <dt>Vocabulary</dt>
        <dd>{stats ? formatNumber(stats.vocab_size) : `up to ${formatNumber(t.config.vocab_size)}`}</dd>
        <dt>Created</dt>
        <dd>{formatDate(t.created_at)}</dd>
        <dt>Heartbeat</dt>
        <dd>{isTerminal(t.status) ? '—' : heartbeatAge(t.last_heartbeat, now)}</dd>
        <dt>Took</dt>
        <dd>{t.finished_at ? formatDuration(t.durations.total_s) : '—'}</dd>
      </dl>
      {stats ? (
        <section aria-labelledby="stats-title">
          <h2 id="stats-title">On the holdout</h2>
          <dl className="facts">
            <dt>Lines / characters / words</dt>
            <dd>
              {formatNumber(stats.holdout_lines)} / {formatNumber(stats.holdout_chars)} / {formatNumber(stats.holdout_words)}
            </dd>
            <dt>Tokens</dt>
            <dd>{formatNumber(stats.token_count)}</dd>
            <dt>Unknown-token rate</dt>
            <dd>{formatNumber(stats.unknown_token_rate, 4)}</dd>
            <dt>Coverage / character coverage</dt>
            <dd>
              {formatNumber(stats.coverage, 4)} / {formatNumber(stats.char_coverage, 4)}
            </dd>
            <dt>Tokens per character / per word</dt>
            <dd>
              {formatNumber(stats.tokens_per_char)} / {formatNumber(stats.tokens_per_word)}
            </dd>
          </dl>
        </section>
      ) : null}
      <section aria-labelledby="try-title">
        <h2 id="try-title">Try it</h2>
        {t.status === 'completed' ? (
          <TryTokenizer tokenizerId={t.tokenizer_id} />
        ) : (
          <p className="muted">Encoding opens once the tokenizer has completed.</p>
        )}
      </section>
      <section aria-labelledby="files-title">
        <h2 id="files-title">Files</h2>
        <ArtifactFiles kind="tokenizers" id={t.tokenizer_id} refreshKey={t.status} />
      </section>
      <details>
        <summary>Configuration</summary>
        <pre className="json">{JSON.stringify(t.config, null, 2)}</pre>
      </details>
      <details open={manifestOpen} onToggle={(e) => setManifestOpen(e.currentTarget.open)}>
        <summary>Manifest (manifest.json)</summary>
        {manifestOpen ? <ManifestView kind="tokenizers" id={t.tokenizer_id} refreshKey={t.status} /> : null}
      </details>
    </div>
  )
}
