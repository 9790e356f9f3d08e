import { useCallback, useState } from 'react'
import { api, unwrap } from '../api/client'
import type { RunView, StoppedEarly } from '../api/contract'
import { isTerminal, type FinetuneInfo } from '../api/types'
import { useApi } from '../api/useApi'
import { useArtifactListing } from '../api/useArtifactListing'
import { ArtifactFilesList } from '../components/ArtifactFiles'
import { Checkpoints } from '../components/Checkpoints'
import { EvalResults, Regressions } from '../components/EvalResults'
import { GenerateBox } from '../components/GenerateBox'
import { LogView } from '../components/LogView'
import { ProgressBar } from '../components/ProgressBar'
import { RunActions } from '../components/RunActions'
import { RunCharts } from '../components/RunCharts'
import { RunLabels } from '../components/RunLabels'
import { ErrorNotice, Loading } from '../components/States'
import { StatusBadge } from '../components/StatusBadge'
import { TrainingSamples } from '../components/TrainingSamples'
import { bestValLoss } from '../lib/chartData'
import { queuePlaceText } from '../lib/queuePlace'
import { useNow } from '../lib/useNow'
import { formatCount, formatDate, formatDuration, formatMfu, formatNumber, formatRate, heartbeatAge } from '../lib/format'
import { Link } from '../router/Link'

type Best = { loss: number; step: number } | null

const PHASES = {
  preparing: 'preparing (reading and splitting the data)',
  training: 'training',
  evaluating: 'evaluating',
  finalising: 'finalising (final evaluation and export)',
} as const

function stoppedEarlyText(s: StoppedEarly): string {
  return (
    `Stopped early at step ${s.at_step.toLocaleString('en')}: val loss did not improve for ${s.patience} evaluations ` +
    `(best ${formatNumber(s.best_val_loss)} at step ${s.best_step.toLocaleString('en')}, the checkpoint exported).`
  )
}

/** One run: status and progress, charts, the live log, actions and what it was asked. */
export function RunPage({ runId }: { runId: string }) {
  const run = useApi(
    `run:${runId}`,
    async (signal): Promise<RunView> => unwrap(api.GET('/runs/{run_id}', { params: { path: { run_id: runId } }, signal })),
    { intervalMs: (d) => (d && isTerminal(d.status) ? 10_000 : 2000) },
  )
  const r = run.data
  const terminal = r !== undefined && isTerminal(r.status)
  const [queuedEval, setQueuedEval] = useState('')
  const [best, setBest] = useState<Best>(null)
  const onBest = useCallback((b: Best) => setBest(b), [])
  // listed again when the status changes, and every 10 s while the run saves checkpoints
  const files = useArtifactListing('models', runId, r?.status ?? '', terminal || !r ? undefined : 10_000)

  if (run.loading) return <Loading what="the run" />
  if (!r) return run.error ? <ErrorNotice error={run.error} title="Run not loaded" onRetry={run.refetch} /> : null
  return (
    <div className="page">
      <div className="title-row">
        <h1>
          {r.name || r.run_id}
          {r.name ? <span className="run-id"> {r.run_id}</span> : null}
        </h1>
        <StatusBadge status={r.status} />
        <RunActions run={r} onDone={run.refetch} onEvaluate={setQueuedEval} />
      </div>
      <RunLabels run={r} onSaved={run.refetch} />
      {run.error ? <ErrorNotice error={run.error} title="Refresh failed" /> : null}
      {r.status === 'queued' && r.queue ? (
        <p className="notice" role="status" data-testid="run-queue">
          {queuePlaceText(r.queue)}
        </p>
      ) : null}
      {r.stopped_early ? (
        <p className="notice" data-testid="run-stopped-early">
          {stoppedEarlyText(r.stopped_early)}
        </p>
      ) : null}
      {(r.message || r.error_code) && !(r.stopped_early && r.status === 'completed') && !isPhaseWord(r) ? (
        <p className={r.status === 'failed' ? 'notice notice-error' : 'notice'}>
          {r.error_code ? <code>{r.error_code}</code> : null} {r.message}
        </p>
      ) : null}
      <Regressions list={r.metrics.regressions ?? []} />
      <ProgressBar step={r.progress.step ?? 0} max={r.progress.max_steps ?? 0} label="training progress" />
      <RunFacts run={r} best={best} />
      <section aria-labelledby="charts-title">
        <h2 id="charts-title">Charts</h2>
        <RunCharts runId={r.run_id} ended={terminal} onBest={onBest} />
      </section>
      <section aria-labelledby="log-title">
        <h2 id="log-title">Log</h2>
        <LogView runId={r.run_id} ended={terminal} />
      </section>
      <section aria-labelledby="eval-title">
        <h2 id="eval-title">Evaluation and samples</h2>
        <EvalResults runId={r.run_id} version={`${queuedEval}:${r.eval?.finished_at ?? ''}`} canEvaluate={r.status === 'completed'} />
        <h3>Samples during training</h3>
        <TrainingSamples runId={r.run_id} ended={terminal} />
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
        <Checkpoints run={r} files={files.data?.files.map((f) => f.path)} best={best} />
      </section>
      <section aria-labelledby="files-title">
        <h2 id="files-title">Files</h2>
        <ArtifactFilesList kind="models" id={r.run_id} listing={files} />
      </section>
      <details>
        <summary>Full configuration</summary>
        <pre className="json">{JSON.stringify({ config: r.config, architecture: r.architecture, dataset: r.dataset }, null, 2)}</pre>
      </details>
    </div>
  )
}

/** A running run's message that only names its phase (shown as the Phase fact instead). */
function isPhaseWord(r: RunView): boolean {
  return r.status === 'running' && !r.error_code && r.message !== null && r.message.trim().toLowerCase() in PHASES
}

/** The ETA cell: none while queued or finalising (the steps are done, what is left is not
 * counted in steps), else the run's own estimate. */
function etaText(r: RunView): string {
  if (r.status !== 'running') return '—'
  const phase = r.progress.phase
  if (phase === 'finalising') return '— (finalising)'
  return formatDuration(r.progress.eta_s)
}

function RunFacts({ run: r, best }: { run: RunView; best: Best }) {
  const now = useNow()
  const p = r.progress
  const m = r.metrics
  const bestVal = bestValLoss(m, best)
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
      {r.status === 'running' && p.phase ? (
        <>
          <dt>Phase</dt>
          <dd data-testid="run-phase">{PHASES[p.phase]}</dd>
        </>
      ) : null}
      <dt>ETA</dt>
      <dd data-testid="run-eta">{etaText(r)}</dd>
      <dt>Loss (train / val)</dt>
      <dd>
        {formatNumber(p.train_loss)} / {formatNumber(p.val_loss)}
      </dd>
      <dt>Best val loss</dt>
      <dd data-testid="run-best">
        {formatNumber(bestVal?.loss)}
        {bestVal && bestVal.step !== null ? ` at step ${bestVal.step}` : ''}
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
            {typeof r.eval.bits_per_byte === 'number' ? `, ${formatNumber(r.eval.bits_per_byte)} bits per byte` : ''}
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
