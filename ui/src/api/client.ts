/** The typed API client: `openapi-fetch` over the generated schema, with the API key
 * added to every request and 401 bringing the key prompt back. */
import createClient, { type Middleware } from 'openapi-fetch'
import type { paths } from '../client/schema'
import { apiKey } from './apiKey'
import { ApiError, asApiError, isAbort, toApiError } from './errors'

/** '' = the page's own origin (the Vite dev proxy, or the API serving the UI). */
export const API_BASE: string = import.meta.env.VITE_API_BASE ?? ''

export const KEY_HEADER = 'X-Api-Key'

export const authMiddleware: Middleware = {
  onRequest({ request }) {
    const key = apiKey.get()
    if (key) request.headers.set(KEY_HEADER, key)
    return request
  },
  onResponse({ response }) {
    if (response.status === 401) apiKey.require()
    return response
  },
}

export function createApi(baseUrl: string = API_BASE, fetchImpl?: typeof fetch) {
  const client = createClient<paths>({
    // openapi-fetch builds a Request, which needs an absolute URL
    baseUrl: baseUrl || (globalThis.location?.origin ?? ''),
    // Looked up at call time, so tests can replace globalThis.fetch.
    fetch: fetchImpl ?? ((input: Request) => globalThis.fetch(input)),
  })
  client.use(authMiddleware)
  return client
}

export const api = createApi()

interface Answer<T> {
  data?: T
  error?: unknown
  response: Response
}

/** The data of a call, or an `ApiError` thrown (error bodies mapped, network failures too).
 *
 *     const run = await unwrap(api.GET('/runs/{run_id}', { params: { path: { run_id } } }))
 */
export async function unwrap<T>(call: Promise<Answer<T>>): Promise<T> {
  let answer: Answer<T>
  try {
    answer = await call
  } catch (err) {
    if (isAbort(err)) throw err
    throw asApiError(err)
  }
  const { data, error, response } = answer
  if (!response.ok || error !== undefined) throw toApiError(response, error)
  if (data === undefined) throw new ApiError(response.status, {
    code: 'EMPTY_RESPONSE',
    message: 'the API answered without a body',
    request_id: response.headers.get('x-request-id') ?? '',
  })
  return data
}

/** A URL of the API, for links (downloads) and streams that do not go through the client. */
export function apiUrl(path: string): string {
  return `${API_BASE}${path}`
}
