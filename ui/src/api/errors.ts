import type { ErrorBody } from './types'

/** What every failed call turns into: the API's stable `code`, its message for people and
 * the request id (from the body, else the `X-Request-ID` header). Network failures and
 * non-JSON answers get codes of their own (`NETWORK_ERROR`, `HTTP_<status>`). */
export class ApiError extends Error implements ErrorBody {
  readonly status: number
  readonly code: string
  readonly request_id: string

  constructor(status: number, body: ErrorBody) {
    super(body.message)
    this.name = 'ApiError'
    this.status = status
    this.code = body.code
    this.request_id = body.request_id
  }
}

function isErrorBody(value: unknown): value is ErrorBody {
  if (typeof value !== 'object' || value === null) return false
  const v = value as Record<string, unknown>
  return typeof v['code'] === 'string' && typeof v['message'] === 'string'
}

/** Turn an error answer (its parsed body, or its text, or nothing) into an `ApiError`. */
export function toApiError(response: Response, body: unknown): ApiError {
  const headerId = response.headers.get('x-request-id') ?? ''
  if (isErrorBody(body)) {
    const requestId = typeof body.request_id === 'string' ? body.request_id : headerId
    return new ApiError(response.status, {
      code: body.code,
      message: body.message,
      request_id: requestId,
    })
  }
  const text = typeof body === 'string' ? body.trim() : ''
  const message = text.length > 0 && text.length < 300 ? text : response.statusText
  return new ApiError(response.status, {
    code: `HTTP_${response.status}`,
    message: message || `the server answered ${response.status}`,
    request_id: headerId,
  })
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
