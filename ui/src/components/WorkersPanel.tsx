import { listCalls, type ResourceSample, type WorkerView } from '../api/contract'
import { useApi } from '../api/useApi'
import { formatBytes } from '../lib/download'
import { Link } from '../router/Link'
import { Empty, ErrorNotice, Loading } from './States'

const POLL_MS = 10_000

/** A small line of `values` (0..max), newest on the right; gaps where a value is missing. */
export function Sparkline({ values, max, label }: { values: readonly (number | null)[]; max: number; label: string }) {
  const w = 120
  const h = 28
  const step = values.length > 1 ? w / (values.length - 1) : w
  const segments: string[][] = [[]]
  values.forEach((v, i) => {
    const last = segments[segments.length - 1] ?? []
    if (v === null || !Number.isFinite(v)) {
      if (last.length > 0) segments.push([])
      return
    }
    const y = h - 1 - (Math.min(Math.max(v, 0), max) / (max || 1)) * (h - 2)
    last.push(`${(i * step).toFixed(1)},${y.toFixed(1)}`)
  })
  return (
    <svg className="sparkline" viewBox={`0 0 ${w} ${h}`} width={w} height={h} role="img" aria-label={label}>
      <rect x="0" y="0" width={w} height={h} className="sparkline-bg" />
      {segments
        .filter((s) => s.length > 0)
        .map((s) => (
          <polyline key={s[0]} points={s.length === 1 ? `${s[0]} ${s[0]}` : s.join(' ')} className="sparkline-line" />
        ))}
    </svg>
  )
}

function percentText(v: number | null | undefined): string {
  return v === null || v === undefined || !Number.isFinite(v) ? '—' : `${v.toFixed(0)}%`
}

/** Where the current job's page is: runs and tokenizers by their id's prefix. */
function jobLink(job: string) {
  if (job.startsWith('run-')) return <Link to={`/runs/${encodeURIComponent(job)}`}>{job}</Link>
  if (job.startsWith('tok-')) return <Link to={`/tokenizers/${encodeURIComponent(job)}`}>{job}</Link>
  return <code>{job}</code>
}

function Meter({ title, values, max, latest }: { title: string; values: (number | null)[]; max: number; latest: string }) {
  return (
    <div className="meter">
      <span className="small">{title}</span>
      <Sparkline values={values} max={max} label={`${title} over the last hour, now ${latest}`} />
      <span className="small meter-value">{latest}</span>
    </div>
  )
}

function WorkerCard({ worker }: { worker: WorkerView }) {
  const samples: ResourceSample[] = worker.resources ?? []
  const last = samples.at(-1)
  const hasGpu = samples.some((s) => s.gpu_percent !== null && s.gpu_percent !== undefined)
  return (
    <li className="worker-card">
      <div className="worker-head">
        <strong>{worker.name}</strong>
        {worker.state ? <span className="muted small"> {worker.state}</span> : null}
      </div>
      <div className="muted small">
        serves {worker.serves.join(', ') || '—'}
        {worker.host ? ` · ${worker.host}` : ''}
        {worker.device ? ` · ${worker.device}` : ''}
      </div>
      <div className="small">Job: {worker.current_job ? jobLink(worker.current_job) : <span className="muted">idle</span>}</div>
      {samples.length === 0 ? (
        <p className="muted small">No resource samples yet.</p>
      ) : (
        <div className="meters">
          <Meter title="CPU" values={samples.map((s) => s.cpu_percent)} max={100} latest={percentText(last?.cpu_percent)} />
          <Meter
            title="Memory"
            values={samples.map((s) => s.memory_percent)}
            max={100}
            latest={last ? `${formatBytes(last.memory_bytes)} (${percentText(last.memory_percent)})` : '—'}
          />
          {hasGpu ? (
            <Meter
              title="GPU"
              values={samples.map((s) => s.gpu_percent)}
              max={100}
              latest={`${percentText(last?.gpu_percent)}${last?.gpu_memory_bytes != null ? `, ${formatBytes(last.gpu_memory_bytes)}` : ''}`}
            />
          ) : null}
        </div>
      )}
    </li>
  )
}

/** The live workers (`GET /workers`): what each serves, its job, and its CPU, memory (and
 * GPU) over the last hour, with the latest values as text. */
export function WorkersPanel() {
  const workers = useApi('workers', (signal) => listCalls.workers(signal), { intervalMs: POLL_MS })
  return (
    <section aria-labelledby="workers-title">
      <div className="section-head">
        <h2 id="workers-title">Workers</h2>
      </div>
      {workers.loading ? <Loading what="workers" /> : null}
      {workers.error && workers.error.status === 404 ? (
        <p className="muted small">This API does not report its workers.</p>
      ) : workers.error ? (
        <ErrorNotice error={workers.error} title="Workers could not be loaded" onRetry={workers.refetch} />
      ) : null}
      {workers.data && workers.data.data.length === 0 ? (
        <Empty>No worker is running: jobs wait in the queue until one starts (model-trainer worker).</Empty>
      ) : null}
      {workers.data && workers.data.data.length > 0 ? (
        <ul className="workers">
          {workers.data.data.map((w) => (
            <WorkerCard key={w.name} worker={w} />
          ))}
        </ul>
      ) : null}
    </section>
  )
}
