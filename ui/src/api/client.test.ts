import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { apiKey } from './apiKey'
import { api, unwrap } from './client'
import { ApiError, asApiError, retryAfterSeconds, toApiError } from './errors'

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json', ...headers },
  })
}

let seen: Request[] = []

function answer(response: () => Response | Promise<Response>): void {
  vi.stubGlobal(
    'fetch',
    vi.fn(async (input: Request) => {
      seen.push(input)
      return response()
    }),
  )
}

beforeEach(() => {
  seen = []
  apiKey.reset()
})
afterEach(() => {
  vi.unstubAllGlobals()
})

describe('toApiError', () => {
  it("keeps the API's code, message and request id", () => {
    const e = toApiError(new Response(null, { status: 409 }), {
      code: 'RUN_NOT_ACTIVE',
      message: "run 'r' is completed",
      request_id: 'req-1',
    })
    expect(e).toBeInstanceOf(ApiError)
    expect(e).toMatchObject({ status: 409, code: 'RUN_NOT_ACTIVE', message: "run 'r' is completed", request_id: 'req-1' })
  })

  it('gives an answer that is not an error body a code of its status', () => {
    const response = new Response(null, { status: 502, statusText: 'Bad Gateway', headers: { 'X-Request-ID': 'hdr-9' } })
    expect(toApiError(response, '<html>proxy error</html>')).toMatchObject({
      status: 502,
      code: 'HTTP_502',
      message: '<html>proxy error</html>',
      request_id: 'hdr-9',
    })
    expect(toApiError(response, undefined)).toMatchObject({ code: 'HTTP_502', message: 'Bad Gateway' })
  })

  it('keeps Retry-After (seconds or a date) as retryAfterS', () => {
    const busy = new Response(null, { status: 503, headers: { 'Retry-After': '7' } })
    expect(toApiError(busy, { code: 'SERVER_BUSY', message: 'full', request_id: 'r' }).retryAfterS).toBe(7)
    expect(retryAfterSeconds('Wed, 01 Jan 2025 10:00:30 GMT', Date.parse('2025-01-01T10:00:00Z'))).toBe(30)
    expect(retryAfterSeconds('soon')).toBeUndefined()
    expect(toApiError(new Response(null, { status: 500 }), undefined).retryAfterS).toBeUndefined()
  })

  it('turns a failed fetch into NETWORK_ERROR', () => {
    expect(asApiError(new TypeError('Failed to fetch'))).toMatchObject({ status: 0, code: 'NETWORK_ERROR' })
  })
})

describe('the typed client', () => {
  it('returns the data of a success', async () => {
    answer(() => json(200, { status: 'ready', redis: true, workers: 2, reason: null }))
    const health = await unwrap(api.GET('/readyz'))
    expect(health.workers).toBe(2)
    expect(new URL(seen[0]?.url ?? '').pathname).toBe('/readyz')
  })

  it('throws an ApiError with the body of an error answer', async () => {
    answer(() =>
      json(422, { code: 'CONFIG_INVALID', message: 'vocab_size: too small', request_id: 'abc' }, { 'X-Request-ID': 'abc' }),
    )
    const call = unwrap(
      api.POST('/tokenizers/train', {
        body: { method: 'bpe', vocab_size: 1, min_frequency: 2, corpus_path: 'c.txt', holdout_fraction: 0.1, seed: 1, options: {}, min_length: 1, tags: [] },
      }),
    )
    await expect(call).rejects.toMatchObject({ status: 422, code: 'CONFIG_INVALID', message: 'vocab_size: too small', request_id: 'abc' })
  })

  it('maps a network failure', async () => {
    answer(() => {
      throw new TypeError('fetch failed')
    })
    await expect(unwrap(api.GET('/runs'))).rejects.toMatchObject({ code: 'NETWORK_ERROR' })
  })

  it('sends the stored API key as X-Api-Key, and none when unset', async () => {
    answer(() => json(200, { data: [], count: 0 }))
    await unwrap(api.GET('/runs'))
    expect(seen[0]?.headers.get('X-Api-Key')).toBeNull()
    apiKey.save('  s3cret ')
    expect(localStorage.getItem('model-trainer.api-key')).toBe('s3cret')
    await unwrap(api.GET('/runs'))
    expect(seen[1]?.headers.get('X-Api-Key')).toBe('s3cret')
  })

  it('brings the key prompt back on a 401', async () => {
    answer(() => json(401, { code: 'UNAUTHORIZED', message: 'X-Api-Key is missing or wrong', request_id: 'r' }))
    expect(apiKey.state().needed).toBe(false)
    await expect(unwrap(api.GET('/runs'))).rejects.toMatchObject({ status: 401, code: 'UNAUTHORIZED' })
    expect(apiKey.state().needed).toBe(true)
  })
})
