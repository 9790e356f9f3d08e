/** Generation streamed as it is made: `POST /runs/{id}/generate` with
 * `Accept: text/event-stream`, read with fetch (which, unlike EventSource, can POST and
 * send the API key) and parsed by `SseParser`.
 *
 * The API sends `token` events (the text added since the previous one, never a broken
 * character, and the ids made since then), then one `done` with the whole answer, or an
 * `error` with the error body if generation fails after the stream began. A refusal before
 * it began (unknown run, not ready, bad settings, a full pool) is an ordinary error answer.
 * Aborting the signal closes the connection, which stops the generation on the server. */
import { KEY_HEADER, apiUrl } from '../api/client'
import { apiKey } from '../api/apiKey'
import { ApiError, isAbort, networkError, toApiError } from '../api/errors'
import type { ErrorBody, GeneratePublic, GenerateRequest } from '../api/types'
import type { paths } from '../client/schema'
import { SseParser, type SseEvent } from './sse'

/** The data of a `token` event (the schema describes it inline, as `GenerateToken`). */
export interface GenerateToken {
  text: string
  ids: number[]
}

/** The events the schema declares for the stream: `token`, `done`, `error`. */
type EventName =
  paths['/runs/{run_id}/generate']['post']['responses'][200]['content']['text/event-stream']['event']

export interface StreamOptions {
  signal: AbortSignal
  onToken: (token: GenerateToken) => void
  /** Tests pass their own; looked up at call time otherwise. */
  fetch?: typeof fetch
}

const STREAM_ENDED: ErrorBody = {
  code: 'STREAM_ENDED',
  message: 'the connection closed before the generation had finished',
  request_id: '',
}

async function refusal(response: Response): Promise<ApiError> {
  if (response.status === 401) apiKey.require()
  const text = await response.text().catch(() => '')
  let body: unknown = text
  try {
    body = JSON.parse(text)
  } catch {
    // not JSON: keep the text
  }
  return toApiError(response, body)
}

/** Generate, calling `onToken` with each piece as it comes; resolves with the whole answer
 * (the `done` event), rejects with an `ApiError`, or with an AbortError once aborted. */
export async function streamGenerate(
  runId: string,
  body: GenerateRequest,
  options: StreamOptions,
): Promise<GeneratePublic> {
  const headers: Record<string, string> = { Accept: 'text/event-stream', 'Content-Type': 'application/json' }
  const key = apiKey.get()
  if (key) headers[KEY_HEADER] = key
  const doFetch = options.fetch ?? globalThis.fetch
  let response: Response
  try {
    response = await doFetch(apiUrl(`/runs/${encodeURIComponent(runId)}/generate`), {
      method: 'POST',
      headers,
      body: JSON.stringify(body),
      signal: options.signal,
      cache: 'no-store',
    })
  } catch (err) {
    if (isAbort(err)) throw err
    throw networkError(err)
  }
  if (!response.ok) throw await refusal(response)
  if (!(response.headers.get('content-type') ?? '').startsWith('text/event-stream') || response.body === null) {
    return (await response.json()) as GeneratePublic // a server that answered in one piece
  }
  return readEvents(response, options)
}

async function readEvents(response: Response, options: StreamOptions): Promise<GeneratePublic> {
  let outcome: { done: GeneratePublic } | { error: ApiError } | undefined
  const parser = new SseParser((event: SseEvent) => {
    if (outcome !== undefined) return
    const name = event.event as EventName
    if (name === 'token') options.onToken(JSON.parse(event.data) as GenerateToken)
    else if (name === 'done') outcome = { done: JSON.parse(event.data) as GeneratePublic }
    else if (name === 'error') outcome = { error: new ApiError(response.status, JSON.parse(event.data) as ErrorBody) }
    // anything else: an event a newer API sends that this page does not know
  })
  const reader = (response.body as ReadableStream<Uint8Array>).getReader()
  const decoder = new TextDecoder()
  try {
    while (outcome === undefined) {
      const { done, value } = await reader.read()
      if (done) break
      parser.push(decoder.decode(value, { stream: true }))
    }
    parser.push(decoder.decode())
    parser.end()
  } catch (err) {
    if (isAbort(err) || options.signal.aborted) throw err
    throw networkError(err)
  } finally {
    if (outcome !== undefined) void reader.cancel().catch(() => undefined)
  }
  if (outcome === undefined) throw new ApiError(0, STREAM_ENDED)
  if ('error' in outcome) throw outcome.error
  return outcome.done
}
