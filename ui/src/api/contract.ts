/** Names for the API's labels, queue, phase, evaluation, resume, listing and workers types
 * (aliases of the generated schema), and the calls that list, change or delete runs,
 * tokenizers and workers. */
import { api, unwrap } from './client'
import { toApiError } from './errors'
import type { EvalPublic, JobStatus, Progress, RunPublic, Schemas, TokenizerPublic } from './types'

export type QueuePlace = Schemas['QueuePlace']
export type Phase = NonNullable<Progress['phase']>
export type StoppedEarly = Schemas['StoppedEarly']
export type LengthStats = Schemas['LengthStats']
export type SampleStats = Schemas['SampleStats']
export type Regression = Schemas['Regression']
export type EvalSamples = Schemas['EvalSamples']
export type SamplesPublic = Schemas['SamplesPublic']
/** A change to a run's or tokenizer's name, notes or tags (`PATCH /runs/{id}`,
 * `PATCH /tokenizers/{id}`). */
export type LabelsPatch = Schemas['LabelsPatch']
export type RunView = RunPublic
export type RunSort = Schemas['RunSort']
export type TokenizerView = TokenizerPublic

/** One resource sample of a worker (every 10 s); no GPU figures on a machine without one. */
export interface ResourceSample {
  time: number
  cpu_percent: number
  memory_bytes: number
  memory_percent: number
  gpu_percent: number | null
  gpu_memory_bytes: number | null
}

/** A live worker as the workers panel shows it: `device` names its devices ("cpu x86_64"). */
export interface WorkerView {
  name: string
  host: string
  serves: string[]
  state: string
  current_job: string | null
  device?: string | null
  resources: ResourceSample[]
}

/** The panel's view of a worker; an API (or answer) without devices or samples gives none. */
function workerView(w: Schemas['WorkerPublic'] | WorkerView): WorkerView {
  const devices = 'devices' in w && Array.isArray(w.devices) ? w.devices : []
  const own = 'device' in w ? w.device : undefined
  return {
    name: w.name,
    host: w.host,
    serves: w.serves,
    state: w.state,
    current_job: w.current_job,
    device: own ?? (devices.map((d) => `${d.kind} ${d.name}`).join(', ') || null),
    resources: (w.resources ?? []).map((r) => ({ ...r, gpu_percent: r.gpu_percent ?? null, gpu_memory_bytes: r.gpu_memory_bytes ?? null })),
  }
}

/** The runs list's filters ('' = any) and how many to list. */
export interface RunsQuery {
  status?: string
  tag?: string
  family?: string
  q?: string
  sort?: RunSort
  limit?: number
}
/** The tokenizers list's filters ('' = any) and how many to list. */
export interface TokenizersQuery {
  status?: string
  tag?: string
  method?: string
  q?: string
  limit?: number
}
export type EvalView = EvalPublic
type EvalMetrics = NonNullable<EvalPublic['metrics']>
/** What an evaluation says beyond loss and perplexity. */
export type EvalExtras = Pick<EvalMetrics, 'bits_per_byte' | 'length_stats' | 'sample_stats' | 'regressions'>

const path = (run_id: string) => ({ params: { path: { run_id } } })

export const runCalls = {
  /** Continue a cancelled or failed run from its last checkpoint; extend a completed one
   * to `maxSteps`. */
  resume: (runId: string, maxSteps?: number) =>
    unwrap(api.POST('/runs/{run_id}/resume', { ...path(runId), body: maxSteps === undefined ? {} : { max_steps: maxSteps } })),
  /** Delete an ended run (204, no body). */
  remove: async (runId: string): Promise<void> => {
    const { error, response } = await api.DELETE('/runs/{run_id}', path(runId))
    if (!response.ok) throw toApiError(response, error)
  },
  label: (runId: string, patch: LabelsPatch) => unwrap(api.PATCH('/runs/{run_id}', { ...path(runId), body: patch })),
  samples: (runId: string, signal: AbortSignal) => unwrap(api.GET('/runs/{run_id}/samples', { ...path(runId), signal })),
}

export const tokenizerCalls = {
  label: (tokenizerId: string, patch: LabelsPatch) =>
    unwrap(api.PATCH('/tokenizers/{tokenizer_id}', { params: { path: { tokenizer_id: tokenizerId } }, body: patch })),
}

/** A filter value for the API: '' (any) is left out. */
const given = (v: string | undefined): string | undefined => (v === undefined || v === '' ? undefined : v)

export const listCalls = {
  runs: (query: RunsQuery, signal: AbortSignal) => {
    const status = given(query.status) as JobStatus | undefined
    const tag = given(query.tag)
    const family = given(query.family)
    const q = given(query.q)
    return unwrap(
      api.GET('/runs', {
        params: {
          query: {
            ...(status ? { status } : {}),
            ...(tag ? { tag } : {}),
            ...(family ? { family } : {}),
            ...(q ? { q } : {}),
            ...(query.sort ? { sort: query.sort } : {}),
            ...(query.limit !== undefined ? { limit: query.limit } : {}),
          },
        },
        signal,
      }),
    )
  },
  tokenizers: (query: TokenizersQuery, signal: AbortSignal) => {
    const status = given(query.status) as JobStatus | undefined
    const tag = given(query.tag)
    const method = given(query.method)
    const q = given(query.q)
    return unwrap(
      api.GET('/tokenizers', {
        params: {
          query: {
            ...(status ? { status } : {}),
            ...(tag ? { tag } : {}),
            ...(method ? { method } : {}),
            ...(q ? { q } : {}),
            ...(query.limit !== undefined ? { limit: query.limit } : {}),
          },
        },
        signal,
      }),
    )
  },
  workers: async (signal: AbortSignal): Promise<{ data: WorkerView[]; count: number }> => {
    const answer = await unwrap(api.GET('/workers', { signal }))
    return { data: answer.data.map(workerView), count: answer.count }
  },
  /** Delete a tokenizer (204, no body). */
  removeTokenizer: async (tokenizerId: string): Promise<void> => {
    const { error, response } = await api.DELETE('/tokenizers/{tokenizer_id}', { params: { path: { tokenizer_id: tokenizerId } } })
    if (!response.ok) throw toApiError(response, error)
  },
}
