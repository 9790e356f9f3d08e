/** Test doubles: an EventSource driven by hand and a fetch whose SSE bodies stream on cue. */
import type { EventSourceLike } from '../lib/logStream'

export class FakeEventSource implements EventSourceLike {
  static instances: FakeEventSource[] = []
  readyState = 0
  onopen: ((ev: Event) => unknown) | null = null
  onerror: ((ev: Event) => unknown) | null = null
  closed = false
  readonly url: string
  private listeners = new Map<string, ((ev: MessageEvent<string>) => void)[]>()

  constructor(url: string) {
    this.url = url
    FakeEventSource.instances.push(this)
  }

  addEventListener(type: string, listener: (ev: MessageEvent<string>) => void): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener])
  }

  close(): void {
    this.closed = true
    this.readyState = 2
  }

  open(): void {
    this.readyState = 1
    this.onopen?.(new Event('open'))
  }

  emit(id: number, data: string, type = 'log'): void {
    const ev = new MessageEvent<string>(type, { data, lastEventId: String(id) })
    for (const l of this.listeners.get(type) ?? []) l(ev)
  }

  /** The link dropped; `closed` = the browser gave up (else it reconnects itself). */
  fail(closed: boolean): void {
    this.readyState = closed ? 2 : 0
    this.onerror?.(new Event('error'))
  }
}

export interface StreamCall {
  url: string
  headers: Record<string, string>
  /** Send SSE text to the client. */
  send(text: string): void
  /** End the body (the server closed the stream). */
  end(): void
  /** Break the body mid-stream. */
  fail(): void
  aborted: boolean
}

/** A fetch for the log stream: each call gives a StreamCall the test drives. */
export function streamingFetch(status = 200, errorBody?: unknown) {
  const calls: StreamCall[] = []
  const fetchImpl = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const headers: Record<string, string> = {}
    new Headers(init?.headers).forEach((v, k) => {
      headers[k] = v
    })
    let controller: ReadableStreamDefaultController<Uint8Array> | undefined
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        controller = c
      },
    })
    const call: StreamCall = {
      url: String(input),
      headers,
      aborted: false,
      send: (text) => controller?.enqueue(new TextEncoder().encode(text)),
      end: () => controller?.close(),
      fail: () => controller?.error(new TypeError('network error')),
    }
    init?.signal?.addEventListener('abort', () => {
      call.aborted = true
      try {
        controller?.error(new DOMException('aborted', 'AbortError'))
      } catch {
        // already closed
      }
    })
    calls.push(call)
    if (status !== 200) {
      return new Response(JSON.stringify(errorBody ?? {}), {
        status,
        headers: { 'content-type': 'application/json' },
      })
    }
    return new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream' } })
  }) as typeof fetch
  return { fetchImpl, calls }
}

export function sse(id: number, data: string): string {
  return `event: log\r\nid: ${id}\r\ndata: ${data}\r\n\r\n`
}

/** Let pending promises and stream reads run (setImmediate: not faked by the tests). */
export async function flush(times = 10): Promise<void> {
  for (let i = 0; i < times; i += 1) await new Promise((r) => setImmediate(r))
}

type Handler = (req: Request) => Response | Promise<Response>

export function jsonResponse(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } })
}

/** A fetch that answers by "METHOD /path" (query ignored), recording the requests. */
export function apiFetch(routes: Record<string, Handler>) {
  const requests: Request[] = []
  const fetchImpl = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const req = input instanceof Request ? input : new Request(new URL(String(input), 'http://localhost'), init)
    requests.push(req)
    const key = `${req.method} ${new URL(req.url).pathname}`
    const handler = routes[key]
    if (!handler) return jsonResponse(404, { code: 'NOT_FOUND', message: `no route ${key}`, request_id: 't' })
    return handler(req)
  }
  return { fetchImpl, requests }
}
