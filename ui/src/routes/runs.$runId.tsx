import { useState } from 'react'
import { api, unwrap } from '../api/client'
import { asApiError, type ApiError } from '../api/errors'
import { isTerminal, type FinetuneInfo, type RunPublic } from '../api/types'
import { useApi } from '../api/useApi'
import { ArtifactFiles } from '../components/ArtifactFiles'
import { Checkpoints } from '../components/Checkpoints'
import { EvalResults } from '../components/EvalResults'
import { GenerateBox } from '../components/GenerateBox'
import { LogView } from '../components/LogView'
import { ProgressBar } from '../components/ProgressBar'
import { RunCharts } from '../components/RunCharts'
import { ErrorNotice, Loading } from '../components/States'
import { StatusBadge } from '../components/StatusBadge'
import { useNow } from '../lib/useNow'
import { formatCount, formatDate, formatDuration, formatMfu, formatNumber, formatRate, heartbeatAge } from '../lib/format'
import { Link } from '../router/Link'
import { withQuery } from '../router/router'

/** One run: status and progress, charts, the live log, actions and what it was asked. */
export function RunPage({ runId }: { runId: string }) {
  const run = useApi(
    `run:${runId}`,
    (signal) => unwrap(api.GET('/runs/{run_id}', { params: { path: { run_id: runId } }, signal })),
    { intervalMs: (d) => (d && isTerminal(d.status) ? 10_000 : 2000) },
  )
  const r = run.data
  const terminal = r !== undefined && isTerminal(r.status)
  const [queuedEval, setQueuedEval] = useState('')

  if (run.loading) return <Loading what="the run" />
  if (!r) return run.error ? <ErrorNotice error={run.error} title="Run not loaded" onRetry={run.refetch} /> : null
  return (
    <div className="page">
      <div className="title-row">
        <h1>{r.run_id}</h1>
        <StatusBadge status={r.status} />
        <RunActions run={r} onDone={run.refetch} onEvaluate={setQueuedEval} />
      </div>
      {run.error ? <ErrorNotice error={run.error} title="Refresh failed" /> : null}
      {r.message || r.error_code ? (
        <p className={r.status === 'failed' ? 'notice notice-error' : 'notice'}>
          {r.error_code ? <code>{r.error_code}</code> : null} {r.message}
        </p>
      ) : null}
      <ProgressBar step={r.progress.step ?? 0} max={r.progress.max_steps ?? 0} label="training progress" />
      <RunFacts run={r} />
      <section aria-labelledby="charts-title">
        <h2 id="charts-title">Charts</h2>
        <RunCharts runId={r.run_id} ended={terminal} />
      </section>
      <section aria-labelledby="log-title">
        <h2 id="log-title">Log</h2>
        <LogView runId={r.run_id} ended={terminal} />
      </section>
      <section aria-labelledby="eval-title">
        <h2 id="eval-title">Evaluation and samples</h2>
        <EvalResults runId={r.run_id} version={`${queuedEval}:${r.eval?.finished_at ?? ''}`} canEvaluate={r.status === 'completed'} />
      </section>
      <section aria-labelledby="generate-title">
        <h2 id="generate-title">Generate</h2>
        {r.artifacts.some((a) => a.startsWith('export/')) ? (
          <GenerateBox runId={r.run_id} />
        ) : (
          <p className="muted">Generation opens once the run has completed and its model is exported.</p>
        )}
      </section>
      <section aria-labelledby="checkpoints-title">
        <h2 id="checkpoints-title">Checkpoints</h2>
        <Checkpoints run={r} />
      </section>
      <section aria-labelledby="files-title">
        <h2 id="files-title">Files</h2>
        <ArtifactFiles kind="models" id={r.run_id} refreshKey={r.status} />
      </section>
      <details>
        <summary>Full configuration</summary>
        <pre className="json">{JSON.stringify({ config: r.config, architecture: r.architecture, dataset: r.dataset }, null, 2)}</pre>
      </details>
    </div>
  )
}

function RunFacts({ run: r }: { run: RunPublic }) {
  const now = useNow()
  const p = r.progress
  const m = r.metrics
  return (
    <dl className="facts">
      <dt>Model</dt>
      <dd>
        {r.architecture.family} {r.finetune ? 'fine-tuned' : r.config.model.size} ({r.architecture.n_layer} layers,{' '}
        {r.architecture.n_head} heads, {r.architecture.n_embd} wide), {formatNumber(r.parameters)} parameters
      </dd>
      {r.finetune ? <Lineage finetune={r.finetune} parameters={r.parameters} /> : null}
      <dt>Tokenizer</dt>
      <dd>
        <Link to={`/tokenizers/${encodeURIComponent(r.tokenizer.tokenizer_id)}`}>{r.tokenizer.tokenizer_id}</Link>
      </dd>
      <dt>Corpus</dt>
      <dd>{r.config.data.corpus_path}</dd>
      <dt>ETA</dt>
      <dd>{r.status === 'running' ? formatDuration(p.eta_s) : '—'}</dd>
      <dt>Loss (train / val)</dt>
      <dd>
        {formatNumber(p.train_loss)} / {formatNumber(p.val_loss)}
      </dd>
      <dt>Best val loss</dt>
      <dd>
        {formatNumber(m.best_val_loss)}
        {m.best_step !== null && m.best_step !== undefined ? ` at step ${m.best_step}` : ''}
      </dd>
      <dt>Learning rate</dt>
      <dd>{formatNumber(p.lr)}</dd>
      <dt>Throughput</dt>
      <dd>{formatRate(p.tokens_per_s ?? m.tokens_per_s)}</dd>
      <dt>
        <abbr title="model FLOPs utilisation: tokens/s × the family's FLOPs per token ÷ the device's measured peak">MFU</abbr>
      </dt>
      <dd data-testid="run-mfu">
        {formatMfu(p.mfu)}
        {r.device?.peak_flops ? (
          <span className="muted"> of a measured peak of {formatCount(r.device.peak_flops)}FLOP/s ({r.device.precision})</span>
        ) : null}
      </dd>
      <dt>Tokens seen</dt>
      <dd>{formatNumber(p.tokens_seen)}</dd>
      <dt>Device</dt>
      <dd data-testid="run-device">
        {r.device ? (
          <>
            {r.device.device} {r.device.name}, {r.device.precision}
            {r.device.precision_reason ? <span className="muted"> ({r.device.precision_reason})</span> : null},{' '}
            {r.device.processes > 1 ? `${r.device.processes} processes × ${r.device.threads}` : r.device.threads} threads
          </>
        ) : (
          '—'
        )}
      </dd>
      <dt>Heartbeat</dt>
      <dd>{isTerminal(r.status) ? '—' : heartbeatAge(r.last_heartbeat, now)}</dd>
      <dt>Created / started / finished</dt>
      <dd>
        {formatDate(r.created_at)} / {formatDate(r.started_at)} / {formatDate(r.finished_at)}
      </dd>
      {r.eval ? (
        <>
          <dt>Evaluation ({r.eval.split})</dt>
          <dd>
            loss {formatNumber(r.eval.loss)}, perplexity {formatNumber(r.eval.perplexity)}
          </dd>
        </>
      ) : null}
    </dl>
  )
}

/** Where a fine-tuning run's weights came from (an earlier run, or a folder under the
 * models root, with the weights' hash) and what of them trains. */
function Lineage({ finetune: f, parameters }: { finetune: FinetuneInfo; parameters: number }) {
  const o = f.origin
  const share = parameters > 0 ? ` (${((100 * f.trainable_parameters) / parameters).toFixed(2)}%)` : ''
  return (
    <>
      <dt>Started from</dt>
      <dd data-testid="run-origin">
        {o.run_id ? <Link to={`/runs/${encodeURIComponent(o.run_id)}`}>run {o.run_id}</Link> : `models/${o.path ?? ''}`}{' '}
        <span className="muted">
          ({o.model_type}
          {o.weights_sha256 ? `, sha256 ${o.weights_sha256.slice(0, 12)}` : ''})
        </span>
      </dd>
      <dt>Fine-tuning</dt>
      <dd data-testid="run-finetune">
        {f.lora
          ? `LoRA: rank ${f.lora.rank}, alpha ${f.lora.alpha} on ${f.lora.target_modules.join(', ')}`
          : 'every weight'}
        {', '}
        {formatNumber(f.trainable_parameters)} parameters train{share}
        {f.adapter_exported ? '; adapters exported alone too' : ''}
      </dd>
    </>
  )
}

function RunActions({ run, onDone, onEvaluate }: { run: RunPublic; onDone: () => void; onEvaluate: (evalId: string) => void }) {
  const [confirming, setConfirming] = useState(false)
  const [busy, setBusy] = useState(false)
  const [failure, setFailure] = useState<ApiError | undefined>(undefined)
  const [evaluating, setEvaluating] = useState(false)
  const path = { params: { path: { run_id: run.run_id } } }
  const act = async (what: 'cancel' | 'evaluate'): Promise<void> => {
    setBusy(true)
    setFailure(undefined)
    try {
      if (what === 'cancel') await unwrap(api.POST('/runs/{run_id}/cancel', path))
      else {
        const queued = await unwrap(api.POST('/runs/{run_id}/evaluate', { ...path, body: { split: 'val' } }))
        setEvaluating(true)
        onEvaluate(queued.eval_id)
      }
      onDone()
    } catch (err) {
      setFailure(asApiError(err))
    } finally {
      setBusy(false)
      setConfirming(false)
    }
  }
  const active = !isTerminal(run.status)
  return (
    <div className="actions">
      {active && !confirming ? (
        <button type="button" className="button danger" disabled={busy} onClick={() => setConfirming(true)}>
          Cancel run
        </button>
      ) : null}
      {active && confirming ? (
        <>
          <button type="button" className="button danger" disabled={busy} onClick={() => void act('cancel')}>
            Yes, cancel it
          </button>
          <button type="button" className="button" onClick={() => setConfirming(false)}>
            Keep running
          </button>
        </>
      ) : null}
      {run.status === 'completed' ? (
        <button type="button" className="button" disabled={busy} onClick={() => void act('evaluate')}>
          Evaluate
        </button>
      ) : null}
      <Link to={withQuery('/runs/new', { from: run.run_id })} className="button">
        Clone
      </Link>
      {evaluating ? (
        <span className="muted small" role="status">
          Evaluation queued: follow it under Evaluation and samples.
        </span>
      ) : null}
      {failure ? <ErrorNotice error={failure} title="Not done" /> : null}
    </div>
  )
}
