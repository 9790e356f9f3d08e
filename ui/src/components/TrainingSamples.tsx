import { runCalls } from '../api/contract'
import { useApi } from '../api/useApi'
import { formatNumber } from '../lib/format'
import { Empty, ErrorNotice, Loading } from './States'

const pct = (v: number): string => `${(v * 100).toFixed(1)}%`

/** What the model wrote at each training evaluation (`GET /runs/{id}/samples`): one row per
 * step with how varied the text is (distinct unigrams and bigrams) and how much it repeats
 * itself, the texts behind a disclosure. Polled while the run goes. */
export function TrainingSamples({ runId, ended }: { runId: string; ended: boolean }) {
  const samples = useApi(`samples:${runId}`, (signal) => runCalls.samples(runId, signal), {
    intervalMs: ended ? undefined : 10_000,
    refreshOn: ended,
  })
  if (samples.loading) return <Loading what="the samples" />
  if (samples.error?.status === 404 || (samples.data && samples.data.count === 0)) {
    return <Empty>No samples yet: the model writes some at each evaluation during training.</Empty>
  }
  if (samples.error && !samples.data) {
    return <ErrorNotice error={samples.error} title="The samples could not be loaded" onRetry={samples.refetch} />
  }
  const rows = samples.data?.data ?? []
  return (
    <div className="table-wrap">
      <table className="table responsive samples-table">
        <caption className="visually-hidden">Samples at each evaluation</caption>
        <thead>
          <tr>
            <th scope="col">Step</th>
            <th scope="col">
              <abbr title="share of distinct words (tokens) among those generated">Distinct-1</abbr>
            </th>
            <th scope="col">
              <abbr title="share of distinct pairs of tokens among those generated">Distinct-2</abbr>
            </th>
            <th scope="col">
              <abbr title="share of generated tokens that repeat a 4-gram already generated in that sample">Repetition</abbr>
            </th>
            <th scope="col">Texts</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.step}>
              <td data-label="Step">{formatNumber(r.step)}</td>
              <td data-label="Distinct-1">{pct(r.distinct_1)}</td>
              <td data-label="Distinct-2">{pct(r.distinct_2)}</td>
              <td data-label="Repetition">{pct(r.repetition)}</td>
              <td data-label="Texts">
                <details className="sample-texts">
                  <summary>
                    {r.samples.length} sample{r.samples.length === 1 ? '' : 's'}
                  </summary>
                  {r.samples.map((s, i) => (
                    <pre key={i} className="sample">
                      <span className="sample-prompt">{s.prompt}</span>
                      {s.text}
                    </pre>
                  ))}
                </details>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}
