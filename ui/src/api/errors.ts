import type { ErrorBody } from './types'

/** What every failed call turns into: the API's stable `code`, its message for people and
 * the request id (from the body, else the `X-Request-ID` header). Network failures and
 * non-JSON answers get codes of their own (`NETWORK_ERROR`, `HTTP_<status>`). */
export class ApiError extends Error implements ErrorBody {
  readonly status: number
  readonly code: string
  readonly request_id: string
  /** Seconds the server asked to wait before trying again (`Retry-After`, sent with 503
   * `SERVER_BUSY`); undefined when it said nothing. */
  readonly retryAfterS: number | undefined

  constructor(status: number, body: ErrorBody, retryAfterS?: number) {
    super(body.message)
    this.name = 'ApiError'
    this.status = status
    this.code = body.code
    this.request_id = body.request_id
    this.retryAfterS = retryAfterS
  }
}

/** `Retry-After` in seconds: a number of seconds or an HTTP date; undefined otherwise. */
export function retryAfterSeconds(header: string | null, nowMs: number = Date.now()): number | undefined {
  if (header === null || header.trim() === '') return undefined
  const text = header.trim()
  if (/^[0-9]+$/.test(text)) return Number(text)
  const at = Date.parse(text)
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - nowMs) / 1000))
}

function isErrorBody(value: unknown): value is ErrorBody {
  if (typeof value !== 'object' || value === null) return false
  const v = value as Record<string, unknown>
  return typeof v['code'] === 'string' && typeof v['message'] === 'string'
}

/** Turn an error answer (its parsed body, or its text, or nothing) into an `ApiError`. */
export function toApiError(response: Response, body: unknown): ApiError {
  const headerId = response.headers.get('x-request-id') ?? ''
  const retryAfter = retryAfterSeconds(response.headers.get('retry-after'))
  if (isErrorBody(body)) {
    const requestId = typeof body.request_id === 'string' ? body.request_id : headerId
    return new ApiError(
      response.status,
      { code: body.code, message: body.message, request_id: requestId },
      retryAfter,
    )
  }
  const text = typeof body === 'string' ? body.trim() : ''
  const message = text.length > 0 && text.length < 300 ? text : response.statusText
  return new ApiError(
    response.status,
    { code: `HTTP_${response.status}`, message: message || `the server answered ${response.status}`, request_id: headerId },
    retryAfter,
  )
}

/** A fetch that never reached the server (offline, refused, aborted by a timeout). */
export function networkError(cause: unknown): ApiError {
  const why = cause instanceof Error ? cause.message : String(cause)
  return new ApiError(0, {
    code: 'NETWORK_ERROR',
    message: `the API could not be reached (${why})`,
    request_id: '',
  })
}

/** Anything thrown, as an `ApiError` (other errors keep their message). */
export function asApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err
  if (err instanceof TypeError) return networkError(err)
  const message = err instanceof Error ? err.message : String(err)
  return new ApiError(0, { code: 'CLIENT_ERROR', message, request_id: '' })
}

export function isAbort(err: unknown): boolean {
  return err instanceof DOMException && err.name === 'AbortError'
}
